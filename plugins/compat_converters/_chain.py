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

from ._figures import FIGURE_NAMES, fill_missing, from_mapping

Draft = dict[str, object]

#: Where legacy trainer files keep their optimizer, in order of preference.
_OPTIMIZER_KEYS = ("optimizer", "optimizer_state_dict", "optim", "opt")
_NO_FIGURES: dict[str, object] = dict.fromkeys(FIGURE_NAMES)


def _mapping(draft: Draft, key: str) -> Mapping[str, object]:
    value = draft.get(key)
    return value if isinstance(value, Mapping) else {}


def _is_optimizer_state(value: object) -> bool:
    return isinstance(value, Mapping) and "state" in value and "param_groups" in value


def _v1_trainer_state(state: Mapping[str, object]) -> dict[str, object]:
    """``{"optimizer": ..., "extra": {...}}``: the main optimizer and everything else."""
    key = next((name for name in _OPTIMIZER_KEYS if _is_optimizer_state(state.get(name))), None)
    if key is None:
        key = next((name for name, value in state.items() if _is_optimizer_state(value)), None)
    extra = {name: value for name, value in state.items() if name != key}
    return {"optimizer": state[key] if key is not None else None, "extra": extra}


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
    figures; the wrapped agent's weights are the state_dict.
    """
    metadata = _mapping(draft, "metadata")
    figures = from_mapping(metadata, time_keys=("train_time", "total_time"))
    return {**_draft(draft, figures, dict(metadata)), "trainer_state": None}


def upgrade_weights(draft: Draft) -> Draft:
    """A bare pickled agent (an ``nn.Module`` object) or a plain state_dict.

    The weights are all there is: no figures, no legacy metadata, no trainer state.
    """
    return {**_draft(draft, _NO_FIGURES, None), "trainer_state": None}


def upgrade_raw_dict(draft: Draft) -> Draft:
    """A raw dict checkpoint: ``model_state_dict`` / ``state_dict`` plus extras.

    The extras (counters, configs) become ``legacy_metadata`` and give the figures;
    optimizer states found next to the weights become the trainer state.
    """
    metadata = _mapping(draft, "metadata")
    figures = from_mapping(metadata, time_keys=("total_time", "train_time"))
    optimizers = _mapping(draft, "trainer_state")
    trainer = _v1_trainer_state(optimizers) if optimizers else None
    return {**_draft(draft, figures, dict(metadata)), "trainer_state": trainer}


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


def upgrade_optimizer(draft: Draft) -> Draft:
    """A pickled optimizer object saved on its own: its state_dict as the trainer state."""
    trainer = _v1_trainer_state(_mapping(draft, "trainer_state"))
    return {**_draft(draft, _NO_FIGURES, None), "trainer_state": trainer}


def figures_from_file_name(draft: Draft) -> Draft:
    """Legacy file names (``model_0005.pt``, ``<run>__e5__s1000__t12__sc9000.pt``,
    ``<run>:v5.pt``): epoch, agent_step, total_time and score the content lacks."""
    figures = fill_missing(_mapping(draft, "figures"), _mapping(draft, "file_name"))
    return {**draft, "format": "v1", "version": "1", "figures": figures}


INDEX: Mapping[tuple[str, str], Converter] = {
    ("policy_record", "0"): upgrade_policy_record,
    ("agent", "0"): upgrade_weights,
    ("state_dict", "0"): upgrade_weights,
    ("raw_dict", "0"): upgrade_raw_dict,
    ("trainer_state", "0"): upgrade_trainer_state,
    ("optimizer", "0"): upgrade_optimizer,
    ("draft", "1"): figures_from_file_name,
}
