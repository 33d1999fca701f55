"""The manager of a run in object storage: the same API, a commit protocol without rename.

A save streams the weights to their final name, created exclusively (``If-None-Match: *``)
in parts, with the sha256 computed on the way; then it creates the sidecar, exclusively
too: that object is the commit. A listing counts a pair only once both exist, so a reader
never sees weights without their sidecar. Of two writers of one epoch, the second to
complete its weights upload gets ``CheckpointExistsError`` and nothing of it is visible. A
writer killed mid-upload leaves an incomplete multipart upload (never visible); one killed
between the two objects leaves weights without a sidecar, which no listing shows and which
the first write of a later manager removes once they are ``ORPHAN_GRACE_SECONDS`` old (an
upload in progress is younger). Retention lists after the commit and deletes only this
run's objects, sidecar first.

Loading downloads the weights to a temporary file and goes through the local checks and
``torch.load(mmap=True)``: memory holds the state once, and every safety check is the one
local runs have.
"""

from __future__ import annotations

import builtins
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._indexfile import numeric_paths
from ._info import CheckpointInfo
from ._integrity import verify_file_pair
from ._manager import CheckpointManager, CheckpointOptions, Ranked
from ._naming import (
    SIDECAR_SUFFIX,
    TRAINER_SUFFIX,
    WEIGHTS_SUFFIX,
    FileRole,
    parse_v1_name,
    stem,
    validate_epoch,
)
from ._remotecatalog import REWRITE_AFTER, RemoteListing, info_of, list_remote
from ._selection import Mode, has_metric, rank
from ._sidecar import MAX_SIDECAR_BYTES, ConvertedFrom, Sidecar, dump_sidecar, parse_sidecar
from ._storage import sha256_file, stream_hashed
from ._store import PART_SIZE, FsspecStore, Store
from ._weights_only import read_weights_only
from .errors import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointExistsError,
    CheckpointNotFoundError,
    InvalidCheckpointRequestError,
)

ORPHAN_GRACE_SECONDS = 3600.0
"""Weights without a sidecar younger than this may be a save in progress, and are kept."""


