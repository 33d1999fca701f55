"""``ckpt ls RUN_DIR``: a run's checkpoints, or those of every run below a directory.

A checkpoint whose sidecar is damaged is shown as ``damaged`` (the reason goes to stderr)
and makes the exit status 1: listings and selection leave it out until it is fixed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from checkpoint import CheckpointInfo, run_name_of_directory, walk_checkpoint_dirs
from checkpoint._catalog import Damaged, list_directory
from checkpoint.errors import CheckpointNotFoundError

from ._output import EXIT_FAILURE, EXIT_OK, print_error, print_json, print_table

HELP = "list the checkpoints of a run or a tree of runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")


def _as_json(info: CheckpointInfo) -> dict[str, Any]:
    return {
        "run_name": info.run_name,
        "epoch": info.epoch,
        "path": str(info.path),
        "uri": info.uri,
        "legacy": info.legacy,
        "legacy_scheme": info.legacy_scheme,
        "metadata": info.metadata,
    }


def _damaged_as_json(item: Damaged) -> dict[str, Any]:
    return {
        "run_name": item.run_name,
        "epoch": item.epoch,
        "path": str(item.path),
        "uri": item.path.resolve().as_uri(),
        "legacy": False,
        "legacy_scheme": None,
        "metadata": {},
        "damaged": True,
        "reason": item.reason,
    }


def run(args: argparse.Namespace) -> int:
    root: Path = args.run_dir
    if not root.is_dir():
        raise CheckpointNotFoundError("not a directory; pass a run's directory", root)
    infos: list[CheckpointInfo] = []
    damaged: list[Damaged] = []
    for directory in walk_checkpoint_dirs(root):
        listing = list_directory(directory, run_name_of_directory(directory))
        infos += listing.infos()
        damaged += listing.damaged
    code = EXIT_FAILURE if damaged else EXIT_OK
    if args.json:
        entries = [{**_as_json(info), "damaged": False} for info in infos]
        entries += [_damaged_as_json(item) for item in damaged]
        entries.sort(key=lambda entry: (entry["run_name"], entry["epoch"], entry["path"]))
        print_json(entries)
        return code
    rows = [
        (
            info.run_name,
            info.epoch if info.epoch >= 0 else None,
            info.legacy_scheme or "v1",
            info.metadata.get("agent_step"),
            info.metadata.get("score"),
            info.metadata.get("size"),
            _shown(info.path, root),
        )
        for info in infos
    ]
    rows += [
        (item.run_name, item.epoch, "damaged", None, None, None, _shown(item.path, root))
        for item in damaged
    ]
    rows.sort(key=lambda row: (row[0], -1 if row[1] is None else row[1], str(row[6])))
    title = f"{len(infos)} checkpoint(s) under {root}"
    if damaged:
        title += f", {len(damaged)} damaged (left out of listings and selection)"
    print_table(title, ("run", "epoch", "format", "agent_step", "score", "bytes", "path"), rows)
    for item in damaged:
        print_error(f"{item.path}: {item.reason}")
    return code


def _shown(path: Path, root: Path) -> Path:
    return path.relative_to(root) if path.is_relative_to(root) else path
