"""Writing a finished draft as a v1 checkpoint, and proving it reads back bit for bit.

Weights go through ``CheckpointManager.save_agent`` (atomic, sidecar last) and trainer
state through ``save_trainer_state``; the trainer file is written first, so a committed
sidecar means the whole conversion is there. Each file is then reloaded with
``torch.load(weights_only=True)`` and compared tensor by tensor; a mismatch removes it.

One epoch has one trainer file, and several sources may feed it: a legacy record's tensors
that its state_dict leaves out, and the run's ``trainer_state.pt``. Each conversion merges
its part into the file under a lock, whatever the order, and records its provenance in a
list, so a re-run knows every source that is in.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from checkpoint import CheckpointInfo, CheckpointManager, ConvertedFrom, read_sidecar
from checkpoint._integrity import verify_file_pair
from checkpoint._naming import TRAINER_SUFFIX, stem
from checkpoint._storage import fsync_directory
from checkpoint._weights_only import read_weights_only
from checkpoint.errors import (
    CheckpointError,
    ConversionTargetError,
    ConversionVerificationError,
    UnconvertibleCheckpointError,
)
from compat.upgrade._bitwise import differences
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
    #: The same source was converted to the same place before: nothing was written.
    already_done: bool = False


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


def _read_trainer(path: Path) -> dict[str, Any] | None:
    """A trainer file already in the output, read without ``torch.load``; ``None`` if it is
    not one (missing, damaged or foreign)."""
    try:
        state = read_weights_only(path)
    except (CheckpointError, OSError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("extra"), dict):
        return None
    return state


def _provenances(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The provenance of every source merged into a trainer state (a list; one dict in
    files written before trainer states could merge)."""
    recorded = state["extra"].get(PROVENANCE_KEY)
    entries = recorded if isinstance(recorded, list) else [recorded]
    return [
        entry
        for entry in entries
        if isinstance(entry, dict) and {"path", "sha256", "format"} <= entry.keys()
    ]


def _origins(state: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {"sha256": str(entry["sha256"]), "format": str(entry["format"])}
        for entry in _provenances(state)
    ]


def trainer_provenance(path: Path) -> list[dict[str, str]]:
    """The ``sha256`` and ``format`` of every source a trainer file was converted from."""
    state = _read_trainer(path)
    return _origins(state) if state is not None else []


def _merged(existing: dict[str, Any], new: dict[str, Any], path: Path) -> dict[str, Any]:
    """``new`` merged into ``existing``, the parts of one epoch's training state from two
    sources (a record's leftover tensors, the run's trainer state): mappings merge key by
    key, and a value both hold must be equal. Anything else means two sources claim the
    same epoch: ``ConversionTargetError``. Provenances append."""
    merged = {
        part: _merge_values(existing.get(part), new[part], path, where=f".{part}")
        for part in ("optimizer", "extra")
    }
    origins = [*_provenances(existing), *_provenances(new)]
    merged["extra"][PROVENANCE_KEY] = sorted(origins, key=lambda origin: str(origin["path"]))  # type: ignore[index]
    return merged


def _merge_values(old: object, new: object, path: Path, where: str) -> object:
    if where == ".extra." + PROVENANCE_KEY or new is None:
        return old
    if old is None:
        return new
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        keys = sorted({*old, *new}, key=str)  # the same file whichever source came first
        return {
            key: _merge_values(old.get(key), new.get(key), path, f"{where}.{key}") for key in keys
        }
    if differences(old, new):
        raise ConversionTargetError(
            f"already holds the trainer state of another file, with a different "
            f"{where.lstrip('.') or 'state'}; convert into another directory or under "
            "another run name",
            path,
        )
    return old


