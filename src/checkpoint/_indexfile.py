"""The run directory's index, ``.ckpt-index.json``: its format, reading it, and the
commits' appends to it.

Every save and deletion appends one line to it under the directory lock it already holds,
and now and then a save compacts the appended lines into a snapshot, so no commit rewrites
the whole index. Within a process, the index of each directory is kept in memory and
brought up to date by reading only what was appended since (``current_index``). The index
is a cache: ``_catalog`` checks every entry against its sidecar's stat before using it.

The file is lines of JSON (UTF-8, ``\\n``-separated). The snapshot comes first and is read
lazily, so that ranking 100,000 checkpoints by one figure decodes that figure only:

- line 0, the preamble: ``{"ckpt-index": 3, "rows": N, "columns": C, "journal_at": B}``;
- line 1, the header: per row its sidecar's name, run, epoch and stat (``names``, ``runs``
  and ``run``, ``epoch``, ``ino``, ``size``, ``mtime``), the metric paths kept as columns,
  and the damaged sidecars with their stat and the reason;
- lines 2 .. C+1: one column per numeric metric path, ``[[rows...], [values...]]``;
- line C+2: where each row's metadata line starts, counted from the next line, then the end;
- lines C+3 .. C+N+2: each row's metadata, the object ``CheckpointInfo.metadata`` holds;
- from byte B on, the journal: ``P<tab>name<tab>ino<tab>size<tab>mtime<tab>metadata`` for a
  commit, ``D<tab>name`` for a removal. A line that does not parse (a writer killed in the
  middle of it) is ignored.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._boundedjson import loads as bounded_loads
from ._naming import SIDECAR_SUFFIX, WEIGHTS_SUFFIX
from ._selection import numeric
from ._storage import staged
from .errors import CheckpointError

__all__ = [
    "INDEX_NAME",
    "Damage",
    "Fresh",
    "Index",
    "Key",
    "build_snapshot",
    "current_index",
    "decodable",
    "decode_all",
    "decode_meta",
    "gc_paused",
    "key_of",
    "memos",
    "numeric_paths",
    "record_commit",
    "record_removal",
    "row_key",
    "unchanged_since",
    "write_index",
]

INDEX_NAME = ".ckpt-index.json"
_VERSION = 3
#: A save compacts the journal once it is longer than this, and than an eighth of the
#: snapshot: a reader decodes at most that much more, and the compactions of a growing run
#: cost each save a constant amortised share of a snapshot rewrite.
_COMPACT_MIN_BYTES = 256 * 1024
_COMPACT_FRACTION = 8
#: Numeric metric paths kept as columns; past this, the rest are read from the metadata.
_MAX_COLUMNS = 1024
_MAX_COLUMN_DEPTH = 8
#: The preamble is read on every save: a small read, never the whole file.
_PREAMBLE_BYTES = 4096
#: Index lines are refused past this nesting (a sidecar is refused past 48, see _sidecar).
_MAX_LINE_DEPTH = 64

Key = tuple[int, int, int]
"""A sidecar's (st_ino, st_size, st_mtime_ns): the entry for it is valid while it holds."""


def key_of(status: os.stat_result) -> Key:
    return status.st_ino, status.st_size, status.st_mtime_ns


# -- the in-memory index ------------------------------------------------------------------------


@dataclass(slots=True)
class Fresh:
    """An entry newer than the snapshot: from the journal, or read from its sidecar."""

    key: Key
    run: str
    epoch: int
    meta: bytes
    decoded: dict[str, Any] | None = None  # for ranking only; never handed out

    def metadata(self) -> dict[str, Any] | None:
        if self.decoded is None:
            self.decoded = decode_meta(self.meta)
        return self.decoded


@dataclass(frozen=True, slots=True)
class Damage:
    key: Key
    reason: str