class RemoteCheckpointManager(CheckpointManager):
    """``CheckpointManager`` for a URL: ``s3://bucket/prefix/run7`` or any fsspec URL."""

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
        self.store = FsspecStore(os.fspath(run_dir), storage_options)
        self.url = self.store.url
        self.run_dir = Path(self.store.root)
        self._configure(run_name, CheckpointOptions(keep_last, keep_best, metric, mode))
        self._unlisted_commits = 0

    def __repr__(self) -> str:
        return f"CheckpointManager({self.url!r}, {self.run_name!r}, {self.options})"

    def _name(self, epoch: int, suffix: str) -> str:
        return f"{stem(self.run_name, epoch)}{suffix}"

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
        """Upload the weights, then create the sidecar that commits them; then retention."""
        if verify is not None:
            raise InvalidCheckpointRequestError(
                "verify= reads the written weights as a local file; save to a local run_dir "
                "and upload the pair, or save without verify",
                self.url,
            )
        state, draft = self._prepare_save(agent, epoch, metadata, provenance, legacy_metadata)
        weights, sidecar_name = self._name(epoch, WEIGHTS_SUFFIX), self._name(epoch, SIDECAR_SUFFIX)
        self._refuse_existing(epoch)
        self._prepare_writes()
        store = self.store
        try:
            with store.translated(weights), store.writer(weights, exclusive=True) as sink:
                sha256, size = stream_hashed(state, sink)
        except FileExistsError as exc:
            raise self._taken_or_pending(epoch) from exc
        sidecar = draft.model_copy(update={"sha256": sha256, "size": size})
        try:
            store.put(sidecar_name, dump_sidecar(sidecar), exclusive=True)
        except FileExistsError as exc:  # a sidecar nobody paired with weights: not ours
            store.delete([weights])  # created exclusively above: ours to remove
            raise self._taken(epoch, store.url_of(sidecar_name)) from exc
        self._unlisted_commits += 1
        self._retire()
        return info_of(store, sidecar_name, self.run_name, epoch, sidecar.flat_metadata())

    def save_trainer_state(
        self,
        optimizer: torch.optim.Optimizer | Mapping[str, Any] | None,
        epoch: int,
        agent_step: int,
        extra: Mapping[str, Any] | None = None,
        *,
        verify: Callable[[Path], None] | None = None,
    ) -> Path:
        """Upload the trainer state of ``epoch``; the object appears whole or not at all."""
        if verify is not None:
            raise InvalidCheckpointRequestError(
                "verify= reads the written file locally; save without it", self.url
            )
        state = self._trainer_state(optimizer, epoch, agent_step, extra)
        name = self._name(epoch, TRAINER_SUFFIX)
        self._prepare_writes()
        with self.store.translated(name), self.store.writer(name, exclusive=False) as sink:
            torch.save(state, sink)
        self._retire()
        return self.run_dir / name

    def _refuse_existing(self, epoch: int) -> None:
        name = self._name(epoch, SIDECAR_SUFFIX)
        if self.store.info(name) is not None:
            raise self._taken(epoch, self.store.url_of(name))

    def _taken_or_pending(self, epoch: int) -> CheckpointError:
        """The error for weights that already exist: committed, or a save in progress (or
        one that died, whose weights are removed once ``ORPHAN_GRACE_SECONDS`` old)."""
        sidecar = self._name(epoch, SIDECAR_SUFFIX)
        if self.store.info(sidecar) is not None:
            return self._taken(epoch, self.store.url_of(sidecar))
        return CheckpointExistsError(
            f"another writer is saving epoch {epoch} of run {self.run_name!r} (its weights "
            "are there, its sidecar not yet); save under a new epoch, or, if no writer is "
            f"alive, call delete({epoch}) first",
            self.store.url_of(self._name(epoch, WEIGHTS_SUFFIX)),
        )

    def _prepare_writes(self) -> None:
        """On this manager's first write, remove what a dead writer of this run left once it
        is ``ORPHAN_GRACE_SECONDS`` old: weights without a sidecar, and (S3) the multipart
        upload of a writer killed mid-upload, which no listing shows but S3 bills."""
        if self._swept:
            return
        listing = self._remote_listing()
        cutoff = time.time() - ORPHAN_GRACE_SECONDS
        self.store.delete(
            obj.name
            for obj in listing.unreferenced(self.run_name)
            if obj.modified is not None and obj.modified < cutoff
        )
        for upload in self.store.uploads():
            parsed = parse_v1_name(upload.name)
            mine = parsed is not None and parsed.run_name == self.run_name
            if mine and upload.initiated is not None and upload.initiated < cutoff:
                self.store.abort(upload)
        self._swept = True

    def _retire(self) -> None:
        """Apply retention after a commit (deleting only this run's objects, sidecars first);
        without retention, list now and then so the index stays close to the run."""
        if self._retention is None:
            if self._unlisted_commits >= REWRITE_AFTER:
                self._remote_listing()
            return
        listing = self._remote_listing()
        committed = listing.infos(self.run_name)
        kept = self._retention.keep(committed)
        gone = [info.epoch for info in committed if info.epoch not in kept]
        trainer = self._trainer_epochs(listing)
        newest_trainer = max(trainer, default=None)
        old_trainer = [e for e in trainer if e not in kept and e != newest_trainer]
        self.store.delete(self._name(epoch, SIDECAR_SUFFIX) for epoch in gone)
        self.store.delete(
            [self._name(epoch, WEIGHTS_SUFFIX) for epoch in gone]
            + [self._name(epoch, TRAINER_SUFFIX) for epoch in old_trainer]
        )

    # -- listing and selecting ------------------------------------------------

    def _remote_listing(self) -> RemoteListing:
        listing = list_remote(self.store)
        self._unlisted_commits = 0
        return listing

    def list(self) -> builtins.list[CheckpointInfo]:
        """This run's committed checkpoints by epoch (a damaged sidecar is warned about)."""
        return self._remote_listing().infos(self.run_name)

    def _committed(self) -> builtins.list[CheckpointInfo]:
        return self.list()

    def latest(self) -> CheckpointInfo | None:
        found = self._latest_n(1)
        return found[0] if found else None

    def _latest_n(self, n: int) -> builtins.list[CheckpointInfo]:
        listing = self._remote_listing()
        return [listing.info(entry) for entry in listing.mine(self.run_name)[::-1][:n]]

    def _rank(self, metric: str, n: int) -> Ranked:
        """Ranked on the listing's entries: only the chosen become ``CheckpointInfo``."""
        listing = self._remote_listing()
        entries = listing.mine(self.run_name)
        missing = sum(not has_metric(entry.metadata, metric) for entry in entries)
        chosen = [listing.info(entry) for entry in rank(entries, metric, self.options.mode)[:n]]

        def metric_names() -> builtins.list[str]:
            return sorted({path for entry in entries for path in numeric_paths(entry.metadata)})

        return chosen, len(entries), missing, metric_names

    def _trainer_epochs(self, listing: RemoteListing | None = None) -> builtins.list[int]:
        names = (listing or self._remote_listing()).objects
        return sorted(
            parsed.epoch
            for parsed in map(parse_v1_name, names)
            if parsed is not None
            and parsed.role is FileRole.TRAINER
            and parsed.run_name == self.run_name
        )

    # -- loading --------------------------------------------------------------

    def _find(self, epoch: int | None) -> CheckpointInfo:
        if epoch is None:
            latest = self.latest()
            if latest is None:
                raise CheckpointNotFoundError(
                    f"run {self.run_name!r} has no committed v1 checkpoint; save one first",
                    self.url,
                )
            return latest
        validate_epoch(epoch)
        sidecar = self._read_sidecar(self._name(epoch, SIDECAR_SUFFIX))
        if sidecar is None:
            raise CheckpointNotFoundError(
                f"run {self.run_name!r} has no committed checkpoint at epoch {epoch}; "
                "mgr.list() shows the epochs it has",
                self.url,
            )
        name = self._name(epoch, SIDECAR_SUFFIX)
        return info_of(self.store, name, self.run_name, epoch, sidecar.flat_metadata())

    def _read_sidecar(self, name: str) -> Sidecar | None:
        try:
            raw = self.store.get(name, MAX_SIDECAR_BYTES + 1)
        except FileNotFoundError:
            return None
        with relabelled(Path(name), self.store.url_of(name)):
            return parse_sidecar(raw, Path(name))

    def _sidecar_of(self, info: CheckpointInfo) -> Sidecar:
        name = info.path.name.removesuffix(WEIGHTS_SUFFIX) + SIDECAR_SUFFIX
        sidecar = self._read_sidecar(name)
        if sidecar is None:
            raise CheckpointNotFoundError("its sidecar is gone; it was deleted", info.uri)
        return sidecar

    def _load_weights(
        self, info: CheckpointInfo, device: str | torch.device
    ) -> dict[str, torch.Tensor]:
        """Download, then load as a local file would be (memory-mapped: one copy in memory)."""
        with downloaded(self.store, info.path.name) as local:
            return super()._load_weights(replace(info, path=local, url=None), device)

    def load_trainer_state(self, epoch: int | None = None) -> dict[str, Any] | None:
        epochs = self._trainer_epochs()
        if not epochs or (epoch is not None and epoch not in epochs):
            return None
        with downloaded(
            self.store, self._name(max(epochs) if epoch is None else epoch, TRAINER_SUFFIX)
        ) as local:
            state = read_weights_only(local)
            if not isinstance(state, dict):
                raise CheckpointCorruptError(
                    "is not a trainer state; resume from an earlier epoch", local
                )
            return state

    def verify(self, epoch: int | None = None) -> CheckpointInfo:
        """Download the pair and recompute its sha256; raise if it changed."""
        info = self._find(epoch)
        with verified_pair(self.store, info.path.name):
            return info

    # -- deleting -------------------------------------------------------------

    def delete(self, epoch: int) -> None:
        """Remove a checkpoint: its sidecar first (so it vanishes at once), then the rest."""
        validate_epoch(epoch)
        names = [
            self._name(epoch, suffix) for suffix in (SIDECAR_SUFFIX, WEIGHTS_SUFFIX, TRAINER_SUFFIX)
        ]
        present = [name for name in names if self.store.info(name) is not None]
        if not present:
            raise CheckpointNotFoundError(
                f"run {self.run_name!r} has no checkpoint at epoch {epoch} to delete; "
                "mgr.list() shows the epochs it has",
                self.url,
            )
        self.store.delete(present[:1])
        self.store.delete(present[1:])


