"""``ckpt migrate DIR [--out DIR] [--jobs N] [--dry-run]``: upgrade a whole run tree to v1.

Outputs go to `DIR-v1` next to `DIR` unless `--out` names another place outside `DIR`;
sources are never modified, and re-running the same command resumes: what is already
done is verified and said so. `--dry-run` reads each file's pickle statically (no tensor
data) and reports what the real run would do, with the exit code it would give. Finding no
checkpoint at all is a failure (exit 1), as for `ckpt ls` and `ckpt verify`. Either tree
may be a URL (`s3://bucket/runs/old`): one file at a time is then downloaded, converted and
published (see `compat.upgrade._remote`).
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from checkpoint.errors import CheckpointNotFoundError, MigrationInterrupted

from ._arguments import existing_tree, migration_sides, output_tree, path_or_url, worker_count
from ._interrupt import interrupts_held
from ._output import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNSAFE,
    print_error,
    print_json,
    print_table,
    progress,
)

if TYPE_CHECKING:
    from compat.upgrade._migrate import Outcome, Status
    from compat.upgrade._workers import StopFlag, WorkerPool

#: Kept here, not imported: importing ``_migrate`` imports torch (see ``_migrate.WORKER_ENTRY``).
WORKER_ENTRY = "compat.upgrade._migrate:_work"


HELP = "convert every checkpoint below DIR to v1 (verified, resumable)"
EXITS = {
    EXIT_FAILURE: "a conversion failed, or no checkpoint was found",
    EXIT_UNSAFE: "the only problems are files refused as unsafe",
    EXIT_INTERRUPTED: "Ctrl-C stopped it after the files in flight; re-run to resume",
}
EXAMPLES = (
    "ckpt migrate runs/old --dry-run",
    "ckpt migrate runs/old --out runs/old-v1 --jobs 2",
    "ckpt migrate s3://bucket/runs/old --out s3://bucket/runs/old-v1",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dir", type=path_or_url, metavar="DIR", help="the tree of legacy checkpoints to upgrade"
    )
    parser.add_argument(
        "--out", type=path_or_url, help="output tree, outside DIR (default: DIR-v1 next to DIR)"
    )
    parser.add_argument(
        "--jobs", type=worker_count, default=1, help="files converted at a time (default 1)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would happen, write nothing"
    )


def run(args: argparse.Namespace) -> int:
    if isinstance(args.dir, str) or isinstance(args.out, str):  # a URL: s3://bucket/runs
        args.dir, args.out = migration_sides(args.dir, args.out, args.jobs)
    else:
        args.dir = existing_tree(args.dir, "migrate", "ckpt convert {path} OUT_DIR/")
        args.out = output_tree(args.out, args.dir)
    from compat.upgrade._workers import StopFlag, WorkerPool, stop_on_sigint

    # From here on Ctrl-C asks the run to stop, and the workers start now: their import of
    # torch then overlaps ours, instead of coming after it.
    with stop_on_sigint(StopFlag()) as stop:
        pool = WorkerPool(args.jobs - 1, WORKER_ENTRY) if args.jobs > 1 else None
        try:
            return _migrate(args, pool, stop)
        finally:
            if pool is not None:
                pool.close()


def _migrate(args: argparse.Namespace, pool: WorkerPool | None, stop: StopFlag) -> int:
    with interrupts_held():  # imports torch: only when run
        from compat.upgrade._migrate import Status, migrate

    out: Path | str = args.out

    def track(conversions: object) -> Iterator[Outcome]:
        return progress(cast("Sequence[Outcome]", conversions), "migrating")

    try:
        if isinstance(args.dir, str) or isinstance(out, str):
            from compat.upgrade._remote import migrate_remote  # fsspec: only for URLs

            outcomes = migrate_remote(args.dir, out, dry_run=args.dry_run, track=track, stop=stop)
        else:
            outcomes = migrate(
                args.dir,
                out,
                jobs=args.jobs,
                dry_run=args.dry_run,
                track=track,
                pool=pool,
                stop=stop,
            )
    except MigrationInterrupted as interrupted:
        _report(args, out, interrupted.outcomes, Status, interrupted.not_started)
        print_error(
            f"interrupted: {interrupted.done} checkpoint(s) finished, "
            f"{interrupted.not_started} not started; re-run the same command to resume"
        )
        return EXIT_INTERRUPTED
    if all(outcome.status is Status.SKIPPED for outcome in outcomes):
        passed = f" ({len(outcomes)} other files passed over)" if outcomes else ""
        raise CheckpointNotFoundError(
            f"no checkpoint to migrate below it{passed}; `ckpt inspect FILE` says what a file is",
            args.dir,
        )
    _report(args, out, outcomes, Status, None)
    statuses = {outcome.status for outcome in outcomes}
    if Status.FAILED in statuses:
        return EXIT_FAILURE
    return EXIT_UNSAFE if Status.REFUSED in statuses else EXIT_OK


def _report(
    args: argparse.Namespace,
    out: Path | str,
    outcomes: list[Outcome],
    statuses: type[Status],
    not_started: int | None,
) -> None:
    counts = Counter(str(outcome.status) for outcome in outcomes)
    if args.json:
        print_json(
            {
                "root": str(args.dir),
                "out": str(out),
                "dry_run": args.dry_run,
                "counts": {str(status): counts[str(status)] for status in statuses},
                "results": [outcome.to_json() for outcome in outcomes],
                **(
                    {} if not_started is None else {"interrupted": True, "not_started": not_started}
                ),
            }
        )
        return
    summary = ", ".join(f"{counts[str(s)]} {s}" for s in statuses if counts[str(s)])
    if not_started is not None:
        summary = f"{summary or 'nothing finished'}; {not_started} not started (interrupted)"
    print_table(
        f"migrate {args.dir} -> {out}: {summary or 'nothing finished'}",
        ("status", "source", "detail"),
        ((str(o.status), str(o.source), o.detail) for o in outcomes),
    )
