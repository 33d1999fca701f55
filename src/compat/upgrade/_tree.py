"""Which files below a directory are checkpoints, for ``ckpt migrate`` and ``ckpt verify``.

A file is a checkpoint when a legacy naming scheme matches it or when it has a checkpoint
suffix (many runs name files freely: ``arena_run3_model_0000.pt``). Hidden files and
directories are skipped, and symlinked directories are not followed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from checkpoint._naming import parse_legacy_name

__all__ = ["is_checkpoint_file", "walk_files"]

#: Names that are checkpoints even when no legacy scheme matches them.
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def is_checkpoint_file(name: str) -> bool:
    return parse_legacy_name(name) is not None or name.endswith(_CHECKPOINT_SUFFIXES)


def walk_files(root: Path, exclude: Path | None = None) -> Iterator[tuple[Path, list[str]]]:
    """Each directory below ``root`` with its file names, sorted; ``exclude`` is skipped."""
    excluded = exclude.resolve() if exclude is not None else None
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        subdirs[:] = sorted(
            name
            for name in subdirs
            if not name.startswith(".") and (here / name).resolve() != excluded
        )
        yield here, sorted(name for name in files if not name.startswith("."))