@contextmanager
def _merging(directory: Path) -> Iterator[None]:
    """Serialise read-merge-write of trainer files in ``directory`` across processes.

    An ``flock`` on the directory itself: the manager's own lock file is taken inside
    ``save_trainer_state``, and a second lock on it from this process would wait forever.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _verify(problems: list[str], source: Path) -> None:
    if problems:
        raise ConversionVerificationError(
            f"the converted checkpoint read back differs ({'; '.join(problems[:5])}); nothing "
            "was committed: report this with the file, and keep using the source",
            source,
        )


def _verify_weights(written: Path, *, expected: Mapping[str, torch.Tensor], source: Path) -> None:
    """The written weights, read back before they are committed, equal the draft's.

    Read with the manager's own weights-only reader, which rebuilds every tensor from the
    archive's bytes (as the trainer state is loaded): on a small file it takes half the time
    of ``torch.load(weights_only=True)``, and a test loads converted files with the latter."""
    _verify(differences(expected, read_weights_only(written)), source)


def _verify_trainer(written: Path, *, expected: Mapping[str, object], source: Path) -> None:
    reloaded = read_weights_only(written)
    assert isinstance(reloaded, dict)  # the manager wrote it a moment ago
    _verify(differences(expected, {key: reloaded[key] for key in expected}), source)


def _write_trainer(
    manager: CheckpointManager,
    path: Path,
    trainer: Mapping[str, object],
    figures: Mapping[str, Any],
    provenance: ConvertedFrom,
    source: Path,
) -> Path:
    extra = {**_mapping(trainer, "extra"), PROVENANCE_KEY: [provenance.model_dump(mode="json")]}
    new = weights_only_plain({"optimizer": trainer.get("optimizer"), "extra": extra})
    assert isinstance(new, dict)
    manager.run_dir.mkdir(parents=True, exist_ok=True)
    with _merging(manager.run_dir):
        existing = _read_trainer(path)
        if existing is not None and provenance.sha256 in {o["sha256"] for o in _origins(existing)}:
            return path  # this source is already in (an interrupted run is resumed)
        state = new if existing is None else _merged(existing, new, path)
        agent_step = max(figures.get("agent_step") or 0, (existing or {}).get("agent_step") or 0)
        expected = {key: state[key] for key in ("optimizer", "extra")}
        written = manager.save_trainer_state(
            state["optimizer"],
            figures["epoch"],
            agent_step,
            state["extra"],
            verify=functools.partial(_verify_trainer, expected=expected, source=source),
        )
    return written


def _sidecar_values(
    draft: Mapping[str, object], figures: Mapping[str, Any], source: Path
) -> tuple[dict[str, object], object]:
    """The sidecar's metrics and legacy metadata as plain data, made before anything is
    written: metadata a sidecar cannot keep fails the conversion with nothing on disk."""
    numbers = {key: figures.get(key) for key in ("agent_step", "total_time", "score")}
    metrics = {**_mapping(draft, "metrics"), **{k: v for k, v in numbers.items() if v is not None}}
    try:
        plain_metrics, legacy = yaml_plain(metrics, draft.get("legacy_metadata"))
    except ValueError as exc:
        raise UnconvertibleCheckpointError(
            f"cannot be converted: {exc}; load it with compat.load and save what you need",
            source,
        ) from exc
    assert isinstance(plain_metrics, dict)
    return plain_metrics, legacy


def _write_weights(
    manager: CheckpointManager,
    state: dict[str, torch.Tensor],
    agent: torch.nn.Module | None,
    values: tuple[dict[str, object], object],
    epoch: int,
    provenance: ConvertedFrom,
    source: Path,
) -> CheckpointInfo:
    metrics, legacy = values
    return manager.save_agent(
        agent if agent is not None else state,
        epoch,
        metrics,
        provenance=provenance,
        legacy_metadata=legacy,
        verify=functools.partial(_verify_weights, expected=state, source=source),
    )


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
    figures["epoch"] = output_epoch(draft, target)
    trainer = draft.get("trainer_state")
    if not state and not isinstance(trainer, Mapping):
        raise UnconvertibleCheckpointError(
            "holds neither weights nor trainer state, so there is nothing to convert", source
        )
    done = _already_done(target, figures["epoch"], provenance, has_weights=bool(state))
    if done is not None:
        return done
    values = _sidecar_values(draft, figures, source) if state else None
    manager = _manager(target.run_dir, target.run_name)
    if state:
        manager._refuse_existing(figures["epoch"])  # before any file is written
    trainer_file = None
    if isinstance(trainer, Mapping):
        path = trainer_path(target, target.run_name, figures["epoch"])
        trainer_file = _write_trainer(manager, path, trainer, figures, provenance, source)
    weights = (
        _write_weights(manager, state, agent, values, figures["epoch"], provenance, source)
        if values is not None
        else None
    )
    written = Written(target.run_name, figures["epoch"], weights, trainer_file)
    return _renamed(written, target) if target.stem is not None else written


def output_epoch(draft: Mapping[str, object], target: Target) -> int:
    """The epoch ``write_v1`` gives ``draft``'s outputs: the target's, else the draft's,
    else 0 for weights and the target's ``trainer_epoch`` for a trainer state alone."""
    epoch = target.epoch if target.epoch is not None else _mapping(draft, "figures").get("epoch")
    if isinstance(epoch, int) and not isinstance(epoch, bool):
        return epoch
    return 0 if _mapping(draft, "state_dict") else target.trainer_epoch


def _outputs(target: Target, epoch: int) -> tuple[Path, Path, Path]:
    """(weights, sidecar, trainer file) a conversion to ``target`` at ``epoch`` writes."""
    base = target.stem if target.stem is not None else stem(target.run_name, epoch)
    folder = target.run_dir
    return folder / f"{base}.pt", folder / f"{base}.yaml", folder / f"{base}{TRAINER_SUFFIX}"


def _already_done(
    target: Target, epoch: int, provenance: ConvertedFrom, *, has_weights: bool
) -> Written | None:
    """The outputs of an earlier conversion of the same source to the same place, verified,
    or ``None``. A re-run is then a no-op that says so, not an "already committed" error.
    A source with weights (``has_weights``) is done only once they are: its trainer part is written
    first, and a run stopped between the two must still write them."""
    weights, sidecar, trainer = _outputs(target, epoch)
    if not sidecar.exists() and not trainer.exists():
        return None
    origins = {origin["sha256"] for origin in trainer_provenance(trainer)}
    try:
        recorded = read_sidecar(sidecar).converted_from if sidecar.exists() else None
        weights_done = recorded is not None and recorded.sha256 == provenance.sha256
        info = verify_file_pair(weights, sidecar) if weights_done else None
    except (CheckpointError, OSError):
        return None
    if info is None and (has_weights or provenance.sha256 not in origins):
        return None
    return Written(
        target.run_name,
        epoch,
        info,
        trainer if provenance.sha256 in origins else None,
        already_done=True,
    )


def _renamed(written: Written, target: Target) -> Written:
    """The committed files under the caller's stem: weights and trainer first, sidecar last
    (it is what makes the weights a checkpoint)."""
    weights, sidecar, trainer = _outputs(target, written.epoch)
    trainer_file = None
    if written.trainer is not None:
        trainer_file = written.trainer.replace(trainer)
    info = None
    if written.weights is not None:
        assert written.weights.sidecar_path is not None
        written.weights.path.replace(weights)
        written.weights.sidecar_path.replace(sidecar)
        fsync_directory(target.run_dir)
        info = dataclasses.replace(written.weights, path=weights)
    return dataclasses.replace(written, weights=info, trainer=trainer_file)
