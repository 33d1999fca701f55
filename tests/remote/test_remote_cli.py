"""`ckpt ls/verify/inspect` and `compat.inspect/load` given an s3:// URL (moto server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import s3fs
import torch

from checkpoint import CheckpointManager
from compat import inspect, load
from compat.cli import main

LEGACY = Path(__file__).parents[1] / "fixtures" / "legacy"


@pytest.fixture
def remote_run(run_url: str) -> str:
    manager = CheckpointManager(run_url, "run7")
    for epoch in (1, 2):
        manager.save_agent({"w": torch.full((4,), float(epoch))}, epoch, {"score": epoch / 10})
    manager.save_trainer_state({"lr": 0.1}, 2, agent_step=20)
    return run_url


def test_ls_lists_a_remote_run(remote_run: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", remote_run, "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["epoch"], e["metadata"]["score"]) for e in entries] == [(1, 0.1), (2, 0.2)]
    assert entries[1]["uri"] == f"{remote_run}/run7.e00000002.pt"
    assert entries[1]["trainer_state"] == f"{remote_run}/run7.e00000002.trainer.pt"
    assert main(["ls", remote_run]) == 0
    out = capsys.readouterr().out
    assert f"2 checkpoints under {remote_run}" in out and "run7.e00000001.pt" in out


def test_ls_of_a_damaged_sidecar_fails_naming_it(
    remote_run: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3fs.S3FileSystem().pipe_file(f"{remote_run}/run7.e00000001.yaml", b"{not: [yaml")
    assert main(["ls", remote_run]) == 1
    assert f"{remote_run}/run7.e00000001.yaml: " in capsys.readouterr().err


def test_verify_checks_every_remote_checkpoint(
    remote_run: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", remote_run, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["checked"], report["failed"]) == (3, 0)  # two pairs, one trainer state
    weights = f"{remote_run}/run7.e00000002.pt"
    data = bytearray(s3fs.S3FileSystem().cat_file(weights))
    data[-60] ^= 0x55
    s3fs.S3FileSystem().pipe_file(weights, bytes(data))
    assert main(["verify", remote_run, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    failed = [result for result in report["results"] if not result["ok"]]
    assert [result["path"] for result in failed] == [weights]
    assert f"{weights}: sha256 is" in failed[0]["error"]
    assert main(["verify", f"{remote_run}/run7.e00000001.pt"]) == 0  # one checkpoint
    capsys.readouterr()
    assert main(["verify", f"{remote_run}/run7.e00000009.pt"]) == 1
    assert "run7.e00000009.pt: has no sidecar, so it is no committed checkpoint" in (
        capsys.readouterr().out
    )


def test_ls_and_verify_of_a_prefix_holding_several_runs(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``s3://bucket/experiments`` holds run7/ and arena/run8/: as for a local parent of run
    directories, both are listed and verified; a prefix with nothing below is exit 1."""
    parent = f"s3://{bucket}/experiments"
    for run, prefix in (("run7", "run7"), ("run8", "arena/run8")):
        manager = CheckpointManager(f"{parent}/{prefix}", run)
        manager.save_agent({"w": torch.ones(2)}, 1, {"score": 0.5})
    s3fs.S3FileSystem().pipe_file(f"{parent}/notes.txt", b"not a checkpoint")
    assert main(["ls", parent, "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [entry["uri"] for entry in entries] == [
        f"{parent}/arena/run8/run8.e00000001.pt",
        f"{parent}/run7/run7.e00000001.pt",
    ]
    assert main(["ls", parent]) == 0
    assert "arena/run8/run8.e00000001.pt" in capsys.readouterr().out
    assert main(["verify", parent, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checked"] == 2
    assert main(["ls", f"s3://{bucket}/nothing"]) == 1
    assert "no v1 checkpoint below it" in capsys.readouterr().err


def test_a_missing_bucket_is_one_line_without_traceback(
    s3_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ls", "s3://no-such-bucket-here/run7"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ckpt: error: s3://no-such-bucket-here/run7: its bucket does not exist")
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_inspect_and_load_read_a_remote_legacy_file(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"s3://{bucket}/old/agent_zip.pt"
    s3fs.S3FileSystem().put_file(str(LEGACY / "torch-2.0.1" / "agent_zip.pt"), url)
    report = inspect(url)
    assert report.url == url and report.to_json()["path"] == url
    local = load(LEGACY / "torch-2.0.1" / "agent_zip.pt")
    remote = load(url)
    assert remote.url == url and list(remote.state_dict) == list(local.state_dict)
    assert all(torch.equal(remote.state_dict[k], v) for k, v in local.state_dict.items())
    assert main(["inspect", url]) == 0
    assert capsys.readouterr().out.startswith(f"{url}: ")


def test_a_remote_hostile_file_is_refused(bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"s3://{bucket}/old/builtins_eval_zip.pt"
    s3fs.S3FileSystem().put_file(str(LEGACY / "hostile" / "builtins_eval_zip.pt"), url)
    assert main(["inspect", url]) == 3
    assert capsys.readouterr().out.startswith(f"{url}: ")
