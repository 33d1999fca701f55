"""``ckpt ls RUN_DIR``: a run's checkpoints, or those of every run below a directory.

Each epoch shows whether it has a trainer state (`<run>.e<epoch>.trainer.pt`); a trainer
state without weights is listed on its own, so `ls` and `verify` agree on what is there.
A checkpoint whose sidecar is damaged is shown as `damaged` (the reason goes to stderr) and
makes the exit status 1: listings and selection leave it out until it is fixed. Finding no
checkpoint at all is a failure too (exit 1), as for `ckpt verify` and `ckpt migrate`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkpoint import CheckpointInfo, run_name_of_directory, walk_checkpoint_dirs
from checkpoint._catalog import Damaged, list_directory
from checkpoint._naming import FileRole, parse_v1_name
from checkpoint._wording import plural
from checkpoint.errors import CheckpointNotFoundError

from ._arguments import existing_tree, path_or_url
from ._output import EXIT_FAILURE, EXIT_OK, print_error, print_json, print_table

HELP = "list the checkpoints of a run or a tree of runs"
EXITS = {EXIT_FAILURE: "a sidecar is damaged, or no checkpoint was found"}
EXAMPLES = ("ckpt ls runs/run7/checkpoints", "ckpt ls runs --json")
_COLUMNS = ("run", "epoch", "format", "trainer", "agent_step", "score", "bytes", "path")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir",
        type=path_or_url,
        metavar="RUN_DIR",
        help="a run's checkpoint directory, or a directory of runs (all are listed)",
    )


@dataclass
class _Found:
    """What one directory holds: checkpoints, damaged sidecars, trainer states by epoch."""

    infos: list[CheckpointInfo]
    damaged: list[Damaged]
    trainers: dict[tuple[str, int], Path]  # (run, epoch) -> its .trainer.pt

    def trainer_of(self, run_name: str, epoch: int) -> Path | None:
        return self.trainers.get((run_name, epoch))

    def lone_trainers(self) -> list[tuple[str, int, Path]]:
        """Trainer states whose epoch has no weights listed (nor damaged)."""
        listed = {(info.run_name, info.epoch) for info in self.infos if not info.legacy}
        listed |= {(item.run_name, item.epoch) for item in self.damaged}
        return [
            (run, epoch, path)
            for (run, epoch), path in self.trainers.items()
            if (run, epoch) not in listed
        ]


def _survey(root: Path) -> _Found:
    found = _Found([], [], {})
    for directory in walk_checkpoint_dirs(root):
        listing = list_directory(directory, run_name_of_directory(directory))
        found.infos += listing.infos()
        found.damaged += listing.damaged
        for name in os.listdir(directory):
            parsed = parse_v1_name(name)
            if parsed is not None and parsed.role is FileRole.TRAINER:
                found.trainers[(parsed.run_name, parsed.epoch)] = directory / name
    return found


def run(args: argparse.Namespace) -> int:
    if isinstance(args.run_dir, str):  # a URL: s3://bucket/prefix/run7
        from ._remote import ls  # fsspec: only for URLs

        return ls(args)
    root = existing_tree(args.run_dir, "ls", "ckpt inspect {path}")
    found = _survey(root)
    lone = found.lone_trainers()
    if not (found.infos or found.damaged or lone):
        raise CheckpointNotFoundError(
            "no checkpoint below it (no v1 pair, trainer state or legacy-named file); "
            "`ckpt migrate` shows which other files it would take",
            root,
        )
    code = EXIT_FAILURE if found.damaged else EXIT_OK
    if args.json:
        print_json(_entries(found, lone))
        return code
    rows: list[tuple[Any, ...]] = [
        (
            info.run_name,
            info.epoch if info.epoch >= 0 else None,
            info.legacy_scheme or "v1",
            _has_trainer(found, info),
            info.metadata.get("agent_step"),
            info.metadata.get("score"),
            info.metadata.get("size"),
            _shown(info.path, root),
        )
        for info in found.infos
    ]
    rows += [
        (item.run_name, item.epoch, "damaged", None, None, None, None, _shown(item.path, root))
        for item in found.damaged
    ]
    rows += [
        (
            run_name,
            epoch,
            "v1 trainer state",
            "yes",
            None,
            None,
            path.stat().st_size,
            _shown(path, root),
        )
        for run_name, epoch, path in lone
    ]
    rows.sort(key=lambda row: (row[0], -1 if row[1] is None else row[1], str(row[-1])))
    title = f"{plural(len(found.infos), 'checkpoint')} under {root}"
    if lone:
        title += f", {plural(len(lone), 'trainer state')} without weights"
    if found.damaged:
        title += f", {len(found.damaged)} damaged (left out of listings and selection)"
    print_table(title, _COLUMNS, rows)
    for item in found.damaged:
        print_error(f"{item.path}: {item.reason}")
    return code


def _has_trainer(found: _Found, info: CheckpointInfo) -> str | None:
    """``yes``/``no`` for a v1 epoch; legacy files carry their own state, or are one."""
    if info.legacy:
        return None
    return "yes" if found.trainer_of(info.run_name, info.epoch) else "no"


def _entries(found: _Found, lone: list[tuple[str, int, Path]]) -> list[dict[str, Any]]:
    entries = [
        {
            "run_name": info.run_name,
            "epoch": info.epoch,
            "path": str(info.path),
            "uri": info.uri,
            "legacy": info.legacy,
            "legacy_scheme": info.legacy_scheme,
            "trainer_state": _path_or_none(found.trainer_of(info.run_name, info.epoch))
            if not info.legacy
            else None,
            "metadata": info.metadata,
            "damaged": False,
        }
        for info in found.infos
    ]
    entries += [
        {
            "run_name": item.run_name,
            "epoch": item.epoch,
            "path": str(item.path),
            "uri": item.path.resolve().as_uri(),
            "legacy": False,
            "legacy_scheme": None,
            "trainer_state": _path_or_none(found.trainer_of(item.run_name, item.epoch)),
            "metadata": {},
            "damaged": True,
            "reason": item.reason,
        }
        for item in found.damaged
    ]
    entries += [
        {
            "run_name": run_name,
            "epoch": epoch,
            "path": str(path),
            "uri": path.resolve().as_uri(),
            "legacy": False,
            "legacy_scheme": None,
            "trainer_state": str(path),
            "metadata": {},
            "damaged": False,
        }
        for run_name, epoch, path in lone
    ]
    entries.sort(key=lambda entry: (entry["run_name"], entry["epoch"], entry["path"]))
    return entries


def _path_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _shown(path: Path, root: Path) -> Path:
    return path.relative_to(root) if path.is_relative_to(root) else path
