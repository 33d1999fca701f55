"""`ckpt ls` and `ckpt verify` on directories the manager wrote (SPEC §5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from checkpoint import CheckpointManager
from compat.cli import main


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A parent holding two runs, one with a legacy-named file beside its checkpoints."""
    for run, epochs in (("alpha", (1, 2)), ("beta", (5,))):
        manager = CheckpointManager(tmp_path / run / "checkpoints", run)
        for epoch in epochs:
            manager.save_agent({"w": torch.full((4,), float(epoch))}, epoch, {"score": epoch / 10})
    (tmp_path / "alpha" / "checkpoints" / "model_0007.pt").write_bytes(b"legacy")
    return tmp_path


def test_ls_json_lists_every_run_below_a_parent(runs, capsys) -> None:
    assert main(["ls", str(runs), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    summary = [(item["run_name"], item["epoch"], item["legacy"]) for item in listed]
    assert summary == [
        ("alpha", 1, False),
        ("alpha", 2, False),
        ("alpha", 7, True),
        ("beta", 5, False),
    ]
    assert listed[0]["uri"].startswith("file:///") and listed[0]["metadata"]["score"] == 0.1
    assert listed[2]["legacy_scheme"] == "policy_store"


def test_ls_of_one_run_as_a_table(runs, capsys) -> None:
    assert main(["ls", str(runs / "beta" / "checkpoints")]) == 0
    out = capsys.readouterr().out
    assert "beta.e00000005.pt" in out and "alpha" not in out


def test_ls_missing_directory_fails_with_exit_1(tmp_path, capsys) -> None:
    assert main(["ls", str(tmp_path / "nope")]) == 1
    assert "nope: not a directory" in capsys.readouterr().err


def test_verify_directory_ok_then_detects_corruption(runs, capsys) -> None:
    assert main(["verify", str(runs), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["checked"], report["failed"]) == (3, 0)

    victim = runs / "alpha" / "checkpoints" / "alpha.e00000002.pt"
    data = bytearray(victim.read_bytes())
    data[-30] ^= 1
    victim.write_bytes(bytes(data))
    assert main(["verify", str(runs), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["failed"] == 1
    failure = next(result for result in report["results"] if not result["ok"])
    assert "alpha.e00000002.pt" in failure["error"] and "sha256" in failure["error"]


def test_verify_single_file_and_non_checkpoint(runs, capsys) -> None:
    weights = runs / "beta" / "checkpoints" / "beta.e00000005.pt"
    assert main(["verify", str(weights)]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["verify", str(runs / "alpha" / "checkpoints" / "model_0007.pt")]) == 1
    assert "not a v1 checkpoint" in capsys.readouterr().out


def test_verify_empty_directory_is_a_failure(tmp_path, capsys) -> None:
    assert main(["verify", str(tmp_path)]) == 1
    assert "no v1 checkpoint" in capsys.readouterr().err


def test_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["ls"])
    assert excinfo.value.code == 2


def test_console_script_piped_prints_no_progress_bar(runs) -> None:
    ckpt = Path(sys.executable).with_name("ckpt")
    result = subprocess.run(
        [str(ckpt), "verify", str(runs)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "verified 3/3" in result.stdout
    assert result.stderr == ""


def test_progress_bar_only_on_a_terminal(runs) -> None:
    import os
    import pty

    ckpt = Path(sys.executable).with_name("ckpt")
    pid, fd = pty.fork()
    if pid == 0:  # child: stdout and stderr are the pseudo-terminal
        os.execv(str(ckpt), [str(ckpt), "verify", str(runs)])
    output = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"verifying" in output  # the bar's label, drawn on the terminal
