"""``ckpt migrate DIR [--out DIR] [--jobs N] [--dry-run]``: upgrade a whole run tree to v1.

Outputs go to ``<DIR>-v1`` next to ``DIR`` unless ``--out`` names another place; sources
are never modified. Exit 0 when every file converted, was already done or was skipped;
1 when any conversion failed; 3 when the only problems are files refused as unsafe.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from checkpoint.errors import CheckpointNotFoundError

from ._output import EXIT_FAILURE, EXIT_OK, EXIT_UNSAFE, print_json, print_table, progress


def _jobs(value: str) -> int:
    jobs = int(value)
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"--jobs {value}: use at least 1")
    return jobs


HELP = "convert every checkpoint below DIR to v1 (verified, resumable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, metavar="DIR")
    parser.add_argument("--out", type=Path, help="output tree (default: DIR-v1 next to DIR)")
    parser.add_argument("--jobs", type=_jobs, default=1, help="worker processes (default 1)")
    parser.add_argument("--dry-run", action="store_true", help="report, write nothing")


def run(args: argparse.Namespace) -> int:
    from compat.upgrade._migrate import Status, default_out, migrate  # imports torch: only when run

    if not args.dir.is_dir():
        raise CheckpointNotFoundError("is not a directory; pass a run tree to migrate", args.dir)
    out = args.out if args.out is not None else default_out(args.dir)
    outcomes = migrate(
        args.dir,
        out,
        jobs=args.jobs,
        dry_run=args.dry_run,
        track=lambda pending: progress(pending, "migrating"),
    )
    counts = Counter(str(outcome.status) for outcome in outcomes)
    if args.json:
        print_json(
            {
                "root": str(args.dir),
                "out": str(out),
                "dry_run": args.dry_run,
                "counts": {str(status): counts[str(status)] for status in Status},
                "results": [outcome.to_json() for outcome in outcomes],
            }
        )
    else:
        summary = ", ".join(f"{counts[str(s)]} {s}" for s in Status if counts[str(s)])
        print_table(
            f"migrate {args.dir} -> {out}: {summary or 'no checkpoints found'}",
            ("status", "source", "detail"),
            ((str(o.status), str(o.source), o.detail) for o in outcomes),
        )
    statuses = {outcome.status for outcome in outcomes}
    if Status.FAILED in statuses:
        return EXIT_FAILURE
    return EXIT_UNSAFE if Status.REFUSED in statuses else EXIT_OK
