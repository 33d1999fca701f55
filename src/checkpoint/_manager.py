"""`CheckpointManager`: save, list, select, load and retire one run's checkpoints."""

from __future__ import annotations

import builtins
import os
import pickle
import warnings
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
from ._backgroundcheck import BackgroundCheck
from ._catalog import (
    Listing,
    Ref,
    gc_paused,
    list_directory,
    lookup,
    record_commit,
    record_removal,
    warn_damaged,
)
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
from ._plainweights import check_plain_weights
from ._selection import Mode, retention_policy
from ._sidecar import (
    RECOMPUTED_METADATA_KEYS,
    ConvertedFrom,
    Sidecar,
    dump_sidecar,
    read_sidecar,
    sidecar_problem,
)
from ._storage import (
    WriteOutWriter,
    describe_os_error,
    directory_lock,
    fsync_directory,
    save_hashed,
    save_into,
    staged,
    sweep_stale_temp_files,
)
from ._store import local_path_of
from ._weights_only import read_weights_only
from .errors import (
    CheckpointCorruptError,
    CheckpointExistsError,
    CheckpointNotFoundError,
    InvalidCheckpointRequestError,
    MetricMissingWarning,
)

Strategy = Literal["latest", "best", "all"]
Ranked = tuple["builtins.list[CheckpointInfo]", int, int, Callable[[], "builtins.list[str]"]]
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
    Each commit and deletion also updates the directory's index under that
    lock, so listings in any process read a handful of lines, not every sidecar.
    Temp files that a killed writer left behind are swept by the first write.

    A URL other than ``file://`` (``s3://bucket/prefix/run7``, any fsspec protocol) gives
    the object-storage manager (``_remote``); ``storage_options`` go to fsspec.
    """

    def __new__(cls, run_dir: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Any:
        if cls is CheckpointManager and local_path_of(os.fspath(run_dir)) is None:
            from ._remote import RemoteCheckpointManager

            return super().__new__(RemoteCheckpointManager)
        return super().__new__(cls)

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        run_name: str,
        keep_last: int | None = None,
        keep_best: int | None = None,
        metric: str = "score",
        mode: Mode = "max",
        *,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        local = local_path_of(os.fspath(run_dir))
        if local is None or storage_options:
            raise InvalidCheckpointRequestError(
                "storage_options are for URLs of object storage (s3://...); a local "
                "run_dir takes none",
                os.fspath(run_dir),
            )
        self.run_dir = local
        self._configure(run_name, CheckpointOptions(keep_last, keep_best, metric, mode))

    def _configure(self, run_name: str, options: CheckpointOptions) -> None:
        self.run_name = validate_run_name(run_name)
        self.options = options
        self._retention = retention_policy(
            options.keep_last, options.keep_best, options.metric, options.mode
        )
        self._swept = False

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
        ``legacy_metadata``). ``verify`` is called with the written weights file (on a
        thread, while it and the sidecar are synced) before anything is committed; if it
        raises, nothing is.
        """
        state, draft = self._prepare_save(agent, epoch, metadata, provenance, legacy_metadata)
        weights = self._path(epoch, WEIGHTS_SUFFIX)
        sidecar_path = self._path(epoch, SIDECAR_SUFFIX)
        self._refuse_existing(epoch)
        self._prepare_writes()
        with (
            staged(weights) as weights_temp,
            BackgroundCheck(verify, weights_temp.path) as check,
        ):
            # Written, hashed and synced; the check reads it back meanwhile.
            sha256, size = save_hashed(state, weights_temp, before_sync=check.start)
            sidecar = draft.model_copy(update={"sha256": sha256, "size": size})
            with staged(sidecar_path) as sidecar_temp:
                sidecar_temp.file.write(dump_sidecar(sidecar))
                sidecar_temp.sync()
                written = os.fstat(sidecar_temp.file.fileno())  # a rename keeps all three
                key = (written.st_ino, written.st_size, written.st_mtime_ns)
                check.result()  # raises if the file read back is wrong: nothing is committed
                with directory_lock(self.run_dir):
                    self._refuse_existing(epoch)
                    weights_temp.commit()
                    sidecar_temp.commit()
                    fsync_directory(self.run_dir)
                    metadata = sidecar.flat_metadata()
                    record_commit(
                        self.run_dir, sidecar_path.name, self.run_name, epoch, key, metadata
                    )
        self._retire()
        return CheckpointInfo(self.run_name, epoch, weights, sidecar.flat_metadata())

    def _prepare_save(
        self,
        agent: nn.Module | Mapping[str, torch.Tensor],
        epoch: int,
        metadata: Mapping[str, Any] | None,
        provenance: ConvertedFrom | None,
        legacy_metadata: object,
    ) -> tuple[dict[str, torch.Tensor], Sidecar]:
        """The state to save and its sidecar's draft, validated before any byte is written."""
        validate_epoch(epoch)
        state = require_tensors(agent.state_dict() if isinstance(agent, nn.Module) else agent)
        figures = self._figures(epoch, metadata)
        figures["converted_from"] = provenance
        figures["legacy_metadata"] = plain_data(legacy_metadata, "legacy_metadata")
        architecture = architecture_of(agent) if isinstance(agent, nn.Module) else None
        return state, self._draft_sidecar(figures, architecture)

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
        ``verify`` is called with the written file (on a thread, while it is synced) before
        it is committed.
        """
        state = self._trainer_state(optimizer, epoch, agent_step, extra)
        path = self._path(epoch, TRAINER_SUFFIX)
        self._prepare_writes()
        with staged(path) as temp, BackgroundCheck(verify, temp.path) as check:
            save_into(state, WriteOutWriter(temp.file))
            check.start()  # reads it back while the fsync runs
            temp.sync()
            check.result()
            with directory_lock(self.run_dir):
                temp.commit()
                fsync_directory(self.run_dir)
        self._retire()
        return path

    def _trainer_state(
        self,
        optimizer: torch.optim.Optimizer | Mapping[str, Any] | None,
        epoch: int,
        agent_step: int,
        extra: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
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
        return state

    # -- listing and selecting ------------------------------------------------

    def _listing(self) -> Listing:
        """The run directory listed now; damaged sidecars of this run are warned about."""
        listing = list_directory(self.run_dir, self.run_name)
        warn_damaged(item for item in listing.damaged if item.run_name == self.run_name)
        return listing

    def list(self) -> builtins.list[CheckpointInfo]:
        """This run's checkpoints by epoch, legacy-named files included (flagged).

        A checkpoint whose sidecar is damaged is left out, with a ``DamagedSidecarWarning``.
        """
        return self._listing().infos(self.run_name)

    def _committed(self) -> builtins.list[CheckpointInfo]:
        return self._listing().infos(self.run_name, legacy=False)

    def latest(self) -> CheckpointInfo | None:
        listing = self._listing()
        newest = listing.newest(self.run_name)
        return None if newest is None else listing.info(newest)

    def _newest(self, listing: Listing, n: int) -> builtins.list[tuple[int, Ref]]:
        refs = listing.refs(self.run_name)
        refs.sort(key=lambda pair: (pair[0], listing.name_of(pair[1])), reverse=True)
        return refs[:n]

    def find_best_checkpoint(self, metric: str | None = None) -> CheckpointInfo | None:
        """The best committed checkpoint by ``metric`` (default: the manager's) and mode.

        ``None`` for a run without checkpoints; ``InvalidCheckpointRequestError`` if none of
        its checkpoints has the metric.
        """
        best = self._best(metric or self.options.metric, 1)
        return best[0] if best else None

    def select(
        self, strategy: Strategy = "latest", n: int = 1, metric: str | None = None
    ) -> builtins.list[CheckpointInfo]:
        """``latest``: newest first; ``best``: best first; ``all``: every one by epoch.

        ``best`` ranks checkpoints without the metric last, with a ``MetricMissingWarning``
        saying how many; if none has it, it raises ``InvalidCheckpointRequestError``.
        """
        if strategy not in ("latest", "best", "all"):
            raise InvalidCheckpointRequestError(
                f"strategy={strategy!r}: use 'latest', 'best' or 'all'"
            )
        if strategy == "all":
            return self._committed()
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidCheckpointRequestError(f"n={n!r}: select at least one checkpoint")
        if strategy == "latest":
            return self._latest_n(n)
        return self._best(metric or self.options.metric, n)

    def _latest_n(self, n: int) -> builtins.list[CheckpointInfo]:
        listing = self._listing()
        return [listing.info(ref) for _, ref in self._newest(listing, n)]

    def _rank(self, metric: str, n: int) -> Ranked:
        """The best ``n`` by ``metric``, how many there are, how many lack it, and (for the
        error when all do) the numeric metric names they have."""
        with gc_paused():
            listing = self._listing()
            chosen, total, missing = listing.best(self.run_name, metric, self.options.mode, n)
        return (
            [listing.info(ref) for ref in chosen],
            total,
            missing,
            lambda: listing.metric_names(listing.refs(self.run_name)),
        )

    def _best(self, metric: str, n: int) -> builtins.list[CheckpointInfo]:
        chosen, total, missing, metric_names = self._rank(metric, n)
        if total and missing == total:
            names = metric_names()
            more = f" and {len(names) - 20} more" if len(names) > 20 else ""
            raise InvalidCheckpointRequestError(
                f"no checkpoint of run {self.run_name!r} has the metric {metric!r}; the "
                f"numeric metrics they have are: {', '.join(names[:20]) + more or 'none'}. "
                "Pass one of them (a dotted path reaches nested metrics, e.g. "
                "'eval_scores.nav')",
                self.run_dir,
            )
        if missing:
            warnings.warn(
                f"{missing} of the {total} checkpoints of run {self.run_name!r} have no "
                f"{metric!r}; they rank after those that have it",
                MetricMissingWarning,
                stacklevel=3,
            )
        return chosen

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
        """Load into ``model``, or rebuild the recorded class if it was registered.

        An epoch whose sidecar is damaged raises its ``SidecarError``.
        """
        info = self._find(epoch)
        if model is None:
            model = rebuild(self._sidecar_of(info).architecture, info.path)
        model.load_state_dict(self._load_weights(info, device))
        return model.to(device)

    def _sidecar_of(self, info: CheckpointInfo) -> Sidecar:
        assert info.sidecar_path is not None
        return read_sidecar(info.sidecar_path)

    def _load_weights(
        self, info: CheckpointInfo, device: str | torch.device
    ) -> dict[str, torch.Tensor]:
        if WEIGHTS_ONLY_BYPASSABLE:
            verify_checkpoint(info.path)  # only bytes the sidecar vouches for reach torch.load
        else:
            check_size(info.path, info.metadata["size"])
        check_plain_weights(info.path)
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
        """Remove a checkpoint: its sidecar first (so it vanishes atomically), then the rest.

        A damaged checkpoint can be deleted too; an epoch with no file at all raises
        ``CheckpointNotFoundError``.
        """
        validate_epoch(epoch)
        if self.run_dir.is_dir():
            self._prepare_writes()
            with directory_lock(self.run_dir):
                if self._unlink(epoch, SIDECAR_SUFFIX, WEIGHTS_SUFFIX, TRAINER_SUFFIX):
                    fsync_directory(self.run_dir)
                    return
        raise CheckpointNotFoundError(
            f"run {self.run_name!r} has no checkpoint at epoch {epoch} to delete; "
            "see `ckpt ls` for the epochs it has",
            self.run_dir,
        )

    def _retire(self) -> None:
        """Apply retention; called only after a commit, under the directory lock."""
        if self._retention is None:
            return
        with directory_lock(self.run_dir):
            committed = self._listing().infos(self.run_name, legacy=False)
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

    def _unlink(self, epoch: int, *suffixes: str) -> bool:
        """Remove these files of ``epoch`` (under the directory lock); whether any existed."""
        removed = False
        for suffix in suffixes:
            path = self._path(epoch, suffix)
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed = True
            if suffix == SIDECAR_SUFFIX:
                record_removal(self.run_dir, [path.name])
        return removed

    # -- helpers --------------------------------------------------------------

    def _path(self, epoch: int, suffix: str) -> Path:
        return self.run_dir / f"{stem(self.run_name, epoch)}{suffix}"

    def _prepare_writes(self) -> None:
        """Create the run directory; on this manager's first write, sweep the temp files a
        killed writer left (a live writer's are locked, and kept)."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not self._swept:
                with directory_lock(self.run_dir):
                    sweep_stale_temp_files(self.run_dir)
                self._swept = True
        except OSError as exc:
            raise describe_os_error(exc, self.run_dir) from exc

    def _find(self, epoch: int | None) -> CheckpointInfo:
        """The checkpoint of ``epoch`` (latest by default); its damaged sidecar's error."""
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
        found = lookup(self.run_dir, self.run_name, epoch)  # its own name: no listing
        if found is None:  # a name with more digits than ours, written by hand: list
            listing = list_directory(self.run_dir, self.run_name)
            for entry_epoch, ref in listing.refs(self.run_name):
                if entry_epoch == epoch:
                    return listing.info(ref)
            for damaged in listing.damaged:
                if (damaged.run_name, damaged.epoch) == (self.run_name, epoch):
                    raise damaged.error()
        if isinstance(found, CheckpointInfo):
            return found
        if found is not None:
            raise found.error()
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
            raise self._taken(epoch, sidecar_path)

    def _taken(self, epoch: int, where: Path | str) -> CheckpointExistsError:
        return CheckpointExistsError(
            f"epoch {epoch} of run {self.run_name!r} is already committed; "
            f"save under a new epoch or call delete({epoch}) first",
            where,
        )

    def _draft_sidecar(self, figures: dict[str, Any], architecture: Any) -> Sidecar:
        """Validate the sidecar before any byte is written; sha256 and size come later."""
        try:
            draft = Sidecar(
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
        problem = sidecar_problem(draft)
        if problem is not None:
            raise InvalidCheckpointRequestError(
                f"the checkpoint's metadata {problem}; flatten or shorten the metrics "
                "(or the legacy metadata) before saving"
            )
        return draft
