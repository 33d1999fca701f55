"""Legacy call sites run unchanged, fail clearly when the plugin is off, and strictly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FORMATS = HERE.parent / "fixtures" / "metta_formats"


def test_legacy_callers_run_unchanged_and_warn(nav_run, run_legacy_callers) -> None:
    result = run_legacy_callers(nav_run)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == {
        "teacher": "NavAgent",
        "top": [3, 1],  # the two best by eval_scores.navigation, best first (as in Metta)
        "latest": 4,
        "analysis": {
            "epoch": 4,
            "agent_step": 400,
            "params": 4 * 8 + 8 + 8 * 3 + 3,
            "file": str(nav_run / "nav_run.e00000004.pt"),
        },
        "mock": "eval_mock",
        "test_double": ["navigation", 3],
        "metadata_epoch": 1,
        "missing": "PolicyMissingError",
    }
    # each legacy call site warned once, at the caller's line, with the replacement
    assert "legacy_callers.py:11: CompatDeprecationWarning: metta.agent.mocks is deprecated" in (
        result.stderr
    )
    assert "use CheckpointManager.select instead" in result.stderr
    assert "legacy_callers.py:23: CompatDeprecationWarning" in result.stderr  # .policy


def test_with_the_plugin_disabled_the_import_fails_with_a_hint(nav_run, run_legacy_callers):
    result = run_legacy_callers(nav_run, COMPAT_DISABLE="policy_store")
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'metta'" in result.stderr
    assert "served by the compat plugin 'policy_store', which is off" in result.stderr
    assert result.stdout == ""


def test_strict_mode_fails_at_the_first_legacy_use(nav_run, run_legacy_callers) -> None:
    result = run_legacy_callers(nav_run, COMPAT_STRICT="1")
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("checkpoint.errors.CompatDeprecationWarning: metta.agent.mocks")
    assert 'legacy_callers.py", line 11' in result.stderr


def test_record_callers_run_unchanged_against_legacy_files(tmp_path: Path) -> None:
    """2025-style callers on the Sep 2025 fixture run, addressed by relative file:// URIs from
    the directory's parent: ``top`` gives the two best by score, best first, and
    ``num_params()`` counts the pickled agent's trainable parameters with no class mapping."""
    fixture = FORMATS / "sep2025_epoch_names" / "fixture_sep_e" / "checkpoints"
    truths = [json.loads(path.read_text()) for path in sorted(fixture.glob("*__e*.truth.json"))]
    shutil.copytree(fixture, tmp_path / "legacy_copy", ignore=shutil.ignore_patterns("*.json"))
    result = subprocess.run(
        [sys.executable, str(HERE / "record_callers.py"), "legacy_copy"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # the directory's parent: the URIs are relative to it
        env={"PYTHONPATH": str(HERE), "PATH": "/usr/bin:/bin"},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    by_score = sorted(truths, key=lambda truth: truth["name_fields"]["score"], reverse=True)
    latest = max(truths, key=lambda truth: truth["epoch"])
    expected = {
        "top": [truth["epoch"] for truth in by_score[:2]],
        "scores": [truth["name_fields"]["score"] for truth in by_score[:2]],
        "latest": {
            "epoch": latest["epoch"],
            "params": latest["num_params_trainable"],
            "file": str(tmp_path / "legacy_copy" / Path(latest["file"]).name),
        },
    }
    assert expected["top"] == [2, 3]  # the truths: 0.8765, then 0.5699 (sc5699), not 0.0
    summary = json.loads(result.stdout)
    assert summary == {"file://./legacy_copy": expected, "file://legacy_copy": expected}
    assert "record_callers.py:33: CompatDeprecationWarning" in result.stderr  # num_params
