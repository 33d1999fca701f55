"""The parser and the dispatch of ``ckpt``: one line per error, never a traceback.

Each verb lives in its own module: ``HELP``, ``add_arguments(parser)`` and ``run(args)``,
which returns the process exit code. Every verb gets ``--json`` here (SPEC §5). A verb
imports the loading engine (and with it torch, a second or more) inside ``run``, so that
``ckpt ls``, ``ckpt plugins`` or ``ckpt verify`` of v1 checkpoints never pay for it.
Exit codes follow SPEC §5: 0 ok, 1 failure, 2 usage, 3 refused as unsafe.
"""

from __future__ import annotations

import argparse
import inspect
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Protocol

from checkpoint.errors import CheckpointCompatError, UnsafeCheckpointError, UsageError

from . import _convert, _deprecations, _inspect, _ls, _migrate, _plugins, _verify
from ._output import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNSAFE,
    EXIT_USAGE,
    print_error,
    print_json,
)

__all__ = ["main"]

#: Set to 1 to see the traceback of an internal error instead of its one-line report.
ENV_TRACEBACK = "COMPAT_TRACEBACK"


class _Verb(Protocol):
    """What a verb module provides: its help line, its exit codes beyond 0 and 2 (what
    each means for this verb) and examples, shown by ``ckpt VERB --help``."""

    @property
    def HELP(self) -> str: ...
    @property
    def EXITS(self) -> Mapping[int, str]: ...
    @property
    def EXAMPLES(self) -> Sequence[str]: ...

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


_VERBS: dict[str, _Verb] = {
    "inspect": _inspect,
    "ls": _ls,
    "verify": _verify,
    "plugins": _plugins,
    "deprecations": _deprecations,
    "convert": _convert,
    "migrate": _migrate,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ckpt", description="Inspect, verify and migrate PyTorch checkpoints safely."
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, verb in _VERBS.items():
        verb_parser = subparsers.add_parser(
            name,
            help=verb.HELP,
            description=_description(verb),
            epilog=_epilog(verb),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        verb.add_arguments(verb_parser)
        verb_parser.add_argument("--json", action="store_true", help="print JSON")
        verb_parser.set_defaults(func=verb.run)
    return parser


class _Version(argparse.Action):
    """``--version``: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import version

        print(f"ckpt (checkpoint-compat) {version('checkpoint-compat')}")
        parser.exit()


def _description(verb: _Verb) -> str:
    """The verb's help line, then its module docstring past the synopsis, as plain text."""
    details = (inspect.getdoc(verb) or "").partition("\n\n")[2].replace("``", "`")
    return f"{verb.HELP[0].upper()}{verb.HELP[1:]}.\n\n{details}".strip()


def _epilog(verb: _Verb) -> str:
    exits = {
        EXIT_OK: "success",
        **verb.EXITS,
        EXIT_USAGE: "usage error (the message says what to type)",
    }
    lines = ["exit codes:"]
    lines += [f"  {code:<4}{meaning}" for code, meaning in sorted(exits.items())]
    lines += ["", "example:" if len(verb.EXAMPLES) == 1 else "examples:"]
    lines += [f"  {example}" for example in verb.EXAMPLES]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ckpt`` with ``argv`` (default: the command line); the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # a reader that went away shows here, not at interpreter exit
    except KeyboardInterrupt:
        return _fail(args, "interrupted; re-run the same command to resume", None, EXIT_INTERRUPTED)
    except BrokenPipeError:
        # `ckpt ls | head`: stop quietly with the status of a process killed by SIGPIPE, as
        # other command-line tools do; what is still buffered goes to /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except CheckpointCompatError as exc:
        where = getattr(exc, "path", None) or getattr(exc, "url", None)
        return _fail(args, str(exc), where, _exit_code(exc))
    except OSError as exc:  # a file the verb touched outside the library's own checks
        path = exc.filename
        return _fail(args, f"{path}: {exc.strerror or exc}", path, EXIT_FAILURE)
    except Exception as exc:  # a bug: one line, and how to see more
        if os.environ.get(ENV_TRACEBACK, "0") not in ("", "0"):
            raise
        reason = (
            f"internal error ({type(exc).__name__}: {exc}); please report it with the "
            f"command you ran ({ENV_TRACEBACK}=1 shows the traceback)"
        )
        return _fail(args, reason, None, EXIT_FAILURE)
    return code


def _exit_code(exc: CheckpointCompatError) -> int:
    if isinstance(exc, UnsafeCheckpointError):
        return EXIT_UNSAFE
    return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILURE


def _fail(args: argparse.Namespace, message: str, path: object, code: int) -> int:
    """Report a failure as one line on stderr, or as a JSON object on stdout with ``--json``."""
    if getattr(args, "json", False):
        print_json({"error": message, "path": None if path is None else str(path), "exit": code})
    else:
        print_error(message)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
