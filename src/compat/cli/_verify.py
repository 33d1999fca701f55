"""``ckpt verify PATH|DIR``: recompute every v1 checkpoint's sha256 against its sidecar."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from checkpoint import verify_checkpoint, walk_checkpoint_dirs
from checkpoint.errors import CheckpointCompatError, CheckpointNotFoundError

from ._output import EXIT_FAILURE, EXIT_OK, print_json, print_table, progress

_SIDECAR = ".yaml"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "verify", help="check v1 checkpoints against their sidecars (a directory: all below it)"
    )
    parser.add_argument("path", type=Path, metavar="PATH|DIR")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def _targets(path: Path) -> list[Path]:
    if not path.is_dir():
        if not path.exists():
            raise CheckpointNotFoundError("no such file or directory", path)
        return [path]
    return [
        directory / name
        for directory in walk_checkpoint_dirs(path)
        for name in sorted(os.listdir(directory))
        if name.endswith(_SIDECAR) and not name.startswith(".")
    ]


def run(args: argparse.Namespace) -> int:
    targets = _targets(args.path)
    if not targets:
        raise CheckpointNotFoundError("no v1 checkpoint (<run>.e<epoch>.yaml) below it", args.path)
    results: list[dict[str, Any]] = []
    for target in progress(targets, "verifying"):
        try:
            info = verify_checkpoint(target)
        except CheckpointCompatError as exc:
            results.append({"path": str(target), "ok": False, "error": str(exc)})
        else:
            results.append({"path": str(info.path), "ok": True, "sha256": info.metadata["sha256"]})
    failed = [result for result in results if not result["ok"]]
    if args.json:
        print_json({"checked": len(results), "failed": len(failed), "results": results})
    else:
        print_table(
            f"verified {len(results) - len(failed)}/{len(results)} checkpoint(s)",
            ("status", "path", "detail"),
            (
                ("ok" if result["ok"] else "FAILED", result["path"], result.get("error"))
                for result in results
            ),
        )
    return EXIT_FAILURE if failed else EXIT_OK
