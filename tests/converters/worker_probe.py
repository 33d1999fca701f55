"""A job for ``WorkerPool`` tests: which process ran it, with how many torch threads."""

from __future__ import annotations

import os
from typing import Any

import torch

from compat.upgrade._migrate import worker_started

__all__ = ["probe", "worker_started"]


def probe(init: object, job: object, consult: Any) -> tuple[int, int, object, object]:
    answer = consult("echo", job)
    return os.getpid(), torch.get_num_threads(), init, answer
