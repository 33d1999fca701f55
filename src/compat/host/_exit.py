"""Ending a process without the interpreter's teardown.

With torch loaded, the teardown (clearing every module, collecting what is left) takes 0.4
to 0.7 s and does nothing a finished command or a finished worker needs: their files are
committed before they say so. What is needed is kept: the exit handlers (the usage ledger
is one) run, and buffered output is flushed.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn

__all__ = ["exit_without_teardown"]


def exit_without_teardown(status: int) -> NoReturn:
    """Run the exit handlers, flush stdout and stderr, and end the process with ``status``
    (1 instead of 0 if the output could not be flushed, as to a closed pipe)."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 1
    os._exit(status)