@dataclass(slots=True)
class Index:
    """What a process knows of one directory's index file."""

    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file it was read from
    consumed: int = 0  # bytes of that file applied
    journal_at: int = 0
    names: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    run: list[int] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    ino: list[int] = field(default_factory=list)
    size: list[int] = field(default_factory=list)
    mtime: list[int] = field(default_factory=list)
    column_paths: list[str] = field(default_factory=list)
    column_lines: list[bytes] = field(default_factory=list)
    columns: dict[str, dict[int, float]] = field(default_factory=dict)
    overflow: bool = False  # some numeric paths have no column
    raw: bytes = b""  # the file as read: each row's metadata is sliced from it when needed
    meta_at: int = 0  # where the rows' metadata lines start in ``raw``
    offsets_line: bytes = b"[0]"  # where each line starts, from ``meta_at``; then the end
    _offsets: list[int] | None = None
    _row_of: dict[str, int] | None = None
    _weights: list[str] | None = None
    _known: set[str] | None = None

    @property
    def row_of(self) -> dict[str, int]:
        if self._row_of is None:
            self._row_of = dict(zip(self.names, range(len(self.names)), strict=True))
        return self._row_of

    def weights(self) -> list[str]:
        """The weights file of each snapshot row."""
        if self._weights is None:
            cut = len(SIDECAR_SUFFIX)
            self._weights = [name[:-cut] + WEIGHTS_SUFFIX for name in self.names]
        return self._weights

    def known(self) -> set[str]:
        """Every file name the snapshot accounts for: its sidecars and their weights."""
        if self._known is None:
            self._known = {*self.names, *self.weights()}
        return self._known

    def offsets(self) -> list[int] | None:
        """Where each row's metadata line starts (and the last ends), from ``meta_at``;
        ``None`` if the stored offsets do not describe ``journal_at - meta_at`` bytes."""
        if self._offsets is None:
            try:
                offsets = json.loads(self.offsets_line)
            except ValueError:
                return None
            size = self.journal_at - self.meta_at
            if not (
                isinstance(offsets, list)
                and len(offsets) == len(self.names) + 1
                and set(map(type, offsets)) <= {int}
                and offsets[0] == 0
                and offsets[-1] == size
                and all(map(int.__lt__, offsets, offsets[1:]))
            ):
                return None
            self._offsets = offsets
        return self._offsets

    def meta_line(self, row: int) -> bytes | None:
        offsets = self.offsets()
        if offsets is None:
            return None
        return self.raw[self.meta_at + offsets[row] : self.meta_at + offsets[row + 1] - 1]

    fresh: dict[str, Fresh | None] = field(default_factory=dict)  # None: removed
    damaged: dict[str, Damage] = field(default_factory=dict)

    def column(self, path: str) -> dict[int, float] | None:
        """Row -> value of ``path``, or ``None`` if the snapshot keeps no column for it."""
        if path not in self.columns:
            lists = self.column_lists(path)
            if lists is None:
                return None
            self.columns[path] = dict(zip(*lists, strict=True))
        return self.columns[path]

    def column_lists(self, path: str) -> tuple[list[int], list[float]] | None:
        """The rows that have ``path`` and their values, as stored."""
        try:
            rows, values = json.loads(self.column_lines[self.column_paths.index(path)])
        except (ValueError, TypeError):
            return None
        if not (
            isinstance(rows, list)
            and isinstance(values, list)
            and len(rows) == len(values)
            and set(map(type, rows)) <= {int}
            and set(map(type, values)) <= {float}
            and (not rows or 0 <= min(rows) <= max(rows) < len(self.names))
        ):
            return None
        return rows, values

    def row_metadata(self, row: int) -> dict[str, Any] | None:
        line = self.meta_line(row)
        return None if line is None else decode_meta(line)


memos: dict[Path, Index] = {}
"""Per-process copy of each directory's index, brought up to date from the file's tail."""


