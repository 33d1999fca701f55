"""``ckpt verify PATH|DIR``: check every checkpoint, v1 or legacy, without trusting it.

A v1 checkpoint's sha256 is recomputed against its sidecar, and its pickle is read statically:
it must name nothing but torch's tensor machinery. Any other checkpoint (below a
directory, the files ``ckpt migrate`` would pick, v1 trainer states included) gets every
zip CRC checked and a full safe load (``compat.load(check_crc=True)``): nothing in it runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from checkpoint import verify_checkpoint
from checkpoint._naming import FileRole, parse_v1_name
from checkpoint._plainweights import check_plain_weights
from checkpoint._wording import plural
from checkpoint.errors import CheckpointCompatError, CheckpointNotFoundError, UnsafeCheckpointError
from compat.engine._bundles import enabled_layouts
from compat.upgrade._tree import What, survey

from ._arguments import path_or_url
from ._interrupt import interrupts_held
from ._output import EXIT_FAILURE, EXIT_OK, EXIT_UNSAFE, print_json, print_table, progress

HELP = (
    "check checkpoints: v1 against their sidecars, anything else by a safe load with every "
    "CRC (a directory: all below it)"
)
EXITS = {
    EXIT_FAILURE: "a checkpoint failed its check, or no checkpoint was found",
    EXIT_UNSAFE: "the only failures are files refused as unsafe",
}
EXAMPLES = (
    "ckpt verify runs/run7/checkpoints",
    "ckpt verify runs/run7/checkpoints/run7.e00000005.pt",
)
_SIDECAR = ".yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        type=path_or_url,
        metavar="PATH|DIR",
        help="a checkpoint, or a directory: every checkpoint below it",
    )


def _v1_role(name: str) -> FileRole | None:
    parsed = parse_v1_name(name)
    return None if parsed is None else parsed.role


def _targets(path: Path) -> list[Path]:
    """The file itself; below a directory, each v1 sidecar and every other checkpoint file
    or checkpoint directory ``ckpt migrate`` would take (a v1 weights file is covered by
    its sidecar)."""
    if not path.is_dir():
        if not path.exists():
            raise CheckpointNotFoundError("no such file or directory", path)
        return [path]
    found: list[Path] = []
    for entry in survey(path, enabled_layouts()):
        sidecar = entry.path.with_suffix(_SIDECAR)
        if _v1_role(entry.path.name) is FileRole.WEIGHTS and sidecar.exists():
            # A committed v1 pair: its sidecar vouches for the weights, which verify checks
            # even when the walk skipped them (a link to a device is damage to report).
            found.append(sidecar)
        elif entry.what is What.SKIPPED:
            continue
        else:
            found.append(entry.path)
    return sorted(found)


def _check(target: Path) -> dict[str, Any]:
    """One result: ``ok``, and ``refused`` for a file the engine will not open."""
    if _v1_role(target.name) in (FileRole.SIDECAR, FileRole.WEIGHTS):
        info = verify_checkpoint(target)
        try:
            check_plain_weights(info.path)
        except UnsafeCheckpointError as exc:
            return {"path": str(info.path), "ok": False, "refused": True, "error": str(exc)}
        detail = f"sha256 {info.metadata['sha256']}, a plain state_dict"
        return {"path": str(info.path), "ok": True, "detail": detail}
    with interrupts_held():  # imports torch: only when there are such files
        from compat import load

    try:
        result = load(target, check_crc=True)
    except UnsafeCheckpointError as exc:
        return {"path": str(target), "ok": False, "refused": True, "error": str(exc)}
    detail = f"{result.source_format} {result.kind}: safe load and CRCs ok"
    return {"path": str(target), "ok": True, "detail": detail}


def run(args: argparse.Namespace) -> int:
    if isinstance(args.path, str):  # a URL: s3://bucket/prefix/run7
        from ._remote import verify  # fsspec: only for URLs

        return verify(args)
    targets = _targets(args.path)
    if not targets:
        raise CheckpointNotFoundError("no checkpoint file below it", args.path)
    results: list[dict[str, Any]] = []
    for target in progress(targets, "verifying"):
        try:
            results.append(_check(target))
        except CheckpointCompatError as exc:  # the file it is about: a v1 pair's .pt, say
            path = getattr(exc, "path", None) or target
            results.append({"path": str(path), "ok": False, "error": str(exc)})
    return report(args, results, "path")


def report(args: argparse.Namespace, results: list[dict[str, Any]], where: str) -> int:
    """Print the results (a table, or JSON), local or remote; the exit code they give."""
    failed = [result for result in results if not result["ok"]]
    refused = [result for result in failed if result.get("refused")]
    if args.json:
        print_json({"checked": len(results), "failed": len(failed), "results": results})
    else:
        print_table(
            f"verified {len(results) - len(failed)} of {plural(len(results), 'checkpoint')}",
            ("status", where, "detail"),
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
