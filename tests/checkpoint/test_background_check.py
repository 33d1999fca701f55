"""A save's ``verify`` reads the file back on a thread while the fsyncs run, and still
guards the commit: if it raises, nothing is committed and no temp file is left."""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import checkpoint._storage as storage
from checkpoint import CheckpointManager
from checkpoint._backgroundcheck import BackgroundCheck

WAIT = 30.0  # seconds: only reached when the two sides do not overlap, which fails the test


class Mismatch(Exception):
    pass


def _files(run_dir: Path) -> list[str]:
    return sorted(os.listdir(run_dir)) if run_dir.is_dir() else []


def _refuse(path: Path) -> None:
    raise Mismatch(f"{path.name} read back differs")


def test_a_failing_check_of_the_weights_commits_nothing(
    manager: CheckpointManager, run_dir: Path, make_state: Callable[..., dict[str, torch.Tensor]]
) -> None:
    manager.save_agent(make_state(1.0), 1)
    before = {name: (run_dir / name).read_bytes() for name in _files(run_dir)}
    with pytest.raises(Mismatch, match="read back differs"):
        manager.save_agent(make_state(2.0), 2, verify=_refuse)
    assert [info.epoch for info in manager.list()] == [1]
    assert {name: (run_dir / name).read_bytes() for name in _files(run_dir)} == before


def test_a_failing_check_of_a_trainer_state_commits_nothing(
    manager: CheckpointManager, run_dir: Path
) -> None:
    manager.save_trainer_state(None, 1, agent_step=10)
    before = _files(run_dir)
    with pytest.raises(Mismatch):
        manager.save_trainer_state(None, 2, agent_step=20, verify=_refuse)
    assert _files(run_dir) == before
    assert manager.load_trainer_state(2) is None


def test_the_check_runs_while_the_weights_are_synced(
    manager: CheckpointManager,
    make_state: Callable[..., dict[str, torch.Tensor]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each side waits for the other to have begun: done one after the other, as before,
    the first would wait for a second that never starts, and the test fails."""
    checking, syncing = threading.Event(), threading.Event()
    sync = storage.TempFile.sync

    def synced(temp: storage.TempFile) -> None:
        if temp.final.suffix == ".pt":
            syncing.set()
            assert checking.wait(WAIT), "the fsync ran before the check began"
        sync(temp)

    def check(path: Path) -> None:
        assert threading.current_thread() is not threading.main_thread()
        assert torch.equal(torch.load(path, weights_only=True)["w"], make_state(3.0)["w"])
        checking.set()
        assert syncing.wait(WAIT), "the check ran before the fsync began"

    monkeypatch.setattr(storage.TempFile, "sync", synced)
    info = manager.save_agent(make_state(3.0), 3, verify=check)
    assert info.epoch == 3 and checking.is_set() and syncing.is_set()


def test_result_reraises_the_checks_error_in_the_caller() -> None:
    background = BackgroundCheck(_refuse, Path("run.e00000001.pt"))
    background.start()
    with pytest.raises(Mismatch, match=r"run\.e00000001\.pt read back differs"):
        background.result()


def test_result_runs_a_check_that_was_never_started() -> None:
    seen: list[Path] = []
    BackgroundCheck(seen.append, Path("a.pt")).result()
    assert seen == [Path("a.pt")]


def test_leaving_the_block_waits_for_the_check_without_raising() -> None:
    """An error leaving the block wins, but the check has finished before the file goes."""
    finished = threading.Event()

    def slow(path: Path) -> None:
        time.sleep(0.2)
        finished.set()
        raise Mismatch("late")

    with pytest.raises(KeyError), BackgroundCheck(slow, Path("a.pt")) as background:
        background.start()
        raise KeyError("the save failed first")
    assert finished.is_set()


def test_the_check_sees_the_callers_context() -> None:
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="unset")
    seen: list[str] = []
    variable.set("the caller's")
    background = BackgroundCheck(lambda path: seen.append(variable.get()), Path("a.pt"))
    background.start()
    background.result()
    assert seen == ["the caller's"]


def test_without_a_check_nothing_is_started() -> None:
    background = BackgroundCheck(None, Path("a.pt"))
    background.start()
    background.result()
    assert background._thread is None
