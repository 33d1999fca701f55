"""`ckpt inspect PATH [--json]`: exit 0 when loadable, 3 when refused, 1 when unreadable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safe_paths import CORPUS, HOSTILE

from compat.cli import main


def test_json_report_of_a_legacy_record(capsys: pytest.CaptureFixture[str]) -> None:
    path = CORPUS / "torch-1.13.1" / "record_legacy.pt"
    assert main(["inspect", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "torch-legacy"
    assert report["verdict"] == "needs the inert engine"
    names = {entry["name"]: entry["category"] for entry in report["globals"]}
    assert names["torch._utils._rebuild_tensor_v2"] == "tensor machinery"
    assert names["legacyproj.agent.policy_record.PolicyRecord"] == "unknown"


def test_refused_file_exits_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["inspect", str(HOSTILE / "os_system_zip.pt")]) == 3
    out = capsys.readouterr().out
    assert "refused" in out
    assert "os.system" in out
    assert not list(tmp_path.glob("PWNED_*"))


def test_unreadable_file_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "noise.pt"
    path.write_bytes(b"\x00" * 64)
    assert main(["inspect", str(path)]) == 1
    assert str(path) in capsys.readouterr().err