@contextmanager
def downloaded(store: Store, name: str) -> Iterator[Path]:
    """The object ``name`` as a temporary local file; errors about it name its URL."""
    with tempfile.TemporaryDirectory(prefix="ckpt-") as directory:
        local = Path(directory) / name
        _fetch(store, name, local)
        with relabelled(local, store.url_of(name)):
            yield local


@contextmanager
def verified_pair(store: Store, weights: str) -> Iterator[tuple[Path, CheckpointInfo]]:
    """Download a v1 pair and check the weights' size and sha256 against the sidecar
    (``CheckpointCorruptError`` naming the URL if they differ); yields the local weights,
    for more checks while they are there, and what the sidecar says."""
    sidecar = weights.removesuffix(WEIGHTS_SUFFIX) + SIDECAR_SUFFIX
    if store.info(sidecar) is None:
        raise CheckpointNotFoundError(
            "has no sidecar, so it is no committed checkpoint; `ckpt ls` the run's URL for "
            "the epochs it has",
            store.url_of(weights),
        )
    with downloaded(store, sidecar) as local_sidecar, downloaded(store, weights) as local:
        info = verify_file_pair(local, local_sidecar)
        yield (
            local,
            replace(
                info, path=Path(store.url_of(weights).split("://", 1)[1]), url=store.url_of(weights)
            ),
        )


