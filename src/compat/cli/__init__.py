"""The `ckpt` command line (``_main`` parses and dispatches; a module per verb).

The top layer of ``compat``: it may import every other (``upgrade``, ``engine``, ``host``)
and ``checkpoint``; nothing imports it but the ``ckpt`` console script.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._output import EXIT_INTERRUPTED, print_error

__all__ = ["main"]


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
