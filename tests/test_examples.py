"""The README's main-job command runs the bundled example end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from checkpoint import CheckpointManager

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_trains_selects_best_and_resumes(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "resumed from epoch 5 (agent_step 1536)" in result.stdout
    manager = CheckpointManager(tmp_path, "quickstart")
    best = manager.find_best_checkpoint()
    kept = [info.epoch for info in manager.list()]
    assert best is not None and best.epoch in kept and 9 in kept
    assert len(kept) <= 3  # keep_last=2 plus the best
    assert f"best epoch {best.epoch}" in result.stdout
    for epoch in kept:
        manager.verify(epoch)
