"""The `ckpt` command line (``_main`` parses and dispatches; a module per verb).

The top layer of ``compat``: it may import every other (``upgrade``, ``engine``, ``host``)
and ``checkpoint``; nothing imports it but the ``ckpt`` console script.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

from compat.host._exit import exit_without_teardown

from ._output import EXIT_FAILURE, EXIT_INTERRUPTED, print_error

__all__ = ["console", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """The ``ckpt`` console script. The verbs are imported here, not with this package,
    so that a Ctrl-C while they import (a few hundred milliseconds) ends with one line and
    exit 130, as one later does, not with a traceback."""
    try:
        from compat.cli._main import main as run
    except KeyboardInterrupt:
        print_error("interrupted before it started")
        return EXIT_INTERRUPTED
    return run(argv)


def console() -> NoReturn:
    """The ``ckpt`` command: :func:`main`, then an exit without the interpreter's teardown
    (``compat.host._exit``): every file was committed before ``main`` returned."""
    try:
        code = main()
    except SystemExit as exc:  # argparse's --help and usage errors
        code = _status(exc.code)
    exit_without_teardown(code)


def _status(code: object) -> int:
    """The exit status ``sys.exit(code)`` would give."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return EXIT_FAILURE
