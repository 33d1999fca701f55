"""The converter chain: one pure upgrade step per legacy format, keyed by (format, version).

``compat.convert`` loads a file with the safe engine and hands the chain a draft at
``(<detected format>, "0")``: ``state_dict``, ``metadata``, ``trainer_state``,
``file_name`` (what a legacy name tells) and ``legacy_classes``. Every format first
becomes a ``("draft", "1")`` with ``figures``, ``legacy_metadata`` and a v1-shaped
``trainer_state``; one last step fills figures from the file name and yields
``("v1", "1")``. Steps never mutate their input: each returns a new dict.
"""

from __future__ import annotations

from collections.abc import Mapping

from compat import Converter

from ._figures import FIGURE_NAMES, count, fill_missing, from_mapping, selectable_metrics

Draft = dict[str, object]

#: Where legacy trainer files keep their optimizer, in order of preference.
_OPTIMIZER_KEYS = ("optimizer", "optimizer_state", "optimizer_state_dict", "optim", "opt")
_NO_FIGURES: dict[str, object] = dict.fromkeys(FIGURE_NAMES)


def _mapping(draft: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = draft.get(key)
    return value if isinstance(value, Mapping) else {}


def _is_optimizer_state(value: object) -> bool:
    return isinstance(value, Mapping) and "state" in value and "param_groups" in value


def _main_optimizer(state: Mapping[str, object]) -> tuple[str | None, object]:
    """The key of the main optimizer's state and that state: a preferred name, any value
    of its shape, or the first of a list of them (Lightning's ``optimizer_states``)."""
    key = next((name for name in _OPTIMIZER_KEYS if _is_optimizer_state(state.get(name))), None)
    if key is None:
        key = next((name for name, value in state.items() if _is_optimizer_state(value)), None)
    if key is not None:
        return key, state[key]
    for value in state.values():
        if isinstance(value, list) and value and _is_optimizer_state(value[0]):
            return None, value[0]  # the list stays in extra whole; its tensors are shared
    return None, None


def _v1_trainer_state(state: Mapping[str, object]) -> dict[str, object] | None:
    """``{"optimizer": ..., "extra": {...}}``: the main optimizer and everything else
    (schedulers, RNG states, counters, other optimizers); ``None`` for no state at all."""
    if not state:
        return None
    key, optimizer = _main_optimizer(state)
    extra = {name: value for name, value in state.items() if name != key}
    return {"optimizer": optimizer, "extra": extra}


def _draft(draft: Draft, figures: Mapping[str, object], legacy_metadata: object) -> Draft:
    return {
        **draft,
        "format": "draft",
        "version": "1",
        "figures": dict(figures),
        "legacy_metadata": legacy_metadata,
    }


def upgrade_policy_record(draft: Draft) -> Draft:
    """PolicyRecord pickles (``metta.agent.policy_record.PolicyRecord`` and look-alikes).

    The record's metadata (a ``PolicyMetadata`` dict subclass) becomes ``legacy_metadata``;
    its ``epoch``, ``agent_step``, ``score`` and ``train_time`` (as ``total_time``) become
    figures; its other numbers (``eval_scores``, ``reward``, ``generation``...) the
    selectable ``metrics``; the wrapped agent's weights are the state_dict.
    """
    metadata = _mapping(draft, "metadata")
    figures = from_mapping(metadata, time_keys=("train_time", "total_time"))
    trainer = _v1_trainer_state(_mapping(draft, "trainer_state"))
    return {
        **_draft(draft, figures, dict(metadata)),
        "metrics": selectable_metrics(metadata),
        "trainer_state": trainer,
    }


def upgrade_weights(draft: Draft) -> Draft:
    """A bare pickled agent (an ``nn.Module`` object) or a plain state_dict.

    No figures and no legacy metadata. A pickled agent's tensors that its state_dict
    leaves out (non-persistent buffers, an attached trainer's state) become the trainer
    state's ``extra``.
    """
    trainer = _v1_trainer_state(_mapping(draft, "trainer_state"))
    return {**_draft(draft, _NO_FIGURES, None), "trainer_state": trainer}


def upgrade_raw_dict(draft: Draft) -> Draft:
    """A raw dict checkpoint: ``model_state_dict`` / ``state_dict`` plus extras.

    The extras (counters, configs) become ``legacy_metadata`` and give the figures, and
    their other numbers (scores, rewards) the selectable ``metrics``; optimizer states
    found next to the weights become the trainer state.
    """
    metadata = _mapping(draft, "metadata")
    figures = from_mapping(metadata, time_keys=("total_time", "train_time"))
    trainer = _v1_trainer_state(_mapping(draft, "trainer_state"))
    return {
        **_draft(draft, figures, dict(metadata)),
        "metrics": selectable_metrics(metadata),
        "trainer_state": trainer,
    }


def upgrade_trainer_state(draft: Draft) -> Draft:
    """A trainer-state file (``trainer_state.pt``): optimizer state plus counters.

    The optimizer (a state_dict, or a pickled optimizer object the engine turned into
    one) becomes the v1 trainer state's ``optimizer``; counters and extras its ``extra``;
    ``epoch`` and ``agent_step`` become figures. There are no weights.
    """
    metadata = _mapping(draft, "metadata")
    figures = from_mapping(metadata, time_keys=("total_time", "train_time"))
    trainer = _v1_trainer_state(_mapping(draft, "trainer_state"))
    return {**_draft(draft, figures, dict(metadata)), "trainer_state": trainer}


def upgrade_training_part(draft: Draft) -> Draft:
    """One part of a training state saved on its own: an optimizer (object or state_dict,
    e.g. transformers' ``optimizer.pt``), an LR scheduler's state_dict (``scheduler.pt``)
    or RNG states (``rng_state.pth``). It becomes the trainer state, with no weights."""
    trainer = _v1_trainer_state(_mapping(draft, "trainer_state"))
    return {**_draft(draft, _NO_FIGURES, None), "trainer_state": trainer}


def upgrade_lightning(draft: Draft) -> Draft:
    """A PyTorch Lightning ``.ckpt`` (``ModelCheckpoint``): ``state_dict`` plus training state.

    ``epoch`` and ``global_step`` become the figures (``global_step`` as ``agent_step``);
    ``hyper_parameters`` and the other plain values become ``legacy_metadata``;
    ``optimizer_states``, ``lr_schedulers``, ``callbacks`` and ``loops`` the trainer state.
    """
    metadata = _mapping(draft, "metadata")
    figures = from_mapping(
        {"epoch": metadata.get("epoch"), "agent_step": metadata.get("global_step")},
        time_keys=(),
    )
    trainer = _v1_trainer_state(_mapping(draft, "trainer_state"))
    return {**_draft(draft, figures, dict(metadata)), "trainer_state": trainer}


def figures_from_file_name(draft: Draft) -> Draft:
    """Legacy file names (``model_0005.pt``, ``<run>__e5__s1000__t12__sc9000.pt``,
    ``<run>:v5.pt``, ``<run>:v5.mpt``, ``<run>:v5/``, ``<run>:v5.zip``): epoch, agent_step,
    total_time and score the content lacks. A Sep 2025 name's ``sc`` is
    ``int(score * 10000)``: ``sc9000`` is a score of 0.9."""
    figures = fill_missing(_mapping(draft, "figures"), _mapping(draft, "file_name"))
    return {**draft, "format": "v1", "version": "1", "figures": figures}


def upgrade_transformers_trainer(draft: Draft) -> Draft:
    """A transformers ``Trainer`` ``checkpoint-N/`` folder (or a zip of one).

    ``trainer_state.json``'s ``global_step`` is N: it becomes both the epoch and
    ``agent_step``; ``best_metric`` the score. The model config, ``trainer_state.json`` and
    ``training_args.bin`` become ``legacy_metadata``; the optimizer, scheduler, scaler and
    RNG states the trainer state.
    """
    metadata = _mapping(draft, "metadata")
    counters = _mapping(metadata, "trainer_state")
    step = counters.get("global_step")
    figures = from_mapping(
        {"epoch": step, "agent_step": step, "score": counters.get("best_metric")}, time_keys=()
    )
    trainer = _v1_trainer_state(_mapping(draft, "trainer_state"))
    return {**_draft(draft, figures, dict(metadata)), "trainer_state": trainer}


def upgrade_stable_baselines3(draft: Draft) -> Draft:
    """A Stable-Baselines3 ``model.save()`` zip.

    ``data``'s ``_n_updates`` becomes the epoch and ``num_timesteps`` the ``agent_step``;
    ``data`` (spaces, schedules, hyperparameters) the ``legacy_metadata``; the optimizers,
    ``pytorch_variables`` and the arrays in ``data`` (last observation, space bounds) the
    trainer state.
    """
    metadata = _mapping(draft, "metadata")
    data = _mapping(metadata, "data")
    figures = from_mapping(
        {"epoch": data.get("_n_updates"), "agent_step": data.get("num_timesteps")}, time_keys=()
    )
    trainer = _v1_trainer_state(_mapping(draft, "trainer_state"))
    return {**_draft(draft, figures, dict(metadata)), "trainer_state": trainer}


def upgrade_metta_policy_artifact(draft: Draft) -> Draft:
    """A Metta ``<run>:v{epoch}.mpt`` of Oct 2025 (``metta/rl/policy_artifact.py``,
    6ddad6cebc; ``mettagrid/policy/mpt_artifact.py`` from 793e02d3fd): a zip of
    ``weights.safetensors`` and ``modelarchitecture.txt``.

    The safetensors are the state_dict (in the file's header order: safetensors sorts
    names, so the policy's own order was not kept). The architecture text is kept
    verbatim as ``legacy_metadata["architecture"]``. The zip holds no figures: the epoch
    comes from the name, and agent_step is only in the run's ``trainer_state.pt``.
    """
    metadata = _mapping(draft, "metadata")
    legacy = {"architecture": metadata["architecture"]} if "architecture" in metadata else None
    trainer = _v1_trainer_state(_mapping(draft, "trainer_state"))
    return {**_draft(draft, _NO_FIGURES, legacy), "trainer_state": trainer}


def upgrade_metta_pickled_policy_artifact(draft: Draft) -> Draft:
    """The ``.mpt`` variant of Metta's ``save_policy_artifact_pt`` (6ddad6cebc, Oct 2025; no
    longer read from 793e02d3fd): a zip whose one member ``policy.pt`` is a whole policy
    pickled with ``torch.save``, read by the inert engine (its classes never imported).

    The policy's ``state_dict()`` is the state_dict; tensors it leaves out become the
    trainer state's ``extra``. The epoch comes from the name.
    """
    trainer = _v1_trainer_state(_mapping(draft, "trainer_state"))
    return {**_draft(draft, _NO_FIGURES, None), "trainer_state": trainer}


def upgrade_metta_bundle(draft: Draft) -> Draft:
    """A Metta checkpoint bundle of Jan 2026 (7eb0994b9c; 47b0d081ad): the directory
    ``<run>:v{epoch}/`` or its object-storage copy ``<run>:v{epoch}.zip``.

    ``weights.safetensors`` is the state_dict; ``policy_spec.json`` (the policy class path
    and its ``init_kwargs``, architecture spec included) is kept as
    ``legacy_metadata["policy_spec"]``. A zip's ``trainer_state.pt`` (from 47b0d081ad)
    becomes the trainer state of the same epoch, its ``optimizer`` the optimizer and the
    rest (``agent_step``, ``avg_reward``, ``stopwatch_state``, ``curriculum_state``,
    ``loss_states``) the extra, and gives the agent_step. The epoch comes from the name; a
    trainer state that says another epoch gives no figure.
    """
    metadata = _mapping(draft, "metadata")
    state = dict(_mapping(draft, "trainer_state"))
    member = state.pop("trainer_state", None)
    trainer_state = {**member, **state} if isinstance(member, Mapping) else state
    named = count(_mapping(draft, "file_name").get("epoch"))
    own = count(trainer_state.get("epoch"))
    figures = dict(_NO_FIGURES)
    if own is not None and named in (None, own):
        figures.update(epoch=own, agent_step=count(trainer_state.get("agent_step")))
    legacy = {"policy_spec": metadata["policy_spec"]} if "policy_spec" in metadata else None
    return {**_draft(draft, figures, legacy), "trainer_state": _v1_trainer_state(trainer_state)}


INDEX: Mapping[tuple[str, str], Converter] = {
    ("policy_record", "0"): upgrade_policy_record,
    ("agent", "0"): upgrade_weights,
    ("state_dict", "0"): upgrade_weights,
    ("raw_dict", "0"): upgrade_raw_dict,
    ("trainer_state", "0"): upgrade_trainer_state,
    ("optimizer", "0"): upgrade_training_part,
    ("scheduler", "0"): upgrade_training_part,
    ("rng_state", "0"): upgrade_training_part,
    ("unknown", "0"): upgrade_training_part,
    ("lightning", "0"): upgrade_lightning,
    ("transformers_trainer", "0"): upgrade_transformers_trainer,
    ("stable_baselines3", "0"): upgrade_stable_baselines3,
    ("metta_mpt", "0"): upgrade_metta_policy_artifact,
    ("metta_mpt_pickled", "0"): upgrade_metta_pickled_policy_artifact,
    ("metta_bundle", "0"): upgrade_metta_bundle,
    ("draft", "1"): figures_from_file_name,
}
