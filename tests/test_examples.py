"""The README's main-job command runs the bundled example end to end, and says what the
README says it does."""

from __future__ import annotations

import re
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


def test_the_main_job_and_its_rerun_print_what_the_readme_says(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"&& \.venv/bin/(ckpt migrate examples/legacy_run [^\n]*)\n", readme)
    assert command is not None, "the README's first command no longer runs ckpt migrate"
    argv = command.group(1).split()
    argv[argv.index("--out") + 1] = str(tmp_path / "out")
    ckpt = Path(sys.executable).with_name("ckpt")
    for claim in ("4 converted, 1 refused", "4 already done, 1 refused"):
        run = subprocess.run(
            [str(ckpt), *argv[1:]], capture_output=True, text=True, cwd=ROOT, check=False
        )
        assert f"prints a summary table: {claim}" in readme or f"prints {claim}" in readme
        assert f": {claim}" in run.stdout.splitlines()[0], run.stdout
        assert run.returncode == 3, run.stderr