@contextmanager
def relabelled(label: Path, url: str) -> Iterator[None]:
    """Errors about the local stand-in ``label`` of an object (or of a file below it, for a
    prefix copied whole) re-raised naming its URL."""
    try:
        yield
    except CheckpointError as exc:
        if exc.path is None or not exc.path.is_relative_to(label):
            raise
        inside = exc.path.relative_to(label).as_posix()
        reason = str(exc).removeprefix(f"{exc.path}: ")
        with suppress(TypeError):
            raise type(exc)(reason, url if inside == "." else f"{url}/{inside}") from exc
        raise


@contextmanager
def local_copy(
    url: str, storage_options: Mapping[str, Any] | None = None, *, within: Path | None = None
) -> Iterator[Path]:
    """What ``url`` names, as a temporary local file: the object, or, for a prefix (a bundle
    such as ``<run>:v5/``), a directory of the objects directly below it. For the engine,
    which reads files; errors about the copy name the URL. The copy is ``within`` (by
    default a new directory named like the URL's parent, so that a run named after its
    directory keeps its name) and removed afterwards."""
    parent, _, name = url.rstrip("/").rpartition("/")
    store = FsspecStore(parent, storage_options)
    with tempfile.TemporaryDirectory(prefix="ckpt-") as directory:
        if within is None:
            within = Path(directory) / (parent.rpartition("/")[2] or "root")
        local = within / name
        local.parent.mkdir(parents=True, exist_ok=True)
        if store.info(name) is not None:
            _fetch(store, name, local)
            try:
                with relabelled(local, store.url_of(name)):
                    yield local
            finally:
                local.unlink(missing_ok=True)
            return
        below = FsspecStore(url, storage_options)
        names = [obj.name for obj in below.list()]
        if not names:
            raise CheckpointNotFoundError("no such object, nor objects below it", url)
        local.mkdir()
        try:
            for member in names:
                below.download(member, local / member)
            with relabelled(local, below.url):
                yield local
        finally:
            shutil.rmtree(local, ignore_errors=True)


def _fetch(store: Store, name: str, local: Path) -> None:
    try:
        store.download(name, local)
    except FileNotFoundError as exc:
        raise CheckpointNotFoundError(
            "is missing; restore it from a backup, or delete the checkpoint it belongs to",
            store.url_of(name),
        ) from exc


@dataclass(frozen=True)
class Published:
    """Where ``publish`` put a checkpoint's files (``None``: it had no such file)."""

    weights: str | None
    trainer: str | None
    #: The same weights were committed there before: nothing was uploaded.
    already_there: bool = False