def decode_meta(line: bytes) -> dict[str, Any] | None:
    try:
        value = bounded_loads(line, max_depth=_MAX_LINE_DEPTH)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _parse_snapshot(raw: bytes) -> Index | None:
    """The index in ``raw`` (a whole file), or ``None`` if it is not one we can use."""
    try:
        end = raw.index(b"\n")
        preamble = bounded_loads(raw[:end], max_depth=2)
        if not isinstance(preamble, dict) or preamble.get("ckpt-index") != _VERSION:
            return None
        rows, column_count, journal_at = (
            int(preamble["rows"]),
            int(preamble["columns"]),
            int(preamble["journal_at"]),
        )
        if not (rows >= 0 and column_count >= 0 and end < journal_at <= len(raw)):
            return None
        starts = [end + 1]  # the header, each column, the offsets: one line each
        for _ in range(column_count + 2):
            starts.append(raw.index(b"\n", starts[-1], journal_at) + 1)
        lines = [raw[start : following - 1] for start, following in itertools.pairwise(starts)]
        header = bounded_loads(lines[0], max_depth=4)
        if not isinstance(header, dict):
            return None
        index = Index(journal_at=journal_at, consumed=journal_at)
        index.names, index.runs = header["names"], header["runs"]
        index.run, index.epoch = header["run"], header["epoch"]
        index.ino, index.size, index.mtime = header["ino"], header["size"], header["mtime"]
        index.column_paths = header["columns"]
        index.overflow = header.get("overflow") is True
        strings = (index.names, index.runs, index.column_paths)
        numbers = (index.run, index.epoch, index.ino, index.size, index.mtime)
        if not (
            all(isinstance(values, list) for values in (*strings, *numbers))
            and all(set(map(type, values)) <= {str} for values in strings)
            and all(set(map(type, values)) <= {int} for values in numbers)
            and {len(values) for values in (index.names, *numbers)} <= {rows}
            and len(index.names) == rows
            and len(index.column_paths) == column_count
            and all(0 <= run < len(index.runs) for run in set(index.run))
        ):
            return None
        for name, ino, size, mtime, reason in header.get("damaged", []):
            index.damaged[str(name)] = Damage((int(ino), int(size), int(mtime)), str(reason))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    index.column_lines = lines[1:-1]
    index.offsets_line = lines[-1]
    index.raw, index.meta_at = raw, starts[-1]
    return index


def _apply_journal(index: Index, tail: bytes) -> None:
    """Apply the complete lines of ``tail`` (what follows ``consumed``); a line cut short
    by a crash is skipped once a later line completes it, and waits otherwise."""
    last_newline = tail.rfind(b"\n")
    if last_newline < 0:
        return
    fresh = index.fresh
    for line in tail[:last_newline].split(b"\n"):
        fields = line.split(b"\t", 7)
        try:
            name = fields[1].decode("ascii")
            if not name.endswith(SIDECAR_SUFFIX) or "/" in name:
                continue
            if fields[0] == b"P" and len(fields) == 8:
                key = (int(fields[4]), int(fields[5]), int(fields[6]))
                fresh[name] = Fresh(key, fields[2].decode("ascii"), int(fields[3]), fields[7])
            elif fields[0] == b"D" and len(fields) == 2:
                fresh[name] = None
        except (IndexError, ValueError):
            continue
    index.consumed += last_newline + 1


def decode_all(entries: Iterable[Fresh]) -> None:
    """Decode the metadata of many fresh entries in one parse (their lines joined into one
    JSON array); entries whose line is bad alone are decoded one by one."""
    pending = [entry for entry in entries if entry.decoded is None]
    if len(pending) < 2:
        for entry in pending:
            entry.metadata()
        return
    try:
        values = bounded_loads(
            b"[" + b",".join(entry.meta for entry in pending) + b"]", max_depth=_MAX_LINE_DEPTH
        )
    except ValueError:
        values = None
    if (
        isinstance(values, list)
        and len(values) == len(pending)
        and all(isinstance(value, dict) for value in values)
    ):
        for entry, value in zip(pending, values, strict=True):
            entry.decoded = value
    else:
        for entry in pending:
            entry.metadata()


