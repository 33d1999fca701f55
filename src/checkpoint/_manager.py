"""`CheckpointManager`: save, list, select, load and retire one run's checkpoints."""

from __future__ import annotations

import builtins
import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import torch
from packaging.version import Version
from pydantic import ValidationError
from torch import nn

from ._architecture import architecture_of, rebuild
from ._catalog import scan
from ._info import CheckpointInfo
from ._integrity import check_size, verify_checkpoint
from ._naming import (
    SIDECAR_SUFFIX,
    TRAINER_SUFFIX,
    WEIGHTS_SUFFIX,
    FileRole,
    parse_v1_name,
    stem,
    validate_epoch,
    validate_run_name,
)
from ._plain import plain_data, require_tensors, require_weights_only_storable
from ._selection import Mode, newest_first, rank, retention_policy
from ._sidecar import (
    RECOMPUTED_METADATA_KEYS,
    ConvertedFrom,
    Sidecar,
    dump_sidecar,
    read_sidecar,
)
from ._storage import (
    describe_os_error,
    directory_lock,
    fsync_directory,
    save_hashed,
    staged,
    sweep_stale_temp_files,
)
from ._weights_only import read_weights_only
from .errors import (
    CheckpointCorruptError,
    CheckpointNotFoundError,
    InvalidCheckpointRequestError,
)

Strategy = Literal["latest", "best", "all"]
WEIGHTS_ONLY_BYPASSABLE = Version(torch.__version__) < Version("2.6")
"""Before torch 2.6, ``weights_only=True`` could be bypassed by a crafted file (CVE-2025-32434)."""
TRAINER_STATE_VERSION = 1
_LOAD_ERRORS = (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError)


