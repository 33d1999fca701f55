"""The `ckpt` command line.

Each verb lives in its own module exposing ``register(subparsers)``; the
module sets ``func`` on its parser, which returns the process exit code.
Exit codes follow SPEC §5: 0 ok, 1 failure, 2 usage, 3 refused as unsafe.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from checkpoint.errors import CheckpointCompatError, UnsafeCheckpointError

from . import _convert, _deprecations, _inspect, _ls, _migrate, _plugins, _verify
from ._output import EXIT_FAILURE, EXIT_UNSAFE, print_error

__all__ = ["main"]

_VERBS = (_inspect, _ls, _verify, _plugins, _deprecations, _convert, _migrate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ckpt", description="Inspect, verify and migrate PyTorch checkpoints safely."
    )
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in _VERBS:
        verb.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except CheckpointCompatError as exc:
        print_error(exc)
        return EXIT_UNSAFE if isinstance(exc, UnsafeCheckpointError) else EXIT_FAILURE
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
