"""A job for ``WorkerPool`` tests: which process ran it, with how many torch threads."""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any

import torch

from compat.upgrade._migrate import worker_started

__all__ = ["probe", "worker_started"]


def probe(init: object, job: object, consult: Any) -> tuple[int, int, object, object]:
    answer = consult("echo", job)
    return os.getpid(), torch.get_num_threads(), init, answer


def _mark_exit(marker: str) -> None:
    """An exit handler, as the usage ledger has: a worker that ends must still run it."""
    with Path(marker).open("a", encoding="utf-8") as file:
        file.write(f"{os.getpid()}\n")


if "PROBE_EXIT_MARKER" in os.environ:
    atexit.register(_mark_exit, os.environ["PROBE_EXIT_MARKER"])
