"""The usage ledger, its JSONL file, ``ckpt deprecations`` and the pytest plugin."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import sample_legacy_api as sample

from compat.cli import main
from compat.host._ledger import LEDGER, CallSite, UsageRecord, read_jsonl

HERE = Path(__file__).parent
THREADS = 16
CALLS = 500


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads as often as the interpreter allows, so races show up."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_concurrent_uses_are_all_counted() -> None:
    barrier = threading.Barrier(THREADS)

    def worker() -> None:
        barrier.wait()
        for _ in range(CALLS):
            sample.old_function(1)
            LEDGER.record(sample.KEYWORD, CallSite("direct.py", 1))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        threads = [threading.Thread(target=worker) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    shim_line = inspect.getsourcelines(worker)[1] + 3
    assert {(r["api"], r["site"]): r["count"] for r in LEDGER.records()} == {
        ("sample.old_function", f"{__file__}:{shim_line}"): THREADS * CALLS,
        ("sample.make_cache(size=)", "direct.py:1"): THREADS * CALLS,
    }


def test_records_are_sorted_by_count_and_carry_the_way_out() -> None:
    LEDGER.record(sample.FUNCTION, CallSite("a.py", 1))
    for _ in range(3):
        LEDGER.record(sample.CLASS, CallSite("b.py", 2))
    assert LEDGER.records() == [
        UsageRecord(
            api="sample.OldThing",
            site="b.py:2",
            count=3,
            removed_in="9.0",
            replacement="sample.NewThing",
        ),
        UsageRecord(
            api="sample.old_function",
            site="a.py:1",
            count=1,
            removed_in="9.0",
            replacement="sample.new_function",
        ),
    ]


def test_listeners_hear_every_use_until_they_unsubscribe() -> None:
    heard: list[tuple[str, CallSite]] = []
    unsubscribe = LEDGER.subscribe(lambda deprecation, site: heard.append((deprecation.name, site)))
    LEDGER.record(sample.FUNCTION, CallSite("a.py", 1))
    unsubscribe()
    LEDGER.record(sample.FUNCTION, CallSite("a.py", 1))
    assert heard == [("sample.old_function", CallSite("a.py", 1))]


def test_files_from_several_processes_are_summed(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    LEDGER.record(sample.FUNCTION, CallSite("a.py", 1))
    LEDGER.append_to(ledger)
    LEDGER.record(sample.CLASS, CallSite("b.py", 2))
    LEDGER.append_to(ledger)
    assert [(r["api"], r["count"]) for r in read_jsonl(ledger)] == [
        ("sample.old_function", 2),
        ("sample.OldThing", 1),
    ]


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(HERE), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_process_appends_its_counts_at_exit_and_ckpt_deprecations_reads_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    code = "import sample_legacy_api as s\nfor _ in range(3):\n    s.old_function(1)\n"
    code += "s.OldThing(1)\n"
    for _ in range(2):
        result = _run_python(code, COMPAT_LEDGER=str(ledger))
        assert result.returncode == 0, result.stderr
        assert "<string>:3: CompatDeprecationWarning: sample.old_function" in result.stderr

    assert main(["deprecations", "--ledger", str(ledger), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["api"], r["site"], r["count"]) for r in records] == [
        ("sample.old_function", "<string>:3", 6),
        ("sample.OldThing", "<string>:4", 2),
    ]

    assert main(["deprecations", "--ledger", str(ledger)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "8 legacy calls at 2 call sites"
    assert lines[1].split() == ["count", "api", "removed", "in", "use", "instead", "caller"]
    assert lines[2].split()[:2] == ["6", "sample.old_function"]


def test_ckpt_deprecations_uses_the_variable_and_explains_a_missing_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deprecations"]) == 2
    assert "pass --ledger PATH or set COMPAT_LEDGER" in capsys.readouterr().err
    monkeypatch.setenv("COMPAT_LEDGER", str(tmp_path / "none.jsonl"))
    assert main(["deprecations"]) == 1
    assert "none.jsonl: no ledger there" in capsys.readouterr().err


def test_a_corrupt_ledger_line_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text('{"api": "x"}\n')
    assert main(["deprecations", "--ledger", str(ledger)]) == 1
    assert f"{ledger}:1: not a usage-ledger record (expected the keys" in capsys.readouterr().err


LEGACY_TEST = """
import sample_legacy_api


def test_uses_legacy_code():
    for _ in range(2):
        assert sample_legacy_api.old_function(1) == 2
"""


def _run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_legacy_user.py").write_text(LEGACY_TEST)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args, "test_legacy_user.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(HERE)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_pytest_plugin_summarises_legacy_use(tmp_path: Path) -> None:
    result = _run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "compat: 2 legacy API call(s) at 1 site(s)" in result.stdout
    site = f"{tmp_path / 'test_legacy_user.py'}:7"
    assert f"     2  sample.old_function (removed in 9.0; use sample.new_function)  {site}" in (
        result.stdout
    )


def test_the_pytest_plugin_strict_flag_fails_legacy_use(tmp_path: Path) -> None:
    result = _run_pytest(tmp_path, "--compat-strict")
    assert result.returncode == 1
    assert "CompatDeprecationWarning: sample.old_function is deprecated" in result.stdout


def test_the_pytest_plugin_stays_quiet_without_legacy_use(tmp_path: Path) -> None:
    (tmp_path / "test_clean.py").write_text("def test_nothing():\n    assert True\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_clean.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0
    assert "passed" in result.stdout
    assert "compat:" not in result.stdout
