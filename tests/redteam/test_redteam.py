"""The red-team matrix of issue 15, its quick subset: every case against every entry point
that applies, each in a fresh process under an RSS watchdog and a timeout.

``python tests/redteam/run.py`` runs the whole matrix (about 20 minutes on 2 cores); the
quick subset covers each technique once, in about a minute. A run fails on any outcome the
issue does not allow: code executed, a constructor reached, memory or time exhausted, an
uncaught exception, or hostile bytes taken up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_the_quick_red_team_matrix_gives_only_allowed_outcomes(tmp_path: Path) -> None:
    report = tmp_path / "redteam.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(
        [sys.executable, str(HERE / "run.py"), "--quick", "--jobs", "2", "--json", str(report)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,  # a hang detector; the per-run timeouts are the harness's
        check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-4000:]
    totals = json.loads(report.read_text())["totals"]
    assert totals["runs"] > 100 and totals["mismatched"] == 0, totals
    assert totals["executed_inert_paths"] == totals["executed_with_trust"] == 0, totals
