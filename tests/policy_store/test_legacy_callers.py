"""Legacy call sites run unchanged, fail clearly when the plugin is off, and strictly."""

from __future__ import annotations

import json


def test_legacy_callers_run_unchanged_and_warn(nav_run, run_legacy_callers) -> None:
    result = run_legacy_callers(nav_run)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == {
        "teacher": "NavAgent",
        "top": [1, 3],  # the two best by eval_scores.navigation, best last
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
