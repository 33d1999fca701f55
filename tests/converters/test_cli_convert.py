"""``ckpt convert SRC DST.pt``: names, JSON, verification and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from convert_helpers import LEGACY, run_ckpt

import compat
import compat.upgrade._v1write
from checkpoint.errors import ConversionVerificationError, UnconvertibleCheckpointError
from compat.cli import main

RECORD = LEGACY / "torch-2.5.1" / "record_legacy.pt"


def test_convert_prints_json_and_the_output_loads_weights_only(tmp_path: Path) -> None:
    result = run_ckpt("convert", RECORD, tmp_path / "agent.e00000042.pt", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verified"] is True
    assert report["epoch"] == 42  # the destination's name wins over the content's epoch
    assert report["converted_from"]["format"] == "policy_record/torch-legacy"
    truth = torch.load(RECORD.with_suffix(".truth.pt"), weights_only=True)["state_dict"]
    written = torch.load(report["weights"], weights_only=True)
    assert all(torch.equal(truth[key], written[key]) for key in truth)
    assert list(written) == list(truth)


def test_a_free_form_name_is_written_as_is_with_the_v1_name_suggested(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12: ``ckpt convert SRC new.pt`` works; managers list only v1 names, so it warns."""
    assert main(["convert", str(RECORD), str(tmp_path / "converted.pt")]) == 0
    warning = capsys.readouterr().err
    assert "converted.pt is not a v1 checkpoint name" in warning and ".e00000003.pt" in warning
    names = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert names == ["converted.pt", "converted.trainer.pt", "converted.yaml"]
    loaded = compat.load(tmp_path / "converted.pt")  # its sidecar makes it v1
    assert str(loaded.source_format) == "v1"
    assert main(["convert", str(RECORD), str(tmp_path / "converted.pt")]) == 0
    assert "already done" in capsys.readouterr().out


def test_a_destination_that_names_no_weights_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["convert", str(RECORD), str(tmp_path / "converted.yaml")]) == 1
    assert "name it <something>.pt" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_trailing_slash_creates_the_directory(tmp_path: Path) -> None:
    assert main(["convert", str(RECORD), f"{tmp_path / 'new' / 'dir'}/"]) == 0
    assert sorted(p.suffix for p in (tmp_path / "new" / "dir").glob("record_legacy.*")) == [
        ".pt",
        ".pt",
        ".yaml",
    ]


def test_an_epoch_already_committed_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    destination = tmp_path / "run.e00000001.pt"
    compat.convert(RECORD, destination)
    before = destination.read_bytes()
    assert main(["convert", str(LEGACY / "torch-2.0.1" / "agent_zip.pt"), str(destination)]) == 1
    assert "already committed" in capsys.readouterr().err
    assert destination.read_bytes() == before


def test_a_failed_verification_commits_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compat.upgrade._v1write, "differences", lambda *_: ["w: tensor differs"])
    with pytest.raises(ConversionVerificationError, match="w: tensor differs"):
        compat.convert(RECORD, tmp_path / "run.e00000001.pt")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == []


def test_a_file_with_nothing_to_convert_is_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "counters.pt"
    torch.save({"epoch": 3, "note": "no weights here"}, source)
    with pytest.raises(UnconvertibleCheckpointError, match="there is nothing to convert"):
        compat.convert(source, tmp_path / "run.e00000001.pt")


def test_without_the_converters_plugin_nothing_converts(tmp_path: Path) -> None:
    with (
        compat.plugins.disabled("converters"),
        pytest.raises(
            UnconvertibleCheckpointError,
            match=r"`converters` plugin is off .*: call compat\.plugins\.enable\('converters'\)",
        ),
    ):
        compat.convert(RECORD, tmp_path / "run.e00000001.pt")
