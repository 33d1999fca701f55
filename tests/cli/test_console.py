"""The ``ckpt`` console script exits without the interpreter's teardown: the status, the
whole output and the exit handlers must survive that."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from checkpoint import CheckpointManager
from compat.cli import _status

CKPT = Path(sys.executable).with_name("ckpt")


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (2, 2), (130, 130)])
def test_a_system_exit_gives_the_status_sys_exit_would(code: object, status: int) -> None:
    assert _status(code) == status


def test_a_system_exit_with_a_message_prints_it_and_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _status("no such verb") == 1
    assert capsys.readouterr().err == "no such verb\n"


def test_exit_handlers_run_and_the_status_is_kept(tmp_path: Path) -> None:
    marker = tmp_path / "handler-ran"
    program = (
        "import atexit, pathlib, compat.cli\n"
        f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'ran')\n"
        "compat.cli.console()\n"
    )
    missing = tmp_path / "no-such-run"
    run = subprocess.run(
        [sys.executable, "-c", program, "ls", str(missing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    assert str(missing) in run.stderr
    assert marker.read_text() == "ran"


def test_output_longer_than_a_buffer_arrives_whole(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path / "run", "run")
    for epoch in range(120):
        manager.save_agent({"w": torch.zeros(1)}, epoch, {"score": epoch / 7})
    run = subprocess.run(
        [CKPT, "ls", str(tmp_path / "run"), "--json"], capture_output=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert len(run.stdout) > 16 * 1024  # more than Python's buffer: the last part is flushed
    assert [entry["epoch"] for entry in json.loads(run.stdout)] == list(range(120))


def test_version_prints_the_installed_distributions_version() -> None:
    from importlib.metadata import version

    run = subprocess.run([CKPT, "--version"], capture_output=True, text=True, check=False)
    assert (run.returncode, run.stdout) == (
        0,
        f"ckpt (checkpoint-compat) {version('checkpoint-compat')}\n",
    )
    assert run.stderr == ""