def _open_index(dir_fd: int) -> tuple[int, os.stat_result] | None:
    try:
        fd = os.open(INDEX_NAME, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        os.close(fd)
        return None
    return fd, status


def _read_from(fd: int, offset: int, size: int) -> bytes:
    """Bytes ``offset`` to ``size`` of ``fd``: usually one read, so no copy to join."""
    first = os.pread(fd, size - offset, offset) if offset < size else b""
    chunks = [first]
    offset += len(first)
    while offset < size and (chunk := os.pread(fd, size - offset, offset)):
        chunks.append(chunk)
        offset += len(chunk)
    return first if len(chunks) == 1 else b"".join(chunks)


def current_index(directory: Path, dir_fd: int) -> Index:
    """The memo of ``directory``, brought up to date with its index file."""
    memo = memos.get(directory)
    opened = _open_index(dir_fd)
    if opened is None:
        fresh = memo if memo is not None and memo.identity is None else Index()
        memos[directory] = fresh
        return fresh
    fd, status = opened
    try:
        identity = (status.st_dev, status.st_ino)
        if memo is not None and memo.identity == identity and memo.consumed <= status.st_size:
            _apply_journal(memo, _read_from(fd, memo.consumed, status.st_size))
            return memo
        raw = _read_from(fd, 0, status.st_size)
    finally:
        os.close(fd)
    index = _parse_snapshot(raw)
    if index is None:  # unusable: every sidecar is read, and the next write replaces it
        index = Index(identity=identity, consumed=len(raw))
    else:
        index.identity = identity
        _apply_journal(index, raw[index.journal_at :])
    memos[directory] = index
    return index


def numeric_paths(metadata: Mapping[str, Any]) -> dict[str, float]:
    """Every numeric leaf of ``metadata`` by its dotted path, as ``metric_value`` reads it."""
    found: dict[str, float] = {}
    pending: list[tuple[str, Mapping[str, Any], int]] = [("", metadata, 0)]
    while pending:
        prefix, mapping, depth = pending.pop()
        for key, value in mapping.items():
            if not isinstance(key, str) or "." in key:
                continue  # a dotted metric path can never reach it
            number = numeric(value)
            if number is not None:
                found[prefix + key] = number
            elif isinstance(value, Mapping) and depth < _MAX_COLUMN_DEPTH:
                pending.append((f"{prefix}{key}.", value, depth + 1))
    return found


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a listing builds its objects.

    A listing of 100,000 checkpoints makes a few hundred thousand objects, none of them in
    a cycle, and each collection of the oldest generation rescans all of them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- writing the index --------------------------------------------------------------------------


def build_snapshot(
    old: Index,
    kept: list[int],
    fresh: list[tuple[str, Fresh]],
    damaged: Mapping[str, Damage],
) -> bytes:
    """A snapshot (no journal) of the rows ``kept`` (ascending) of ``old`` and the ``fresh``
    entries, whose metadata must decode.

    Built column by column: the kept rows' metadata lines and column values are carried
    over as they are (when no row is dropped, the whole metadata section is copied), so a
    compaction costs little more than reading and writing the file.
    """
    if kept and old.offsets() is None:
        kept = []  # their metadata cannot be found: they are read again from their sidecars
    runs = list(old.runs)
    run_id = {run: position for position, run in enumerate(runs)}
    for _, entry in fresh:
        if entry.run not in run_id:
            run_id[entry.run] = len(runs)
            runs.append(entry.run)
    header: dict[str, Any] = {
        "names": [old.names[row] for row in kept] + [name for name, _ in fresh],
        "runs": runs,
        "run": [old.run[row] for row in kept] + [run_id[entry.run] for _, entry in fresh],
        "epoch": [old.epoch[row] for row in kept] + [entry.epoch for _, entry in fresh],
        "ino": [old.ino[row] for row in kept] + [entry.key[0] for _, entry in fresh],
        "size": [old.size[row] for row in kept] + [entry.key[1] for _, entry in fresh],
        "mtime": [old.mtime[row] for row in kept] + [entry.key[2] for _, entry in fresh],
    }
    columns, overflow = _columns(old, kept, fresh)
    header["columns"] = list(columns)
    header["overflow"] = overflow
    header["damaged"] = [[name, *damage.key, damage.reason] for name, damage in damaged.items()]
    metas, offsets = _metadata_section(old, kept, fresh)
    body = b"".join(
        [
            json.dumps(header, separators=(",", ":")).encode(),
            b"\n",
            *(
                json.dumps([rows, values], separators=(",", ":")).encode() + b"\n"
                for rows, values in columns.values()
            ),
            json.dumps(offsets, separators=(",", ":")).encode(),
            b"\n",
            metas,
        ]
    )
    return _preamble(len(kept) + len(fresh), len(columns), len(body)) + body


def _metadata_section(
    old: Index, kept: list[int], fresh: list[tuple[str, Fresh]]
) -> tuple[bytes, list[int]]:
    """The metadata lines of the new rows, and where each starts (then where they end). When
    every old row is kept, their lines are copied as one block."""
    old_offsets = old.offsets() if old.names else [0]
    assert old_offsets is not None  # checked by the caller
    section = old.raw[old.meta_at : old.journal_at]
    if len(kept) == len(old.names):
        chunks, offsets = [section], list(old_offsets)
    else:
        chunks, offsets = [], [0]
        for row in kept:
            start, end = old_offsets[row], old_offsets[row + 1]
            chunks.append(section[start:end])
            offsets.append(offsets[-1] + end - start)
    for _, entry in fresh:
        chunks.append(entry.meta + b"\n")
        offsets.append(offsets[-1] + len(entry.meta) + 1)
    return b"".join(chunks), offsets


def _columns(
    old: Index, kept: list[int], fresh: list[tuple[str, Fresh]]
) -> tuple[dict[str, tuple[list[int], list[float]]], bool]:
    """The numeric columns of a new snapshot, and whether some paths have none.

    The old columns are carried over (renumbered if rows were dropped), then paths only
    fresh entries have are added, the most common first. An old row may hold a path without
    a column only if the old snapshot overflowed; then no new column could be complete, and
    none is made.
    """
    columns: dict[str, tuple[list[int], list[float]]] = {}
    overflow = old.overflow
    renumbered: list[int] | None = None
    if len(kept) != len(old.names):
        renumbered = [-1] * len(old.names)
        for position, row in enumerate(kept):
            renumbered[row] = position
    for path in old.column_paths:
        lists = old.column_lists(path)
        if lists is None:
            overflow = True
            continue
        rows, values = lists
        if renumbered is not None:
            pairs = [(renumbered[row], value) for row, value in zip(rows, values, strict=True)]
            rows = [position for position, _ in pairs if position >= 0]
            values = [value for position, value in pairs if position >= 0]
        columns[path] = (rows, values)
    numbers = [numeric_paths(entry.metadata() or {}) for _, entry in fresh]
    counts: dict[str, int] = {}
    for found in numbers:
        for path in found:
            counts[path] = counts.get(path, 0) + 1
    new_paths = sorted((path for path in counts if path not in columns), key=lambda p: -counts[p])
    if old.overflow and kept:
        new_paths = []
    room = max(_MAX_COLUMNS - len(columns), 0)
    overflow = overflow or len(new_paths) > room
    for path in new_paths[:room]:
        columns[path] = ([], [])
    for offset, found in enumerate(numbers, start=len(kept)):
        for path, value in found.items():
            column = columns.get(path)
            if column is not None:
                column[0].append(offset)
                column[1].append(value)
    return columns, overflow


def row_key(index: Index, row: int) -> Key:
    return index.ino[row], index.size[row], index.mtime[row]


def _preamble(rows: int, columns: int, body_size: int) -> bytes:
    """The preamble line; ``journal_at`` counts the preamble itself, so it is solved for."""
    journal_at = body_size
    while True:
        fields = {"ckpt-index": _VERSION, "rows": rows, "columns": columns}
        line = json.dumps({**fields, "journal_at": journal_at}).encode() + b"\n"
        if len(line) + body_size == journal_at:
            return line
        journal_at = len(line) + body_size


def decodable(items: Iterable[tuple[str, Fresh | None]]) -> list[tuple[str, Fresh]]:
    """The fresh entries worth a row: their metadata decodes (others are left to re-read)."""
    entries = [(name, entry) for name, entry in items if entry is not None]
    decode_all(entry for _, entry in entries)
    return [(name, entry) for name, entry in entries if entry.metadata() is not None]


def write_index(directory: Path, content: bytes) -> None:
    with staged(directory / INDEX_NAME) as temp:
        temp.file.write(content)
        temp.commit()  # a cache: no fsync; a crash leaves the old index or none


def unchanged_since(directory: Path, index: Index) -> bool:
    try:
        status = os.stat(directory / INDEX_NAME)
    except FileNotFoundError:
        return index.identity is None
    return (status.st_dev, status.st_ino) == index.identity and status.st_size == index.consumed


def record_commit(
    directory: Path, name: str, run_name: str, epoch: int, key: Key, metadata: Mapping[str, Any]
) -> None:
    """Index the sidecar of ``run_name``'s ``epoch`` just committed as ``name``; the caller
    holds the directory lock."""
    meta = json.dumps(dict(metadata), separators=(",", ":")).encode()
    fields = (name.encode("ascii"), run_name.encode("ascii"), epoch, *key, meta)
    _append(directory, b"P\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n" % fields)
    memo = memos.get(directory)
    if memo is not None:
        memo.fresh[name] = Fresh(key, run_name, epoch, meta)
        memo.damaged.pop(name, None)


def record_removal(directory: Path, names: Iterable[str]) -> None:
    """Unindex sidecars just removed; the caller holds the directory lock."""
    names = list(names)
    if not names:
        return
    _append(directory, b"".join(b"D\t%s\n" % name.encode("ascii") for name in names))
    memo = memos.get(directory)
    if memo is not None:
        for name in names:
            memo.fresh[name] = None
            memo.damaged.pop(name, None)


def _append(directory: Path, lines: bytes) -> None:
    """Append journal lines to the index, creating or compacting it when due. A failure
    is not an error: the index is a cache, and the next listing reads the sidecars."""
    try:
        fd = os.open(directory / INDEX_NAME, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = -1
    except OSError:
        return
    try:
        if fd >= 0 and _append_to(directory, fd, lines):
            return
    except (OSError, CheckpointError):
        return
    finally:
        if fd >= 0:
            os.close(fd)
    # No index yet, or one this version cannot extend: start a new one with these lines.
    with suppress(OSError, CheckpointError):
        write_index(directory, build_snapshot(Index(), [], [], {}) + lines)
        memos.pop(directory, None)


_appended: dict[Path, tuple[tuple[int, int], int, int]] = {}
"""Per directory, this process's last append: the index file's (st_dev, st_ino), where its
journal starts, and its size after the append. Writers replace the file, never rewrite it
in place, so while the identity holds the preamble need not be read again, and while the
size holds nobody appended after us (our line is whole)."""


def _append_to(directory: Path, fd: int, lines: bytes) -> bool:
    """Append to (or compact) the index open as ``fd``; ``False`` if it is not ours."""
    status = os.fstat(fd)
    identity = (status.st_dev, status.st_ino)
    last = _appended.get(directory)
    if last is not None and last[0] == identity:
        journal_at: int | None = last[1]
    else:
        journal_at = _journal_start(fd)
        last = None
    if journal_at is None or not stat.S_ISREG(status.st_mode) or journal_at > status.st_size:
        return False
    journal = status.st_size - journal_at
    if journal > max(_COMPACT_MIN_BYTES, journal_at // _COMPACT_FRACTION):
        _appended.pop(directory, None)
        return _compact(directory, fd, status.st_size, lines)
    ours_was_last = last is not None and last[2] == status.st_size
    if journal > 0 and not ours_was_last and os.pread(fd, 1, status.st_size - 1) != b"\n":
        lines = b"\n" + lines  # a writer died mid-line: end its line first
    written = os.write(fd, lines)
    if written == len(lines):
        _appended[directory] = (identity, journal_at, status.st_size + written)
    else:  # a short write (disk full): the next append ends the line, or a reader skips it
        _appended.pop(directory, None)
    return True


def _journal_start(fd: int) -> int | None:
    head = os.pread(fd, _PREAMBLE_BYTES, 0)
    end = head.find(b"\n")
    if end < 0:
        return None
    try:
        preamble = json.loads(head[:end])
        if isinstance(preamble, dict) and preamble.get("ckpt-index") == _VERSION:
            journal_at = int(preamble["journal_at"])
            return journal_at if journal_at > end else None
    except (ValueError, TypeError, KeyError):
        pass
    return None


def _compact(directory: Path, fd: int, size: int, lines: bytes) -> bool:
    """Fold the journal (and ``lines``) into a new snapshot; under the directory lock.
    ``False`` if the index does not parse (the caller starts a new one)."""
    with gc_paused():
        raw = _read_from(fd, 0, size)
        index = _parse_snapshot(raw)
        if index is None:
            return False
        _apply_journal(index, raw[index.journal_at :] + (b"" if raw.endswith(b"\n") else b"\n"))
        _apply_journal(index, lines)
        kept = [row for row, name in enumerate(index.names) if name not in index.fresh]
        damaged = {
            name: damage for name, damage in index.damaged.items() if name not in index.fresh
        }
        snapshot = build_snapshot(index, kept, decodable(index.fresh.items()), damaged)
        write_index(directory, snapshot)
    memos.pop(directory, None)
    return True
