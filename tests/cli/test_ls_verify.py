"""`ckpt ls` and `ckpt verify` on directories the manager wrote (SPEC §5)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from checkpoint import CheckpointManager
from compat.cli import main
from zipedit import flip_record_byte


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A parent holding two runs, one with a legacy checkpoint beside its v1 ones."""
    for run, epochs in (("alpha", (1, 2)), ("beta", (5,))):
        manager = CheckpointManager(tmp_path / run / "checkpoints", run)
        for epoch in epochs:
            manager.save_agent({"w": torch.full((4,), float(epoch))}, epoch, {"score": epoch / 10})
    torch.save({"w": torch.ones(4)}, tmp_path / "alpha" / "checkpoints" / "model_0007.pt")
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


def test_ls_shows_which_epochs_have_a_trainer_state(runs, capsys) -> None:
    """As `verify` checks trainer states, `ls` shows them: per epoch, and alone."""
    manager = CheckpointManager(runs / "alpha" / "checkpoints", "alpha")
    manager.save_trainer_state({"step": torch.tensor(7)}, 2, agent_step=200)
    manager.save_trainer_state({"step": torch.tensor(9)}, 9, agent_step=900)  # no weights
    assert main(["ls", str(runs / "alpha"), "--json"]) == 0
    listed = {(item["epoch"], item["legacy"]): item for item in json.loads(capsys.readouterr().out)}
    assert listed[(1, False)]["trainer_state"] is None
    assert listed[(2, False)]["trainer_state"].endswith("alpha.e00000002.trainer.pt")
    assert listed[(9, False)]["path"].endswith("alpha.e00000009.trainer.pt")
    assert main(["ls", str(runs / "alpha")]) == 0
    table = capsys.readouterr().out
    assert "trainer" in table.splitlines()[1]
    assert "1 trainer state without weights" in table
    assert "v1 trainer state" in table


def test_ls_missing_directory_fails_with_exit_1(tmp_path, capsys) -> None:
    assert main(["ls", str(tmp_path / "nope")]) == 1
    assert "nope: no such file or directory" in capsys.readouterr().err


def test_verify_directory_ok_then_detects_corruption(runs, capsys) -> None:
    assert main(["verify", str(runs), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["checked"], report["failed"]) == (4, 0)
    legacy = next(result for result in report["results"] if result["path"].endswith("0007.pt"))
    assert legacy["detail"] == "torch-zip state_dict: safe load and CRCs ok"

    victim = runs / "alpha" / "checkpoints" / "alpha.e00000002.pt"
    data = bytearray(victim.read_bytes())
    data[-30] ^= 1
    victim.write_bytes(bytes(data))
    assert main(["verify", str(runs), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["failed"] == 1
    failure = next(result for result in report["results"] if not result["ok"])
    assert "alpha.e00000002.pt" in failure["error"] and "sha256" in failure["error"]
    assert failure["path"] == str(victim)  # the weights file, not its sidecar


def test_verify_checks_every_crc_of_a_legacy_file(runs, capsys) -> None:
    legacy = runs / "alpha" / "checkpoints" / "model_0007.pt"
    flip_record_byte(legacy, "data/0", 5)  # compat.load alone would not notice
    assert main(["verify", str(runs)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "'data/0' fails its CRC check" in out


def test_verify_refuses_a_hostile_legacy_file_with_exit_3(runs, tmp_path, capsys) -> None:
    hostile = Path(__file__).parents[1] / "fixtures" / "legacy" / "hostile" / "os_system_zip.pt"
    target = runs / "beta" / "checkpoints" / "model_0009.pt"
    target.write_bytes(hostile.read_bytes())
    assert main(["verify", str(runs), "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    [refused] = [result for result in report["results"] if not result["ok"]]
    assert refused["refused"] and "os.system" in refused["error"]
    assert not list(Path.cwd().glob("PWNED_*"))
    (runs / "beta" / "checkpoints" / "model_0010.pt").write_bytes(b"not a checkpoint")
    assert main(["verify", str(runs)]) == 1  # a failure outranks a refusal


def test_verify_finds_what_migrate_would_take_trainer_states_included(runs, capsys) -> None:
    """Freely named .pt/.pth/.ckpt files and v1 trainer states get a safe load too."""
    beta = runs / "beta" / "checkpoints"
    torch.save({"w": torch.ones(2)}, beta / "final weights.pth")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    CheckpointManager(beta, "beta").save_trainer_state(optimizer, 5, 50)
    (beta / "notes.txt").write_text("not a checkpoint, not checked")
    assert main(["verify", str(beta), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    details = {Path(result["path"]).name: result["detail"] for result in report["results"]}
    assert details == {
        "beta.e00000005.pt": details["beta.e00000005.pt"],  # the v1 pair, by its sha256
        "beta.e00000005.trainer.pt": "torch-zip trainer_state: safe load and CRCs ok",
        "final weights.pth": "torch-zip state_dict: safe load and CRCs ok",
    }
    assert details["beta.e00000005.pt"].startswith("sha256 ")


def test_verify_checks_a_pair_whose_weights_are_a_link_to_a_device(runs, capsys) -> None:
    """The walk passes over links; a committed pair's weights are checked all the same."""
    weights = runs / "beta" / "checkpoints" / "beta.e00000005.pt"
    weights.unlink()
    weights.symlink_to("/dev/zero")
    assert main(["verify", str(runs / "beta")]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and weights.name in out


def test_verify_single_file_and_non_checkpoint(runs, tmp_path, capsys) -> None:
    weights = runs / "beta" / "checkpoints" / "beta.e00000005.pt"
    assert main(["verify", str(weights)]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["verify", str(runs / "alpha" / "checkpoints" / "model_0007.pt")]) == 0
    assert "safe load and CRCs ok" in capsys.readouterr().out
    notes = tmp_path / "notes.txt"
    notes.write_text("nothing to see")
    assert main(["verify", str(notes)]) == 1
    assert "is not a checkpoint" in capsys.readouterr().out


def test_verify_empty_directory_is_a_failure(tmp_path, capsys) -> None:
    assert main(["verify", str(tmp_path)]) == 1
    assert "no checkpoint file below it" in capsys.readouterr().err


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
    assert "verified 4 of 4 checkpoints" in result.stdout
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


def test_ls_and_verify_of_v1_checkpoints_never_import_torch(runs) -> None:
    """Building the parser imports every verb; none may pull in the engine (and torch)."""
    v1_only = runs / "beta"
    probe = (
        "import sys\n"
        "from compat.cli import main\n"
        f"codes = [main(['ls', {str(v1_only)!r}]), main(['verify', {str(v1_only)!r}])]\n"
        "print(codes, 'torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    )
    assert result.stdout.splitlines()[-1] == "[0, 0] False"


def test_a_reader_that_goes_away_ends_the_command_quietly(runs) -> None:
    """`ckpt ls | head -1`: exit as a process killed by SIGPIPE would, with no traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "compat.cli", "ls", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before the command has started, let alone written
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 128 + signal.SIGPIPE
    assert errors == ""
