"""``ckpt ls RUN_DIR``: a run's checkpoints, or those of every run below a directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from checkpoint import CheckpointInfo, run_name_of_directory, scan, walk_checkpoint_dirs
from checkpoint.errors import CheckpointNotFoundError

from ._output import EXIT_OK, print_json, print_table

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


def run(args: argparse.Namespace) -> int:
    root: Path = args.run_dir
    if not root.is_dir():
        raise CheckpointNotFoundError("not a directory; pass a run's directory", root)
    infos = [
        info
        for directory in walk_checkpoint_dirs(root)
        for info in scan(directory, run_name_of_directory(directory))
    ]
    if args.json:
        print_json([_as_json(info) for info in infos])
        return EXIT_OK
    print_table(
        f"{len(infos)} checkpoint(s) under {root}",
        ("run", "epoch", "format", "agent_step", "score", "bytes", "path"),
        (
            (
                info.run_name,
                info.epoch if info.epoch >= 0 else None,
                info.legacy_scheme or "v1",
                info.metadata.get("agent_step"),
                info.metadata.get("score"),
                info.metadata.get("size"),
                info.path.relative_to(root) if info.path.is_relative_to(root) else info.path,
            )
            for info in infos
        ),
    )
    return EXIT_OK
