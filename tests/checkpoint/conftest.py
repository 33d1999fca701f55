from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from checkpoint import CheckpointManager, register_agent_class, unregister_agent_class


class TinyAgent(nn.Module):
    """A registered, rebuildable agent with a config, a buffer and two layers."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.width = width
        self.encoder = nn.Linear(width, width)
        self.head = nn.Linear(width, 2)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    def checkpoint_config(self) -> dict[str, int]:
        return {"width": self.width}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.encoder(x)))


@pytest.fixture
def tiny_agent_class() -> Iterator[type[TinyAgent]]:
    register_agent_class(TinyAgent)
    yield TinyAgent
    unregister_agent_class(TinyAgent)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs" / "alpha"


@pytest.fixture
def manager(run_dir: Path) -> CheckpointManager:
    return CheckpointManager(run_dir, "alpha")


def _state(value: float, n: int = 3) -> dict[str, torch.Tensor]:
    return {"w": torch.full((n,), value), "b": torch.arange(n, dtype=torch.int64)}


@pytest.fixture
def make_state() -> Callable[..., dict[str, torch.Tensor]]:
    """A small state_dict whose float tensor is filled with ``value``."""
    return _state


def _run_forked(body: Callable[[], str]) -> str:
    """Run ``body`` in a forked child and return the string it returns.

    Used where a test must change process-wide state (user id, resource
    limits) or be killed without taking pytest down with it.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        # An OpenMP pool used by the parent deadlocks in a forked child; stay serial.
        torch.set_num_threads(1)
        try:
            result = body()
        except BaseException as exc:  # report, never escape into pytest's loop
            import traceback

            result = f"child raised {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        os.write(write_end, result.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        output = reader.read().decode()
    os.waitpid(pid, 0)
    return output


@pytest.fixture
def run_forked() -> Callable[[Callable[[], str]], str]:
    return _run_forked
