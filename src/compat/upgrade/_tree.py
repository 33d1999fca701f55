"""What a run tree holds, for ``ckpt migrate`` and ``ckpt verify``: every entry accounted for.

A file is a checkpoint when its name says so (a legacy scheme, or a checkpoint suffix:
runs name files freely, ``arena_run3_model_0000.pt``) or its first bytes do (a torch zip or
legacy stream, a pickle, a safetensors header, a zip of a known layout: ``training_args.bin``,
``checkpoint.pth.tar``, files without a suffix). A directory that a layout describes (a
transformers ``checkpoint-N/``) is one checkpoint and is not descended into. Everything else
is passed over with the reason, never silently: other files, hidden entries, symbolic links
(never followed, so nothing outside the tree is read) and FIFOs, devices and sockets (never
opened, so nothing blocks). Only the manager's bookkeeping and the sidecar of a v1 pair
(its weights file stands for the pair) go unmentioned.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from checkpoint._naming import WEIGHTS_SUFFIX, FileRole, parse_legacy_name, parse_v1_name
from checkpoint._storage import LOCK_NAME, is_temp_name
from checkpoint.errors import CheckpointCompatError
from compat.engine._bundles import archive_names, find_bundle
from compat.engine._containers import Format, detect, is_zip
from compat.host._hookspecs import Layout

__all__ = ["Entry", "What", "file_kind", "is_bookkeeping", "named_like_checkpoint", "survey"]

#: Names that are checkpoints even when no legacy scheme matches them; the content decides
#: for every other name.
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pth.tar", ".mpt", ".safetensors")
#: The manager's own bookkeeping: not reported.
_OWN_FILES = frozenset({LOCK_NAME, ".ckpt-index.json"})
_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO (never opened)"),
    (stat.S_ISCHR, "a character device (never opened)"),
    (stat.S_ISBLK, "a block device (never opened)"),
    (stat.S_ISSOCK, "a socket (never opened)"),
)


class What(StrEnum):
    FILE = "checkpoint file"
    BUNDLE = "checkpoint directory"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of the tree: a checkpoint (file or directory), or why it is passed over."""

    path: Path
    what: What
    reason: str = ""


def _passed_over(path: Path, mode: int) -> str | None:
    """Why an entry is not even looked into, or ``None`` for a regular file or directory."""
    if stat.S_ISLNK(mode):
        return "a symbolic link (not followed)"
    for test, reason in _SPECIAL:
        if test(mode):
            return reason
    return None


def is_bookkeeping(name: str) -> bool:
    """The manager's own files and a write in progress: never reported."""
    return name in _OWN_FILES or is_temp_name(name)


def named_like_checkpoint(name: str) -> bool:
    """A checkpoint by its name alone: a legacy scheme or a checkpoint suffix."""
    return parse_legacy_name(name) is not None or name.endswith(_CHECKPOINT_SUFFIXES)


def file_kind(path: Path, size: int, layouts: list[Layout]) -> tuple[What, str]:
    """A regular file: a checkpoint by name or by content, or why it is not one. A file
    that cannot be read is taken: its conversion reports why."""
    if named_like_checkpoint(path.name):
        return What.FILE, ""
    if size == 0:
        return What.SKIPPED, "an empty file"
    try:
        if detect(path) is Format.NOT_A_CHECKPOINT:
            return What.SKIPPED, "not a checkpoint (no torch, pickle or safetensors header)"
        names = archive_names(path) if is_zip(path) else None  # None: not a zip, or torch's
        if names is not None and not any(layout.members(names) for layout in layouts):
            return What.SKIPPED, "a zip archive of no known checkpoint layout"
    except (CheckpointCompatError, OSError):
        return What.FILE, ""
    return What.FILE, ""


def survey(root: Path, layouts: Iterable[Layout], exclude: Path | None = None) -> Iterator[Entry]:
    """Every entry below ``root``, directory by directory in name order; ``exclude`` (an
    output tree) is left out."""
    layouts = list(layouts)
    excluded = exclude.resolve() if exclude is not None else None
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as iterator:
                entries = sorted(iterator, key=lambda entry: entry.name)
        except OSError as exc:
            yield Entry(directory, What.SKIPPED, f"cannot be listed ({exc.strerror})")
            continue
        subdirectories = []
        for entry in entries:
            path = Path(entry.path)
            if is_bookkeeping(entry.name) or _is_v1_sidecar(path):
                continue  # bookkeeping, or a v1 sidecar: its weights file stands for the pair
            mode = entry.stat(follow_symlinks=False).st_mode
            reason = _passed_over(path, mode)
            if reason is None and entry.name.startswith("."):
                reason = "hidden"
            if reason is not None:
                yield Entry(path, What.SKIPPED, reason)
            elif stat.S_ISDIR(mode):
                if excluded is None or path.resolve() != excluded:
                    subdirectories.append(path)
            elif stat.S_ISREG(mode):
                size = entry.stat(follow_symlinks=False).st_size
                what, why = file_kind(path, size, layouts)
                yield Entry(path, what, why)
        for subdirectory in subdirectories:
            if _is_bundle(subdirectory, layouts):
                yield Entry(subdirectory, What.BUNDLE)
            else:
                pending.append(subdirectory)
        pending.sort(reverse=True)  # depth-first, in name order


def _is_v1_sidecar(path: Path) -> bool:
    parsed = parse_v1_name(path.name)
    return (
        parsed is not None
        and parsed.role is FileRole.SIDECAR
        and path.with_suffix(WEIGHTS_SUFFIX).is_file()
    )


def _is_bundle(directory: Path, layouts: list[Layout]) -> bool:
    try:
        return find_bundle(directory, layouts, archive=False) is not None
    except (CheckpointCompatError, OSError):
        return False
