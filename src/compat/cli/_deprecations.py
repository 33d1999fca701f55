"""``ckpt deprecations [--ledger PATH] [--json]``: which legacy APIs were used, where, how often.

Reads the usage ledger that a program or test run started with ``COMPAT_LEDGER=PATH``
left behind (several processes may share one file; their counts are summed).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from checkpoint._wording import plural
from checkpoint.errors import LedgerMissingError, UsageError
from compat.host._config import ENV_LEDGER
from compat.host._ledger import read_jsonl

from ._output import EXIT_FAILURE, EXIT_OK, print_json, print_table

HELP = "show which legacy APIs were used, where, and how often"
EXITS = {EXIT_FAILURE: "there is no ledger at that path"}
EXAMPLES = (f"{ENV_LEDGER}=ledger.jsonl pytest && ckpt deprecations --ledger ledger.jsonl",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ledger",
        type=Path,
        metavar="PATH",
        help=f"ledger written by a run with {ENV_LEDGER}=PATH (default: ${ENV_LEDGER})",
    )


def run(args: argparse.Namespace) -> int:
    path: Path | None = args.ledger or (
        Path(os.environ[ENV_LEDGER]) if os.environ.get(ENV_LEDGER) else None
    )
    if path is None:
        raise UsageError(f"no ledger: pass --ledger PATH or set {ENV_LEDGER}")
    if not path.is_file():
        raise LedgerMissingError(path, ENV_LEDGER)
    records = read_jsonl(path)
    if args.json:
        print_json(records)
        return EXIT_OK
    print_table(
        f"{plural(sum(r['count'] for r in records), 'legacy call')} at "
        f"{plural(len(records), 'call site')}",
        ("count", "api", "removed in", "use instead", "caller"),
        ((r["count"], r["api"], r["removed_in"], r["replacement"], r["site"]) for r in records),
    )
    return EXIT_OK