@dataclass(frozen=True, slots=True)
class CheckpointOptions:
    """Everything that tunes a manager, in one typed object."""

    keep_last: int | None = None
    keep_best: int | None = None
    metric: str = "score"
    mode: Mode = "max"

    def __post_init__(self) -> None:
        for name in ("keep_last", "keep_best"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise InvalidCheckpointRequestError(
                    f"{name}={value!r}: use a positive integer, or None to keep everything"
                )
        if self.mode not in ("max", "min"):
            raise InvalidCheckpointRequestError(f"mode={self.mode!r}: use 'max' or 'min'")


class CheckpointManager:
    """One run's v1 checkpoints in ``run_dir`` (SPEC §3, §4).

    Saves commit atomically (weights, then the sidecar that makes them
    visible), retention runs only after a commit, and every commit and
    deletion holds the directory lock so concurrent savers lose nothing.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        run_name: str,
        keep_last: int | None = None,
        keep_best: int | None = None,
        metric: str = "score",
        mode: Mode = "max",
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_name = validate_run_name(run_name)
        self.options = CheckpointOptions(keep_last, keep_best, metric, mode)
        self._retention = retention_policy(keep_last, keep_best, metric, mode)
        if self.run_dir.is_dir() and os.access(self.run_dir, os.W_OK):
            with directory_lock(self.run_dir):
                sweep_stale_temp_files(self.run_dir)

    def __repr__(self) -> str:
        return f"CheckpointManager({str(self.run_dir)!r}, {self.run_name!r}, {self.options})"

    # -- saving ---------------------------------------------------------------

    def save_agent(
        self,
        agent: nn.Module | Mapping[str, torch.Tensor],
        epoch: int,
        metadata: Mapping[str, Any] | None = None,
        *,
        provenance: ConvertedFrom | None = None,
        legacy_metadata: object = None,
        verify: Callable[[Path], None] | None = None,
    ) -> CheckpointInfo:
        """Commit ``agent``'s state_dict at ``epoch``; then apply retention.

        ``provenance`` and ``legacy_metadata`` are for converters: where the weights came
        from, and the old metadata as plain data (sidecar fields ``converted_from`` and
        ``legacy_metadata``). ``verify`` is called with the written, synced weights file
        before anything is committed; if it raises, nothing is.
        """
        validate_epoch(epoch)
        state = require_tensors(agent.state_dict() if isinstance(agent, nn.Module) else agent)
        figures = self._figures(epoch, metadata)
        figures["converted_from"] = provenance
        figures["legacy_metadata"] = plain_data(legacy_metadata, "legacy_metadata")
        architecture = architecture_of(agent) if isinstance(agent, nn.Module) else None
        draft = self._draft_sidecar(figures, architecture)
        weights = self._path(epoch, WEIGHTS_SUFFIX)
        sidecar_path = self._path(epoch, SIDECAR_SUFFIX)
        self._refuse_existing(epoch)
        self._make_run_dir()
        with staged(weights) as weights_temp:
            sha256, size = save_hashed(state, weights_temp.file)
            weights_temp.sync()
            if verify is not None:
                verify(weights_temp.path)
            sidecar = draft.model_copy(update={"sha256": sha256, "size": size})
            with staged(sidecar_path) as sidecar_temp:
                sidecar_temp.file.write(dump_sidecar(sidecar))
                sidecar_temp.sync()
                with directory_lock(self.run_dir):
                    self._refuse_existing(epoch)
                    weights_temp.commit()
                    sidecar_temp.commit()
                    fsync_directory(self.run_dir)
        self._retire()
        return CheckpointInfo(self.run_name, epoch, weights, sidecar.flat_metadata())

    def save_trainer_state(
        self,
        optimizer: torch.optim.Optimizer | Mapping[str, Any] | None,
        epoch: int,
        agent_step: int,
        extra: Mapping[str, Any] | None = None,
        *,
        verify: Callable[[Path], None] | None = None,
    ) -> Path:
        """Commit the state needed to resume training after ``epoch``.

        The file loads with ``torch.load(weights_only=True)``, so ``extra``
        may hold only tensors, numbers, strings and containers of those.
        ``verify`` is called with the written, synced file before it is committed.
        """
        validate_epoch(epoch)
        validate_epoch(agent_step)
        optimizer_state = (
            optimizer.state_dict() if isinstance(optimizer, torch.optim.Optimizer) else optimizer
        )
        state = {
            "format_version": TRAINER_STATE_VERSION,
            "run_name": self.run_name,
            "epoch": epoch,
            "agent_step": agent_step,
            "optimizer": optimizer_state,
            "extra": dict(extra or {}),
        }
        require_weights_only_storable(state)
        path = self._path(epoch, TRAINER_SUFFIX)
        self._make_run_dir()
        with staged(path) as temp:
            torch.save(state, temp.file)
            temp.sync()
            if verify is not None:
                verify(temp.path)
            with directory_lock(self.run_dir):
                temp.commit()
                fsync_directory(self.run_dir)
        self._retire()
        return path

    # -- listing and selecting ------------------------------------------------

    def list(self) -> builtins.list[CheckpointInfo]:
        """This run's checkpoints by epoch, legacy-named files included (flagged)."""
        return [
            info for info in scan(self.run_dir, self.run_name) if info.run_name == self.run_name
        ]

    def _committed(self) -> builtins.list[CheckpointInfo]:
        return [info for info in self.list() if not info.legacy]

    def latest(self) -> CheckpointInfo | None:
        committed = self._committed()
        return committed[-1] if committed else None

    def find_best_checkpoint(self, metric: str | None = None) -> CheckpointInfo | None:
        """The best committed checkpoint by ``metric`` (default: the manager's) and mode."""
        ranked = rank(self._committed(), metric or self.options.metric, self.options.mode)
        return ranked[0] if ranked else None

    def select(
        self, strategy: Strategy = "latest", n: int = 1, metric: str | None = None
    ) -> builtins.list[CheckpointInfo]:
        """``latest``: newest first; ``best``: best first; ``all``: every one by epoch."""
        committed = self._committed()
        if strategy == "all":
            return committed
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidCheckpointRequestError(f"n={n!r}: select at least one checkpoint")
        if strategy == "latest":
            return newest_first(committed)[:n]
        if strategy == "best":
            return rank(committed, metric or self.options.metric, self.options.mode)[:n]
        raise InvalidCheckpointRequestError(f"strategy={strategy!r}: use 'latest', 'best' or 'all'")

    # -- loading --------------------------------------------------------------

    def load_state_dict(
        self, epoch: int | None = None, *, device: str | torch.device = "cpu"
    ) -> dict[str, torch.Tensor]:
        """The weights of ``epoch`` (latest by default), memory-mapped, weights-only."""
        return self._load_weights(self._find(epoch), device)

    def load_agent(
        self,
        epoch: int | None = None,
        model: nn.Module | None = None,
        device: str | torch.device = "cpu",
    ) -> nn.Module:
        """Load into ``model``, or rebuild the recorded class if it was registered."""
        info = self._find(epoch)
        if model is None:
            assert info.sidecar_path is not None
            model = rebuild(read_sidecar(info.sidecar_path).architecture, info.path)
        model.load_state_dict(self._load_weights(info, device))
        return model.to(device)

    def _load_weights(
        self, info: CheckpointInfo, device: str | torch.device
    ) -> dict[str, torch.Tensor]:
        if WEIGHTS_ONLY_BYPASSABLE:
            verify_checkpoint(info.path)  # only bytes the sidecar vouches for reach torch.load
        else:
            check_size(info.path, info.metadata["size"])
        try:
            state: dict[str, torch.Tensor] = torch.load(
                info.path, map_location=device, weights_only=True, mmap=True
            )
        except _LOAD_ERRORS as exc:
            raise CheckpointCorruptError(
                f"cannot be read as a state_dict ({exc}); run `ckpt verify` on it", info.path
            ) from exc
        return state

    def load_trainer_state(self, epoch: int | None = None) -> dict[str, Any] | None:
        """The trainer state of ``epoch`` (latest by default), or ``None`` if there is none."""
        epochs = self._trainer_epochs()
        if not epochs or (epoch is not None and epoch not in epochs):
            return None
        path = self._path(max(epochs) if epoch is None else epoch, TRAINER_SUFFIX)
        state = read_weights_only(path)  # not torch.load: see _weights_only
        if not isinstance(state, dict):
            raise CheckpointCorruptError(
                "is not a trainer state; resume from an earlier epoch", path
            )
        return state

    def verify(self, epoch: int | None = None) -> CheckpointInfo:
        """Recompute the sha256 of ``epoch`` (latest by default); raise if it changed."""
        return verify_checkpoint(self._find(epoch).path)

    # -- deleting -------------------------------------------------------------

    def delete(self, epoch: int) -> None:
        """Remove a checkpoint: its sidecar first (so it vanishes atomically), then the rest."""
        validate_epoch(epoch)
        with directory_lock(self.run_dir):
            self._unlink(epoch, SIDECAR_SUFFIX, WEIGHTS_SUFFIX, TRAINER_SUFFIX)

    def _retire(self) -> None:
        """Apply retention; called only after a commit, under the directory lock."""
        if self._retention is None:
            return
        with directory_lock(self.run_dir):
            committed = self._committed()
            kept = self._retention.keep(committed)
            for info in committed:
                if info.epoch not in kept:
                    self._unlink(info.epoch, SIDECAR_SUFFIX, WEIGHTS_SUFFIX)
            trainer_epochs = self._trainer_epochs()
            newest_trainer = max(trainer_epochs, default=None)
            for epoch in trainer_epochs:
                if epoch not in kept and epoch != newest_trainer:
                    self._unlink(epoch, TRAINER_SUFFIX)
            fsync_directory(self.run_dir)

    def _unlink(self, epoch: int, *suffixes: str) -> None:
        for suffix in suffixes:
            self._path(epoch, suffix).unlink(missing_ok=True)

    # -- helpers --------------------------------------------------------------

    def _path(self, epoch: int, suffix: str) -> Path:
        return self.run_dir / f"{stem(self.run_name, epoch)}{suffix}"

    def _make_run_dir(self) -> None:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise describe_os_error(exc, self.run_dir) from exc

    def _find(self, epoch: int | None) -> CheckpointInfo:
        if epoch is None:
            latest = self.latest()
            if latest is None:
                raise CheckpointNotFoundError(
                    f"run {self.run_name!r} has no committed v1 checkpoint; save one, or "
                    "convert legacy files with `ckpt migrate`",
                    self.run_dir,
                )
            return latest
        validate_epoch(epoch)
        for info in self._committed():
            if info.epoch == epoch:
                return info
        raise CheckpointNotFoundError(
            f"run {self.run_name!r} has no committed checkpoint at epoch {epoch}; "
            "see `ckpt ls` for the epochs it has",
            self.run_dir,
        )

    def _trainer_epochs(self) -> builtins.list[int]:
        try:
            names = os.listdir(self.run_dir)
        except FileNotFoundError:
            return []
        return sorted(
            parsed.epoch
            for parsed in map(parse_v1_name, names)
            if parsed is not None
            and parsed.role is FileRole.TRAINER
            and parsed.run_name == self.run_name
        )

    def _figures(self, epoch: int, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        """Split caller metadata into the sidecar's fixed figures and free metrics."""
        metrics = plain_data(dict(metadata or {}), "metadata")
        for key, expected in (("epoch", epoch), ("run_name", self.run_name)):
            if key in metrics and metrics.pop(key) != expected:
                raise InvalidCheckpointRequestError(
                    f"metadata[{key!r}] disagrees with the {key} being saved ({expected!r}); "
                    "drop it from metadata"
                )
        for key in RECOMPUTED_METADATA_KEYS:
            metrics.pop(key, None)  # so that CheckpointInfo.metadata can be saved back as is
        figures = {
            key: metrics.pop(key) for key in ("agent_step", "total_time", "score") if key in metrics
        }
        return {"epoch": epoch, "metrics": metrics, **figures}

    def _refuse_existing(self, epoch: int) -> None:
        """Raise ``InvalidCheckpointRequestError`` if ``epoch`` is already committed."""
        sidecar_path = self._path(epoch, SIDECAR_SUFFIX)
        if sidecar_path.exists():
            raise InvalidCheckpointRequestError(
                f"epoch {epoch} of run {self.run_name!r} is already committed; "
                f"save under a new epoch or call delete({epoch}) first",
                sidecar_path,
            )

    def _draft_sidecar(self, figures: dict[str, Any], architecture: Any) -> Sidecar:
        """Validate the sidecar before any byte is written; sha256 and size come later."""
        try:
            return Sidecar(
                run_name=self.run_name,
                architecture=architecture,
                torch_version=torch.__version__,
                created_at=datetime.now(UTC),
                sha256="0" * 64,
                size=0,
                **figures,
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in exc.errors()
            )
            raise InvalidCheckpointRequestError(f"invalid checkpoint metadata: {problems}") from exc
