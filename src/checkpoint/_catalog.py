"""Listing a directory's checkpoints, fast, without trusting a stale cache.

Parsing a hundred thousand YAML sidecars would take minutes, so a listing starts from the
directory's index (``_indexfile``), stats every sidecar, uses the entries whose
(inode, size, mtime) still match, and re-reads only the rest. So deleting the index, a
writer killed half-way through a line, or a sidecar changed behind its back all give the
same listing, only slower; what a listing had to re-read it writes back as a new snapshot.
A sidecar that fails validation is listed as damaged, never fatal to the listing.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import os
import stat
import warnings
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._indexfile import (
    INDEX_NAME,
    Damage,
    Fresh,
    Index,
    Key,
    build_snapshot,
    current_index,
    decodable,
    decode_all,
    decode_meta,
    gc_paused,
    key_of,
    memos,
    numeric_paths,
    record_commit,
    record_removal,
    row_key,
    unchanged_since,
    write_index,
)
from ._info import CheckpointInfo
from ._naming import (
    SIDECAR_SUFFIX,
    WEIGHTS_SUFFIX,
    FileRole,
    parse_legacy_name,
    parse_v1_name,
    stem,
)
from ._selection import Mode, has_metric, metric_value
from ._sidecar import parse_sidecar, read_sidecar_bytes
from ._storage import directory_lock
from .errors import CheckpointError, DamagedSidecarWarning, SidecarError

__all__ = [
    "INDEX_NAME",
    "Damaged",
    "Listing",
    "Ref",
    "gc_paused",
    "list_directory",
    "lookup",
    "record_commit",
    "record_removal",
    "run_name_of_directory",
    "scan",
    "walk_checkpoint_dirs",
    "warn_damaged",
]

_warned: set[tuple[Path, Key]] = set()


# -- listing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Damaged:
    """A sidecar left out of listings: it does not parse, or does not match the schema."""

    path: Path
    run_name: str
    epoch: int
    reason: str

    def error(self) -> SidecarError:
        return SidecarError(self.reason, self.path)


Ref = int | str
"""A listed v1 checkpoint: a snapshot row, or the sidecar name of a fresh entry."""


@dataclass(slots=True)
class Listing:
    """One listing of a directory: what was found valid, damaged or legacy, just now."""

    directory: Path
    index: Index
    rows: list[int] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)
    damaged: list[Damaged] = field(default_factory=list)
    legacy: list[CheckpointInfo] = field(default_factory=list)
    reread: int = 0  # sidecars parsed because the index did not know them as they are
    stale: int = 0  # snapshot rows whose sidecar is gone or changed

    # -- the entries -----------------------------------------------------------------------

    def refs(self, run_name: str | None = None) -> list[tuple[int, Ref]]:
        """(epoch, ref) of every valid v1 checkpoint (of ``run_name``), in no order."""
        index = self.index
        if run_name is None:
            found: list[tuple[int, Ref]] = [(index.epoch[row], row) for row in self.rows]
            found += [(self._fresh(name).epoch, name) for name in self.fresh]
            return found
        try:
            run_id = index.runs.index(run_name)
        except ValueError:
            run_id = -1
        runs, epochs = index.run, index.epoch
        found = [(epochs[row], row) for row in self.rows if runs[row] == run_id]
        for name in self.fresh:
            entry = self._fresh(name)
            if entry.run == run_name:
                found.append((entry.epoch, name))
        return found

    def rows_of(self, run_name: str) -> list[int]:
        """The valid snapshot rows of ``run_name``."""
        index = self.index
        if index.runs == [run_name]:
            return self.rows
        if run_name not in index.runs:
            return []
        run_id, runs = index.runs.index(run_name), index.run
        return [row for row in self.rows if runs[row] == run_id]

    def fresh_of(self, run_name: str) -> list[str]:
        """The valid fresh entries of ``run_name``."""
        return [name for name in self.fresh if self._fresh(name).run == run_name]

    def newest(self, run_name: str) -> Ref | None:
        """The entry of ``run_name`` with the highest epoch."""
        rows, fresh = self.rows_of(run_name), self.fresh_of(run_name)
        epochs = self.index.epoch
        candidates: list[tuple[int, Ref]] = []
        if rows:
            row = max(rows, key=epochs.__getitem__)
            candidates.append((epochs[row], row))
        candidates += [(self._fresh(name).epoch, name) for name in fresh]
        return max(candidates, key=lambda pair: pair[0])[1] if candidates else None

    def best(self, run_name: str, metric: str, mode: Mode, n: int) -> tuple[list[Ref], int, int]:
        """The best ``n`` entries of ``run_name`` by ``metric``, best first (NaN or missing
        last, ties to the newer epoch); how many entries there are; how many lack the metric.
        """
        index = self.index
        rows, fresh = self.rows_of(run_name), self.fresh_of(run_name)
        if n == 1 and not fresh and rows and len(rows) == len(index.names):
            lists = index.column_lists(metric)  # every row: the column as stored will do
            if lists is not None:
                return self._best_of_all(*lists, mode), len(rows), len(rows) - len(lists[0])
        epochs, column = index.epoch, index.column(metric)
        sign = 1.0 if mode == "max" else -1.0
        if column is None:  # no column for it: each row's metadata is read
            found = [(self.metadata_of(row), epochs[row], row) for row in rows]
            missing = sum(not has_metric(metadata, metric) for metadata, _, _ in found)
            keyed = [_rank_key(metric_value(m, metric), sign, e, r) for m, e, r in found]
        else:
            missing = len(rows) - len(column.keys() & set(rows))
            get, isnan = column.get, math.isnan

            def key(row: int) -> tuple[bool, float, int]:
                value = get(row, math.nan)
                real = not isnan(value)
                return real, sign * value if real else 0.0, epochs[row]

            keyed = [(*key(row), row) for row in heapq.nlargest(n, rows, key=key)]
        decode_all(self._fresh(name) for name in fresh)
        for name in fresh:
            metadata, entry = self.metadata_of(name), self._fresh(name)
            missing += not has_metric(metadata, metric)
            keyed.append(_rank_key(metric_value(metadata, metric), sign, entry.epoch, name))
        chosen = heapq.nlargest(n, keyed, key=lambda item: item[:3])
        return [item[3] for item in chosen], len(rows) + len(fresh), missing

    def _best_of_all(self, rows: list[int], values: list[float], mode: Mode) -> list[Ref]:
        """The best of every row, from a column's lists, in a few passes at C speed: the
        best value, then the newest row holding it (the newest row, if none has a number)."""
        epochs = self.index.epoch
        numbers = list(itertools.filterfalse(math.isnan, values))
        if not numbers:
            return [max(range(len(epochs)), key=epochs.__getitem__)]
        target = max(numbers) if mode == "max" else min(numbers)
        ties = itertools.compress(rows, map(target.__eq__, values))
        return [max(ties, key=epochs.__getitem__)]

    def _fresh(self, name: str) -> Fresh:
        entry = self.index.fresh[name]
        assert entry is not None
        return entry

    def run_of(self, ref: Ref) -> str:
        if isinstance(ref, int):
            return self.index.runs[self.index.run[ref]]
        return self._fresh(ref).run

    def name_of(self, ref: Ref) -> str:
        return self.index.names[ref] if isinstance(ref, int) else ref

    def info(self, ref: Ref) -> CheckpointInfo:
        """The ``CheckpointInfo`` of one entry (its metadata decoded afresh: the caller's)."""
        index = self.index
        name = self.name_of(ref)
        if isinstance(ref, int):
            run, epoch = index.runs[index.run[ref]], index.epoch[ref]
            metadata = index.row_metadata(ref)
        else:
            entry = self._fresh(ref)
            run, epoch, metadata = entry.run, entry.epoch, decode_meta(entry.meta)
        if metadata is None:  # the index line is unusable: the sidecar itself decides
            sidecar = _read_sidecar(self.directory, name)
            metadata = sidecar.flat_metadata()
        weights = self.directory / (name[: -len(SIDECAR_SUFFIX)] + WEIGHTS_SUFFIX)
        return CheckpointInfo(run, epoch, weights, metadata)

    def infos(self, run_name: str | None = None, *, legacy: bool = True) -> list[CheckpointInfo]:
        """Every checkpoint (of ``run_name``) by (run, epoch), legacy-named files flagged."""
        refs = self.refs(run_name)
        refs.sort(key=lambda pair: (self.run_of(pair[1]), pair[0], self.name_of(pair[1])))
        found = [self.info(ref) for _, ref in refs]
        if legacy:
            found += [info for info in self.legacy if run_name in (None, info.run_name)]
            found.sort(key=lambda info: (info.run_name, info.epoch, info.legacy, info.path.name))
        return found

    # -- ranking ---------------------------------------------------------------------------

    def metadata_of(self, ref: Ref) -> dict[str, Any]:
        """An entry's metadata for reading only (a fresh entry's is cached: do not modify)."""
        metadata = (
            self.index.row_metadata(ref) if isinstance(ref, int) else self._fresh(ref).metadata()
        )
        if metadata is None:  # the index line is unusable: the sidecar itself decides
            metadata = _read_sidecar(self.directory, self.name_of(ref)).flat_metadata()
        return metadata

    def _decode_fresh(self, refs: Iterable[tuple[int, Ref]]) -> None:
        decode_all(self._fresh(ref) for _, ref in refs if isinstance(ref, str))

    def values(self, refs: Iterable[tuple[int, Ref]], metric: str) -> list[float]:
        """The metric of each entry (NaN when it has none), in the order of ``refs``."""
        refs = list(refs)
        self._decode_fresh(refs)
        column = self.index.column(metric)
        return [
            column.get(ref, math.nan)
            if column is not None and isinstance(ref, int)
            else metric_value(self.metadata_of(ref), metric)
            for _, ref in refs
        ]

    def has_value(self, refs: Iterable[tuple[int, Ref]], metric: str) -> list[bool]:
        """Whether each entry has the metric as a number (NaN counts: it was recorded)."""
        refs = list(refs)
        self._decode_fresh(refs)
        column = self.index.column(metric)
        return [
            ref in column
            if column is not None and isinstance(ref, int)
            else has_metric(self.metadata_of(ref), metric)
            for _, ref in refs
        ]

    def metric_names(self, refs: Iterable[tuple[int, Ref]]) -> list[str]:
        """Every numeric metric path some entry has (dotted for nested metrics)."""
        index = self.index
        refs = list(refs)
        names: set[str] = set()
        rows = {ref for _, ref in refs if isinstance(ref, int)}
        for path in index.column_paths:
            column = index.column(path)
            if column is not None and not rows.isdisjoint(column):
                names.add(path)
        for _, ref in refs:
            if not isinstance(ref, int) or index.overflow:
                names.update(numeric_paths(self.metadata_of(ref)))
        return sorted(names)

    def ranked(
        self,
        refs: list[tuple[int, Ref]],
        metric: str,
        mode: Mode,
        n: int | None = None,
        values: list[float] | None = None,
    ) -> list[tuple[int, Ref]]:
        """The best ``n`` of ``refs`` (all by default), best first: NaN or missing last,
        ties to the newer epoch. ``values`` are their metric, if already known."""
        if values is None:
            values = self.values(refs, metric)
        sign = -1.0 if mode == "max" else 1.0
        nan = math.isnan
        keyed = [
            (nan(value), 0.0 if nan(value) else sign * value, -epoch, position)
            for position, ((epoch, _), value) in enumerate(zip(refs, values, strict=True))
        ]
        best = keyed if n is None or n >= len(keyed) else heapq.nsmallest(n, keyed)
        if best is keyed:
            keyed.sort()
        return [refs[item[3]] for item in best]


def _rank_key(value: float, sign: float, epoch: int, ref: Ref) -> tuple[bool, float, int, Ref]:
    """Larger is better: a number before NaN, then the better value, then the newer epoch."""
    real = not math.isnan(value)
    return real, sign * value if real else 0.0, epoch, ref


def _read_sidecar(directory: Path, name: str) -> Any:
    """The sidecar itself, for an entry whose index line is unusable."""
    raw, _ = read_sidecar_bytes(directory / name, follow_symlinks=False)
    return parse_sidecar(raw, directory / name)


def _reason(exc: BaseException, path: Path) -> str:
    message = str(exc)
    return message.removeprefix(f"{path}: ")


def _read_entry(
    directory: Path, dir_fd: int | None, name: str, run: str, epoch: int
) -> Fresh | Damage | None:
    """Read a sidecar the index does not know as it is now; ``None`` if it vanished."""
    path = directory / name
    try:
        raw, status = read_sidecar_bytes(path, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except SidecarError as exc:
        return Damage((0, 0, 0), _reason(exc, path))
    except OSError as exc:
        return Damage((0, 0, 0), f"cannot be read ({exc.strerror or exc}); fix its permissions")
    key = key_of(status)
    try:
        sidecar = parse_sidecar(raw, path)
    except SidecarError as exc:
        return Damage(key, _reason(exc, path))
    if (sidecar.run_name, sidecar.epoch) != (run, epoch):
        return Damage(
            key,
            f"describes run {sidecar.run_name!r} epoch {sidecar.epoch} but is named for run "
            f"{run!r} epoch {epoch}; restore the file or delete the checkpoint pair",
        )
    meta = json.dumps(sidecar.flat_metadata(), separators=(",", ":")).encode()
    return Fresh(key, run, epoch, meta)


def list_directory(directory: Path, default_run_name: str) -> Listing:
    """List ``directory`` now: its valid v1 checkpoints, damaged sidecars and legacy files.

    A v1 checkpoint counts only once both its ``.pt`` and its sidecar exist; the sidecar is
    committed last, so half-written checkpoints stay invisible. Legacy files without a run
    name in their name get ``default_run_name`` (and epoch -1 when the name tells none).
    """
    with gc_paused():
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return Listing(directory, Index())
        try:
            listing = _list(directory, dir_fd, default_run_name)
        finally:
            os.close(dir_fd)
    if listing.reread or listing.stale > max(64, len(listing.index.names) // 16):
        _persist(listing)
    return listing


def lookup(directory: Path, run_name: str, epoch: int) -> CheckpointInfo | Damaged | None:
    """The checkpoint ``run_name`` commits at ``epoch`` under its own name, without listing
    the directory: ``None`` if that pair is not there."""
    name = f"{stem(run_name, epoch)}{SIDECAR_SUFFIX}"
    weights = directory / f"{stem(run_name, epoch)}{WEIGHTS_SUFFIX}"
    try:
        status = os.stat(directory / name, follow_symlinks=False)
        os.stat(weights, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None
    index = memos.setdefault(directory, Index())
    key = key_of(status)
    entry = index.fresh.get(name, False)
    row = index.row_of.get(name)
    metadata = None
    if entry is False and row is not None and row_key(index, row) == key:
        metadata = index.row_metadata(row)
    elif isinstance(entry, Fresh) and entry.key == key:
        metadata = decode_meta(entry.meta)
    if metadata is not None:
        return CheckpointInfo(run_name, epoch, weights, metadata)
    damage = index.damaged.get(name)
    if damage is None or damage.key != key:
        read = (
            _read_entry(directory, None, name, run_name, epoch)
            if stat.S_ISREG(status.st_mode)
            else Damage(key, "is not a regular file; restore the sidecar, or remove it")
        )
        if read is None:
            return None
        if isinstance(read, Fresh):
            index.fresh[name] = read
            return CheckpointInfo(run_name, epoch, weights, decode_meta(read.meta) or {})
        index.damaged[name] = damage = read
    return Damaged(directory / name, run_name, epoch, damage.reason)


_Unsure = list[tuple[str, os.stat_result | None]]
"""Sidecars whose entry must be checked the slow way, with their stat if already taken."""


def _list(directory: Path, dir_fd: int, default_run_name: str) -> Listing:
    """Check each entry the index knows against its sidecar's stat, then look at the names
    it does not know: the work per indexed checkpoint is a set lookup and one ``stat``."""
    present = set(os.listdir(dir_fd))
    index = current_index(directory, dir_fd)
    listing = Listing(directory, index)
    unsure: _Unsure = []
    _check_snapshot(listing, present, dir_fd, unsure)
    _check_journal(listing, present, dir_fd, unsure)
    fresh = index.fresh
    unknown = present.difference(index.known(), fresh, map(_weights_of, fresh))
    for name in unknown:  # names the index never heard of: new sidecars, legacy files, others
        if name.endswith(SIDECAR_SUFFIX) and _weights_of(name) in present:
            unsure.append((name, None))
        elif not (name.endswith(WEIGHTS_SUFFIX) and _sidecar_of(name) in present):
            # Any legacy name: ``.pt`` files, ``<run>:v5.mpt``, bundles ``<run>:v5/`` and
            # ``<run>:v5.zip`` (SPEC §3).
            legacy = _legacy_info(directory, name, default_run_name)
            if legacy is not None:
                listing.legacy.append(legacy)
    for name, known_status in unsure:
        try:
            status = known_status or os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        damage = index.damaged.get(name)
        if damage is not None and damage.key == key_of(status):
            _note_damage(listing, name, damage)
        else:
            _reread(listing, dir_fd, name, status)
    listing.stale = len(index.names) - len(listing.rows)
    return listing


def _check_snapshot(listing: Listing, present: set[str], dir_fd: int, unsure: _Unsure) -> None:
    """The snapshot's rows whose pair is there and whose sidecar's stat still matches."""
    index, stat_at, rows = listing.index, os.stat, listing.rows
    every_pair_there = index.known() <= present  # the usual case: one subset test, in C
    superseded = index.fresh
    weights = index.weights()
    for row, (name, ino, size, mtime) in enumerate(
        zip(index.names, index.ino, index.size, index.mtime, strict=True)
    ):
        if not every_pair_there and (name not in present or weights[row] not in present):
            continue
        if superseded and name in superseded:
            continue
        try:
            status = stat_at(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed since the directory was read
        if ino == status.st_ino and mtime == status.st_mtime_ns and size == status.st_size:
            rows.append(row)
        else:
            unsure.append((name, status))


def _check_journal(listing: Listing, present: set[str], dir_fd: int, unsure: _Unsure) -> None:
    """The same for the entries newer than the snapshot (a removal that came back is new)."""
    for name, entry in listing.index.fresh.items():
        if name not in present or _weights_of(name) not in present:
            continue
        try:
            status = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if entry is not None and entry.key == key_of(status):
            listing.fresh.append(name)
        else:
            unsure.append((name, status))


def _sidecar_of(weights_name: str) -> str:
    return weights_name[: -len(WEIGHTS_SUFFIX)] + SIDECAR_SUFFIX


def _weights_of(sidecar_name: str) -> str:
    return sidecar_name[: -len(SIDECAR_SUFFIX)] + WEIGHTS_SUFFIX


def _reread(listing: Listing, dir_fd: int, name: str, status: os.stat_result) -> None:
    parsed = parse_v1_name(name)
    if parsed is None or parsed.role is not FileRole.SIDECAR:
        return  # a .yaml of some other name beside a .pt: not a v1 checkpoint
    index = listing.index
    if not stat.S_ISREG(status.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(status.st_mode) else "not a regular file"
        entry: Fresh | Damage | None = Damage(
            key_of(status),
            f"is {kind}; a run's sidecars must be regular files: replace it with the file "
            "itself, or remove it",
        )
    else:
        entry = _read_entry(listing.directory, dir_fd, name, parsed.run_name, parsed.epoch)
    listing.reread += 1
    if isinstance(entry, Fresh):
        index.fresh[name] = entry
        index.damaged.pop(name, None)
        listing.fresh.append(name)
    elif isinstance(entry, Damage):
        index.damaged[name] = entry
        index.fresh.pop(name, None)
        _note_damage(listing, name, entry)


def _note_damage(listing: Listing, name: str, damage: Damage) -> None:
    parsed = parse_v1_name(name)
    assert parsed is not None
    listing.damaged.append(
        Damaged(listing.directory / name, parsed.run_name, parsed.epoch, damage.reason)
    )


def warn_damaged(damaged: Iterable[Damaged]) -> None:
    """Warn once per process about each damaged sidecar a listing left out."""
    for item in damaged:
        try:
            key = key_of(os.stat(item.path, follow_symlinks=False))
        except OSError:
            continue
        if (item.path, key) in _warned:
            continue
        _warned.add((item.path, key))
        warnings.warn(
            f"{item.path}: {item.reason} (epoch {item.epoch} of run {item.run_name!r} is left "
            "out of listings until then; `ckpt ls` shows it as damaged)",
            DamagedSidecarWarning,
            stacklevel=4,
        )


def _legacy_info(directory: Path, name: str, default_run_name: str) -> CheckpointInfo | None:
    legacy = parse_legacy_name(name)
    if legacy is None:
        return None
    figures = (
        ("epoch", legacy.epoch),
        ("agent_step", legacy.agent_step),
        ("total_time", legacy.total_time),
        ("score", legacy.score),
    )
    return CheckpointInfo(
        run_name=legacy.run_name or default_run_name,
        epoch=legacy.epoch if legacy.epoch is not None else -1,
        path=directory / name,
        metadata={key: value for key, value in figures if value is not None},
        legacy=True,
        legacy_scheme=legacy.scheme,
    )


def scan(directory: Path, default_run_name: str) -> list[CheckpointInfo]:
    """Every committed v1 checkpoint and every legacy-named file in ``directory``.

    A damaged sidecar is left out, with a ``DamagedSidecarWarning`` (once per file and
    process) naming it and the fix.
    """
    listing = list_directory(directory, default_run_name)
    warn_damaged(listing.damaged)
    return listing.infos()


def _persist(listing: Listing) -> None:
    """Write what a listing learnt as a fresh snapshot, if nobody changed the index
    meanwhile and the directory lock is free (a cache write never waits)."""
    index = listing.index
    fresh = decodable((name, index.fresh[name]) for name in listing.fresh)
    damaged = {item.path.name: index.damaged[item.path.name] for item in listing.damaged}
    with (
        gc_paused(),
        suppress(OSError, CheckpointError),
        directory_lock(listing.directory, blocking=False) as held,
    ):
        if not held or not unchanged_since(listing.directory, index):
            return
        snapshot = build_snapshot(index, sorted(listing.rows), fresh, damaged)
        write_index(listing.directory, snapshot)
        memos.pop(listing.directory, None)  # re-read lazily: the rows are renumbered


# -- directories --------------------------------------------------------------------------------


def _is_checkpoint_name(name: str) -> bool:
    return parse_v1_name(name) is not None or parse_legacy_name(name) is not None


def walk_checkpoint_dirs(root: Path) -> Iterator[Path]:
    """Every directory at or below ``root`` holding checkpoint-named files, sorted.

    Hidden directories are skipped, and symlinked directories are not followed.
    """
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(name for name in subdirs if not name.startswith("."))
        if any(_is_checkpoint_name(name) for name in files):
            yield Path(directory)


def run_name_of_directory(directory: Path) -> str:
    """The run a directory belongs to: its name, or its parent's for ``<run>/checkpoints``."""
    resolved = directory.resolve()
    return resolved.parent.name if resolved.name == "checkpoints" else resolved.name
