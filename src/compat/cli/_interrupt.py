"""Ctrl-C while torch is being imported.

``import torch`` swallows a ``KeyboardInterrupt`` raised during part of its import (torch
2.13), and CPython remembers that one went unhandled: whatever the command then returns,
the interpreter ends itself by SIGINT at exit, so the exit code and the "re-run" advice
are lost. The verbs therefore do their first import of torch inside ``interrupts_held``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["interrupts_held"]


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold a Ctrl-C until the block is over, then hand it to the handler that was in
    place (which raises ``KeyboardInterrupt``, or sets a migration's stop flag)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held and callable(previous):
        previous(signal.SIGINT, None)
    elif held and previous == signal.SIG_DFL:
        raise KeyboardInterrupt
