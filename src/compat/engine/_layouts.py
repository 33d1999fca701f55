"""The built-in ``layouts`` plugin: checkpoints that libraries store as several files.

A transformers ``Trainer`` writes a ``checkpoint-N/`` folder; Stable-Baselines3's
``model.save`` a zip; Metta (Oct 2025 on) a ``<run>:vN.mpt`` zip, then a ``<run>:vN/``
bundle directory or its ``<run>:vN.zip`` copy. Each is one checkpoint: the engine reads
every member with its own safe readers and combines them (``_bundles``). These layouts
only name the members.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import ClassVar, Final

from compat.host._hookspecs import BundleMember, Layout, hookimpl

__all__ = [
    "MettaBundle",
    "MettaPickledPolicyArtifact",
    "MettaPolicyArtifact",
    "StableBaselines3",
    "TransformersTrainer",
]

_CHECKPOINT: Final = "checkpoint"
_JSON: Final = "json"
_TEXT: Final = "text"


class TransformersTrainer:
    """A transformers ``Trainer`` ``checkpoint-N/``: the model (``pytorch_model.bin`` or
    ``model.safetensors``), ``optimizer.pt``, ``scheduler.pt``, ``rng_state[_K].pth``,
    ``scaler.pt``, ``trainer_state.json``, ``training_args.bin`` and the model's config."""

    name = "transformers_trainer"
    _WEIGHTS = ("model.safetensors", "pytorch_model.bin")
    _TRAINING: ClassVar[dict[str, str]] = {
        "optimizer.pt": "optimizer",
        "scheduler.pt": "scheduler",
        "scaler.pt": "scaler",
    }
    _RNG = re.compile(r"rng_state(?:_(\d+))?\.pth")

    def members(self, names: Collection[str]) -> Mapping[str, BundleMember] | None:
        weights = next((name for name in self._WEIGHTS if name in names), None)
        if weights is None or "trainer_state.json" not in names:
            return None
        found = {weights: BundleMember("state_dict", _CHECKPOINT)}
        for name in names:
            rng = self._RNG.fullmatch(name)
            if name in self._TRAINING:
                found[name] = BundleMember(self._TRAINING[name], _CHECKPOINT)
            elif rng is not None:
                found[name] = BundleMember(f"rng_{rng[1]}" if rng[1] else "rng", _CHECKPOINT)
            elif name == "training_args.bin":
                found[name] = BundleMember("training_args", _CHECKPOINT)
            elif name.endswith(".json") and not name.endswith(".index.json"):
                found[name] = BundleMember(name.removesuffix(".json"), _JSON)
        return found


class StableBaselines3:
    """A Stable-Baselines3 ``model.save()`` zip: ``data`` (JSON with base64 pickles of the
    spaces, schedules and buffers), ``policy.pth`` (the weights), one ``*.pth`` per
    optimizer, ``pytorch_variables.pth`` and two version notes."""

    name = "stable_baselines3"

    def members(self, names: Collection[str]) -> Mapping[str, BundleMember] | None:
        if "data" not in names or "policy.pth" not in names:
            return None
        found = {"data": BundleMember("data", "pickled_json")}
        for name in names:
            if name == "policy.pth":
                found[name] = BundleMember("state_dict", _CHECKPOINT)
            elif name.endswith(".pth"):
                found[name] = BundleMember(name.removesuffix(".pth"), _CHECKPOINT)
            elif name in ("_stable_baselines3_version", "system_info.txt"):
                found[name] = BundleMember(name.strip("_").removesuffix(".txt"), _TEXT)
        return found


class MettaPolicyArtifact:
    """A Metta ``<run>:v{epoch}.mpt`` (Oct 2025 to Jan 2026; ``metta/rl/policy_artifact.py``,
    later ``mettagrid/policy/mpt_artifact.py``): a zip of ``weights.safetensors`` (the
    policy's ``state_dict()``) and ``modelarchitecture.txt`` (the policy architecture as
    ``<module>.<Config>(key=value, ...)`` text)."""

    name = "metta_mpt"

    def members(self, names: Collection[str]) -> Mapping[str, BundleMember] | None:
        if "weights.safetensors" not in names or "modelarchitecture.txt" not in names:
            return None
        return {
            "weights.safetensors": BundleMember("state_dict", _CHECKPOINT),
            "modelarchitecture.txt": BundleMember("architecture", _TEXT),
        }


class MettaPickledPolicyArtifact:
    """The other ``.mpt`` variant Metta's ``save_policy_artifact_pt`` wrote: a zip whose only
    member is ``policy.pt``, a whole policy ``torch.save``d into it (read by the inert
    engine like any other pickle)."""

    name = "metta_mpt_pickled"

    def members(self, names: Collection[str]) -> Mapping[str, BundleMember] | None:
        if set(names) != {"policy.pt"}:
            return None
        return {"policy.pt": BundleMember("state_dict", _CHECKPOINT)}


class MettaBundle:
    """A Metta checkpoint bundle (Jan 2026 on; ``metta/rl/checkpoint_manager.py``): the
    directory ``<run>:v{epoch}/`` holding ``weights.safetensors`` and ``policy_spec.json``
    (``class_path``, ``data_path``, ``init_kwargs``, ``setup_script``; written last), or
    its object-storage copy ``<run>:v{epoch}.zip``, which may also hold that epoch's
    ``trainer_state.pt``."""

    name = "metta_bundle"

    def members(self, names: Collection[str]) -> Mapping[str, BundleMember] | None:
        if "weights.safetensors" not in names or "policy_spec.json" not in names:
            return None
        found = {
            "weights.safetensors": BundleMember("state_dict", _CHECKPOINT),
            "policy_spec.json": BundleMember("policy_spec", _JSON),
        }
        if "trainer_state.pt" in names:
            found["trainer_state.pt"] = BundleMember("trainer_state", _CHECKPOINT)
        return found


@hookimpl
def compat_checkpoint_layouts() -> Iterable[Layout]:
    return [
        TransformersTrainer(),
        StableBaselines3(),
        MettaPolicyArtifact(),
        MettaPickledPolicyArtifact(),
        MettaBundle(),
    ]
