"""``ckpt verify PATH|DIR``: check every checkpoint, v1 or legacy, without trusting it.

A v1 checkpoint's sha256 is recomputed against its sidecar. A legacy file (any other
checkpoint, and every legacy-named file below a directory) gets every zip CRC checked and a
full safe load (``compat.load(check_crc=True)``): nothing in it runs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from checkpoint import verify_checkpoint, walk_checkpoint_dirs
from checkpoint._naming import parse_legacy_name, parse_v1_name
from checkpoint.errors import CheckpointCompatError, CheckpointNotFoundError, UnsafeCheckpointError

from ._output import EXIT_FAILURE, EXIT_OK, EXIT_UNSAFE, print_json, print_table, progress

_SIDECAR = ".yaml"


HELP = (
    "check checkpoints: v1 against their sidecars, legacy files by a safe load with every "
    "CRC (a directory: all below it)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="PATH|DIR")


def _is_v1(name: str) -> bool:
    return parse_v1_name(name) is not None


def _targets(path: Path) -> list[Path]:
    """The file itself, or below a directory: each v1 sidecar and each legacy-named file."""
    if not path.is_dir():
        if not path.exists():
            raise CheckpointNotFoundError("no such file or directory", path)
        return [path]
    found: list[Path] = []
    for directory in walk_checkpoint_dirs(path):
        for name in sorted(os.listdir(directory)):
            if name.startswith("."):
                continue
            v1_sidecar = name.endswith(_SIDECAR) and _is_v1(name)
            if v1_sidecar or (not _is_v1(name) and parse_legacy_name(name) is not None):
                found.append(directory / name)
    return found


def _check(target: Path) -> dict[str, Any]:
    """One result: ``ok``, and ``refused`` for a file the engine will not open."""
    if _is_v1(target.name):
        info = verify_checkpoint(target)
        return {"path": str(info.path), "ok": True, "detail": f"sha256 {info.metadata['sha256']}"}
    from compat import load  # imports torch: only when there are legacy files

    try:
        result = load(target, check_crc=True)
    except UnsafeCheckpointError as exc:
        return {"path": str(target), "ok": False, "refused": True, "error": str(exc)}
    detail = f"legacy {result.source_format} {result.kind}: safe load and CRCs ok"
    return {"path": str(target), "ok": True, "detail": detail}


def run(args: argparse.Namespace) -> int:
    targets = _targets(args.path)
    if not targets:
        raise CheckpointNotFoundError("no checkpoint (v1 or legacy-named) below it", args.path)
    results: list[dict[str, Any]] = []
    for target in progress(targets, "verifying"):
        try:
            results.append(_check(target))
        except CheckpointCompatError as exc:
            results.append({"path": str(target), "ok": False, "error": str(exc)})
    failed = [result for result in results if not result["ok"]]
    refused = [result for result in failed if result.get("refused")]
    if args.json:
        print_json({"checked": len(results), "failed": len(failed), "results": results})
    else:
        print_table(
            f"verified {len(results) - len(failed)}/{len(results)} checkpoint(s)",
            ("status", "path", "detail"),
            (
                (_status(result), result["path"], result.get("error") or result.get("detail"))
                for result in results
            ),
        )
    if len(failed) > len(refused):
        return EXIT_FAILURE
    return EXIT_UNSAFE if refused else EXIT_OK


def _status(result: dict[str, Any]) -> str:
    if result["ok"]:
        return "ok"
    return "REFUSED" if result.get("refused") else "FAILED"