def publish(
    store: Store, directory: str, weights: Path | None, trainer: Path | None = None
) -> Published:
    """Upload a committed local v1 checkpoint into ``directory`` (a prefix below the
    store's root: ``""`` or ending in ``/``) by the commit protocol.

    The trainer state goes first, whole or not at all; then the weights, then the sidecar,
    created exclusively: the commit, as for a save. The weights are created exclusively too,
    so that of two writers exactly one commits (a replaced upload would no longer match the
    other's sidecar). Weights already there without a sidecar are taken as ours if they are
    the very bytes we hold (a publish of this conversion that died before its sidecar:
    ``torch.save`` of the same tensors by the same torch writes the same bytes); otherwise
    they are another writer's upload in progress, and raise ``CheckpointExistsError``, unless
    ``ORPHAN_GRACE_SECONDS`` old (a publish that died), when they are replaced. A sidecar
    already there for the same weights (sha256 and size) means this was published before,
    and nothing is uploaded; one for other weights raises ``CheckpointExistsError`` naming
    its URL."""
    sidecar_name = weights_name = ""
    committed = b""
    if weights is not None:
        weights_name = directory + weights.name
        sidecar_local = weights.with_suffix(SIDECAR_SUFFIX)
        sidecar_name = directory + sidecar_local.name
        committed = sidecar_local.read_bytes()
        ours = parse_sidecar(committed, sidecar_local)
        raw = _get_if_there(store, sidecar_name)
        if raw is not None:
            with relabelled(Path(sidecar_name), store.url_of(sidecar_name)):
                theirs = parse_sidecar(raw, Path(sidecar_name))
            if (theirs.sha256, theirs.size) != (ours.sha256, ours.size):
                raise CheckpointExistsError(
                    f"already holds other weights (sha256 {theirs.sha256[:12]}...); write to "
                    "another name or prefix, or delete that checkpoint first",
                    store.url_of(sidecar_name),
                )
            trainer_url = None
            if trainer is not None and store.info(directory + trainer.name) is not None:
                trainer_url = store.url_of(directory + trainer.name)
            return Published(store.url_of(weights_name), trainer_url, already_there=True)
    if trainer is not None:
        _upload(store, trainer, directory + trainer.name, exclusive=False)
    if weights is not None:
        _upload_weights(store, weights, weights_name, ours.sha256)
        try:
            store.put(sidecar_name, committed, exclusive=True)
        except FileExistsError as exc:
            raise CheckpointExistsError(
                "was committed by another writer while this one uploaded; re-run to check "
                "whether it holds the same weights",
                store.url_of(sidecar_name),
            ) from exc
    return Published(
        store.url_of(weights_name) if weights is not None else None,
        store.url_of(directory + trainer.name) if trainer is not None else None,
    )


def _upload_weights(store: Store, local: Path, name: str, sha256: str) -> None:
    try:
        _upload(store, local, name, exclusive=True)
        return
    except FileExistsError:
        there = store.info(name)
        if there is not None and _holds_these_bytes(store, name, there.size, local, sha256):
            return  # our own upload, from a publish that died before its sidecar
        modified = there.modified if there is not None else None
        if modified is None or modified > time.time() - ORPHAN_GRACE_SECONDS:
            raise CheckpointExistsError(
                "is being uploaded by another writer (the weights are there, their sidecar "
                "not yet); wait for it, or, if no writer is alive, delete this object and "
                "re-run",
                store.url_of(name),
            ) from None
    store.delete([name])  # a dead publish's weights, past the grace period
    _upload(store, local, name, exclusive=True)


def _holds_these_bytes(store: Store, name: str, size: int, local: Path, sha256: str) -> bool:
    """Whether the object ``name`` (of ``size`` bytes) is byte for byte the file ``local``
    whose sha256 is ``sha256``: downloaded beside it and hashed, only when the sizes agree."""
    if size != local.stat().st_size:
        return False
    with tempfile.TemporaryDirectory(dir=local.parent) as scratch:
        copy = Path(scratch) / local.name
        try:
            store.download(name, copy)
        except FileNotFoundError:  # removed meanwhile
            return False
        return sha256_file(copy) == (sha256, size)


def _get_if_there(store: Store, name: str) -> bytes | None:
    try:
        return store.get(name, MAX_SIDECAR_BYTES + 1)
    except FileNotFoundError:
        return None


def _upload(store: Store, local: Path, name: str, *, exclusive: bool) -> None:
    with store.writer(name, exclusive=exclusive) as sink, local.open("rb") as source:
        shutil.copyfileobj(source, sink, PART_SIZE)
