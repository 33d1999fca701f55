from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from sample_agents import NavAgent

from checkpoint import CheckpointManager

HERE = Path(__file__).parent


@pytest.fixture
def nav_run(tmp_path: Path) -> Path:
    """A v1 run of five NavAgent checkpoints scored on 'navigation' (best: epoch 3)."""
    run_dir = tmp_path / "nav_run"
    manager = CheckpointManager(run_dir, "nav_run")
    torch.manual_seed(0)
    for epoch, navigation in enumerate([0.2, 0.5, 0.1, 0.9, 0.4]):
        manager.save_agent(
            NavAgent(),
            epoch,
            {
                "agent_step": epoch * 100,
                "score": navigation / 2,
                "eval_scores": {"navigation": navigation},
            },
        )
    return run_dir


@pytest.fixture
def run_legacy_callers() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run legacy_callers.py on a run directory in a fresh interpreter."""

    def run(run_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(HERE / "legacy_callers.py"), str(run_dir)],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(HERE), "PATH": "/usr/bin:/bin", **env},
            timeout=300,
            check=False,
        )

    return run
