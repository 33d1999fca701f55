"""Listing a directory's checkpoints, fast, without trusting a stale cache.

Parsing ten thousand YAML sidecars per call would take seconds, so each
directory keeps ``.ckpt-index.json``: per sidecar, its (inode, size, mtime)
and the figures read from it (and each process keeps the index in memory).
A listing stats every sidecar (cheap), reuses the entries whose stat matches
and re-reads only the rest, then rewrites the index if anything changed.
The index is a cache: deleting it is always safe.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._info import CheckpointInfo
from ._naming import WEIGHTS_SUFFIX, FileRole, parse_legacy_name, parse_v1_name
from ._sidecar import read_sidecar
from ._storage import staged

INDEX_NAME = ".ckpt-index.json"
_INDEX_VERSION = 2
_SIDECAR = ".yaml"


@dataclass(frozen=True, slots=True)
class _Entry:
    """What the index knows of one sidecar, valid while the sidecar's stat is ``key``."""

    key: tuple[int, int, int]
    run_name: str
    epoch: int
    metadata: dict[str, Any]
    weights: Path


_memo: dict[Path, dict[str, _Entry]] = {}
"""Per-process copy of each directory's index, so a warm listing parses no JSON."""


def _stat_key(entry: os.DirEntry[str]) -> tuple[int, int, int]:
    stat = entry.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _load_index(directory: Path) -> dict[str, _Entry]:
    if directory in _memo:
        return _memo[directory]
    try:
        with (directory / INDEX_NAME).open("rb") as file:
            index = json.load(file)
        raw = index["entries"] if index["version"] == _INDEX_VERSION else {}
        entries = {
            name: _Entry(
                tuple(record["key"]),
                str(record["run"]),
                int(record["epoch"]),
                record["metadata"],
                directory / record["weights"],
            )
            for name, record in raw.items()
            if isinstance(record["metadata"], dict) and len(record["key"]) == 3
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}  # missing, corrupt or foreign: rebuilt from the sidecars
    _memo[directory] = entries
    return entries


def _store_index(directory: Path, entries: dict[str, _Entry]) -> None:
    _memo[directory] = entries
    records = {
        name: {
            "key": entry.key,
            "run": entry.run_name,
            "epoch": entry.epoch,
            "metadata": entry.metadata,
            "weights": entry.weights.name,
        }
        for name, entry in entries.items()
    }
    try:
        with staged(directory / INDEX_NAME) as temp:
            temp.file.write(json.dumps({"version": _INDEX_VERSION, "entries": records}).encode())
            temp.commit()
    except OSError:
        pass  # a cache that cannot be written (read-only run) is merely slower


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


def _read_entry(directory: Path, name: str, key: tuple[int, int, int]) -> _Entry | None:
    """Parse a sidecar the index does not know (or knew at another stat); ``None`` if the
    name is not a v1 sidecar's."""
    v1 = parse_v1_name(name)
    if v1 is None or v1.role is not FileRole.SIDECAR:
        return None
    metadata = read_sidecar(directory / name).flat_metadata()
    weights = directory / (name.removesuffix(_SIDECAR) + WEIGHTS_SUFFIX)
    return _Entry(key, v1.run_name, v1.epoch, metadata, weights)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a listing builds its objects.

    A listing of 10,000 checkpoints makes a few hundred thousand objects, none of them in
    a cycle, and each collection of the oldest generation rescans all of them: a third of
    the first listing in a new process.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def scan(directory: Path, default_run_name: str) -> list[CheckpointInfo]:
    """Every committed v1 checkpoint and every legacy-named file in ``directory``.

    A v1 checkpoint counts only once both its ``.pt`` and its sidecar exist;
    the sidecar is committed last, so half-written checkpoints stay invisible.
    Legacy files without a run name in their name get ``default_run_name``
    (and epoch -1 when the name tells none, as for ``trainer_state.pt``).
    """
    with _gc_paused():
        return _scan(directory, default_run_name)


def _scan(directory: Path, default_run_name: str) -> list[CheckpointInfo]:
    try:
        with os.scandir(directory) as iterator:
            files = {entry.name: entry for entry in iterator if entry.is_file()}
    except (FileNotFoundError, NotADirectoryError):
        return []
    cached = _load_index(directory)
    fresh: dict[str, _Entry] = {}
    infos: list[CheckpointInfo] = []
    for name, dir_entry in files.items():
        if name.endswith(_SIDECAR):
            if name.removesuffix(_SIDECAR) + WEIGHTS_SUFFIX not in files:
                continue
            key = _stat_key(dir_entry)
            entry = cached.get(name)
            if entry is None or entry.key != key:
                entry = _read_entry(directory, name, key)
                if entry is None:
                    continue
            fresh[name] = entry
            infos.append(
                CheckpointInfo(entry.run_name, entry.epoch, entry.weights, dict(entry.metadata))
            )
        elif (
            name.endswith(WEIGHTS_SUFFIX)
            and name.removesuffix(WEIGHTS_SUFFIX) + _SIDECAR not in files
        ):
            legacy = _legacy_info(directory, name, default_run_name)
            if legacy is not None:
                infos.append(legacy)
    if fresh != cached:
        _store_index(directory, fresh)
    infos.sort(key=lambda info: (info.run_name, info.epoch, info.legacy, info.path.name))
    return infos


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
