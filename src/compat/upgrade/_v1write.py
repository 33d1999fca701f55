"""Writing a finished draft as a v1 checkpoint, and proving it reads back bit for bit.

Weights go through ``CheckpointManager.save_agent`` (atomic, sidecar last) and trainer
state through ``save_trainer_state``; the trainer file is written first, so a committed
sidecar means the whole conversion is there. Each file is then reloaded with
``torch.load(weights_only=True)`` and compared tensor by tensor; a mismatch removes it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from checkpoint import CheckpointInfo, CheckpointManager, ConvertedFrom
from checkpoint._naming import TRAINER_SUFFIX, stem
from checkpoint.errors import (
    CheckpointError,
    ConversionTargetError,
    ConversionVerificationError,
    UnconvertibleCheckpointError,
)
from compat.engine._safe import load
from compat.upgrade._bitwise import differences
from compat.upgrade._draft import sha256_of
from compat.upgrade._plainvalues import weights_only_plain, yaml_plain
from compat.upgrade._targets import Target

#: The key of a trainer file's ``extra`` that holds its provenance (trainer-only sources).
PROVENANCE_KEY = "converted_from"


@dataclass(frozen=True)
class Written:
    """What one conversion wrote: the weights' info (if any) and the trainer file (if any)."""

    run_name: str
    epoch: int
    weights: CheckpointInfo | None
    trainer: Path | None


def _mapping(draft: Mapping[str, object], key: str) -> Mapping[str, Any]:
    value = draft.get(key)
    return value if isinstance(value, Mapping) else {}


def _state_dict(draft: Mapping[str, object], source: Path) -> dict[str, torch.Tensor]:
    state = _mapping(draft, "state_dict")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise UnconvertibleCheckpointError(
                f"the converted state_dict holds {type(value).__name__} under {key!r}; "
                "a converter plugin produced it: report it, or disable that plugin",
                source,
            )
    return dict(state)


@functools.lru_cache(maxsize=64)
def _manager(run_dir: Path, run_name: str) -> CheckpointManager:
    """One manager per run directory and process: each one sweeps stale temp files when
    built, which would race with another process's writes if built per conversion."""
    return CheckpointManager(run_dir, run_name)


def trainer_path(target: Target, run_name: str, epoch: int) -> Path:
    return target.run_dir / f"{stem(run_name, epoch)}{TRAINER_SUFFIX}"


def trainer_provenance(path: Path) -> dict[str, str]:
    """The ``sha256`` and ``format`` of the source a trainer file was converted from.

    The file is whatever sits in the output directory, so it is read by the safe engine,
    not by ``torch.load`` (whose ``weights_only`` can be bypassed before torch 2.6).
    """
    try:
        state = load(path).root
        origin = state["extra"][PROVENANCE_KEY]  # type: ignore[index]
        return {"sha256": str(origin["sha256"]), "format": str(origin["format"])}
    except (CheckpointError, KeyError, TypeError, ValueError):
        return {}  # not one of ours, damaged or refused


def _fail_verification(paths: list[Path], problems: list[str], source: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
    raise ConversionVerificationError(
        f"the converted checkpoint read back differs ({'; '.join(problems[:5])}); it was "
        "removed: report this with the file, and keep using the source",
        source,
    )


def _write_trainer(
    manager: CheckpointManager,
    path: Path,
    trainer: Mapping[str, object],
    figures: Mapping[str, Any],
    provenance: ConvertedFrom,
    source: Path,
) -> Path:
    extra = dict(_mapping(trainer, "extra"))
    extra[PROVENANCE_KEY] = provenance.model_dump(mode="json")
    state = weights_only_plain({"optimizer": trainer.get("optimizer"), "extra": extra})
    assert isinstance(state, dict)
    if path.exists() and trainer_provenance(path).get("sha256") != provenance.sha256:
        raise ConversionTargetError(
            "already holds the trainer state of another file; "
            "convert into another directory or under another run name",
            path,
        )
    written = manager.save_trainer_state(
        state["optimizer"], figures["epoch"], figures.get("agent_step") or 0, state["extra"]
    )
    reloaded = torch.load(written, map_location="cpu", weights_only=True)
    problems = differences(state, {key: reloaded[key] for key in ("optimizer", "extra")})
    if problems:
        _fail_verification([written], problems, source)
    return written


def _write_weights(
    manager: CheckpointManager,
    state: dict[str, torch.Tensor],
    agent: torch.nn.Module | None,
    draft: Mapping[str, object],
    figures: Mapping[str, Any],
    provenance: ConvertedFrom,
    source: Path,
) -> CheckpointInfo:
    numbers = {key: figures.get(key) for key in ("agent_step", "total_time", "score")}
    metadata = {**_mapping(draft, "metrics"), **{k: v for k, v in numbers.items() if v is not None}}
    info = manager.save_agent(
        agent if agent is not None else state,
        figures["epoch"],
        yaml_plain(metadata),  # type: ignore[arg-type]
        provenance=provenance,
        legacy_metadata=yaml_plain(draft.get("legacy_metadata")),
    )
    problems = [] if sha256_of(info.path) == info.metadata["sha256"] else ["sha256 differs"]
    reloaded = torch.load(info.path, map_location="cpu", weights_only=True)
    problems += differences(state, reloaded)
    if problems:
        assert info.sidecar_path is not None
        _fail_verification([info.sidecar_path, info.path], problems, source)
    return info


def write_v1(
    draft: Mapping[str, object],
    target: Target,
    provenance: ConvertedFrom,
    source: Path,
    agent: torch.nn.Module | None = None,
) -> Written:
    """Write ``draft`` (at v1) to ``target``; verified before this returns.

    ``agent`` is the source's agent rebuilt as a current class (a rename mapped it): saved
    as the module, the sidecar records its ``architecture`` if that class is registered.
    """
    state = _state_dict(draft, source)
    figures = dict(_mapping(draft, "figures"))
    epoch = target.epoch if target.epoch is not None else figures.get("epoch")
    figures["epoch"] = epoch if isinstance(epoch, int) else (0 if state else target.trainer_epoch)
    trainer = draft.get("trainer_state")
    if not state and not isinstance(trainer, Mapping):
        raise UnconvertibleCheckpointError(
            "holds neither weights nor trainer state, so there is nothing to convert", source
        )
    manager = _manager(target.run_dir, target.run_name)
    trainer_file = None
    if isinstance(trainer, Mapping):
        path = trainer_path(target, target.run_name, figures["epoch"])
        trainer_file = _write_trainer(manager, path, trainer, figures, provenance, source)
    weights = (
        _write_weights(manager, state, agent, draft, figures, provenance, source) if state else None
    )
    return Written(target.run_name, figures["epoch"], weights, trainer_file)
