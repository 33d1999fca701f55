"""``ckpt migrate --jobs``: workers reused and single-threaded, Ctrl-C that stops, and output
slots that a file cannot steal (issues 12, 15 and 16)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from convert_helpers import CKPT, run_ckpt
from torch import nn

from checkpoint import read_sidecar
from compat.upgrade._workers import Consult, WorkerPool


def _probe_jobs(count: int, consult: Consult) -> tuple[dict[int, Any], WorkerPool]:
    """``count`` jobs of ``worker_probe:probe`` on two workers: (results by job, the pool)."""
    done: dict[int, Any] = {}
    jobs = list(range(count))
    lock = threading.Lock()

    def take() -> tuple[int, object] | None:
        with lock:
            return (jobs.pop(0), "job") if jobs else None

    pool = WorkerPool(2, "worker_probe:probe")
    try:
        pool.run("init", take, consult, done.__setitem__, threading.Event()).join(timeout=120)
    finally:
        pool.close()
    return done, pool


def test_workers_are_started_once_reused_and_single_threaded() -> None:
    done, _ = _probe_jobs(12, lambda kind, index, arguments: (kind, index, arguments))
    assert sorted(done) == list(range(12))
    pids = {result[0] for result in done.values()}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids, "at most two processes did all 12"
    assert {result[1] for result in done.values()} == {1}, "torch runs one thread in each"
    assert {result[2] for result in done.values()} == {"init"}
    assert done[5][3] == ("echo", 5, ("job",)), "a worker can ask the parent mid-job"


def test_a_worker_let_go_runs_its_exit_handlers_and_exits_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers leave without the interpreter's teardown, but not without the exit handlers
    (the usage ledger is one)."""
    marker = tmp_path / "exits"
    monkeypatch.setenv("PROBE_EXIT_MARKER", str(marker))
    done, pool = _probe_jobs(6, lambda kind, index, arguments: None)
    assert sorted(done) == list(range(6))
    worked = {result[0] for result in done.values()}  # a worker still starting is terminated
    exits = {worker.process.pid: worker.process.exitcode for worker in pool._workers}
    assert {pid: exits[pid] for pid in worked} == dict.fromkeys(worked, 0)
    exited = {int(line) for line in marker.read_text(encoding="utf-8").split()}
    assert worked <= exited


# -- a tree of legacy records --------------------------------------------------------------

LEGACY_MODULE = "migrate_test_legacy"


class PolicyMetadata(dict):  # type: ignore[type-arg]
    pass


class PolicyRecord:
    def __init__(self, policy: nn.Module, metadata: PolicyMetadata) -> None:
        self._cached_policy = policy
        self.metadata = metadata


@contextmanager
def legacy_classes() -> Iterator[None]:
    """The record classes importable under a legacy module path while files are written."""
    module = types.ModuleType(LEGACY_MODULE)
    for cls in (PolicyMetadata, PolicyRecord):
        cls.__module__ = LEGACY_MODULE
        setattr(module, cls.__name__, cls)
    sys.modules[LEGACY_MODULE] = module
    try:
        yield
    finally:
        del sys.modules[LEGACY_MODULE]


def write_record(path: Path, epoch: int, width: int = 8) -> None:
    torch.manual_seed(epoch)
    with legacy_classes():
        metadata = PolicyMetadata(epoch=epoch, agent_step=epoch * 10, train_time=1.0)
        torch.save(PolicyRecord(nn.Linear(width, width), metadata), path)


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough records, each big enough, that a migration is still running when interrupted."""
    tree = tmp_path_factory.mktemp("interrupt") / "run"
    tree.mkdir()
    for epoch in range(80):
        write_record(tree / f"model_{epoch:04d}.pt", epoch, width=400)
    return tree


def _outputs_are_whole(out: Path) -> None:
    leftovers = [path for path in out.rglob("*") if path.name.endswith(".tmp")]
    assert leftovers == [], "no temp file is left"
    for weights in out.rglob("*.pt"):
        if not weights.name.endswith(".trainer.pt"):
            assert weights.with_suffix(".yaml").exists(), f"{weights} has no sidecar"


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_stops_after_the_files_in_flight_and_a_rerun_resumes(
    big_tree: Path, tmp_path: Path, jobs: int
) -> None:
    out = tmp_path / "v1"
    process = subprocess.Popen(
        [*CKPT, "migrate", str(big_tree), "--out", str(out), "--jobs", str(jobs), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's job is
    )
    deadline = time.monotonic() + 240
    while len(list(out.rglob("*.yaml"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends: to the parent and its workers
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "re-run the same command to resume" in stderr
    report = json.loads(stdout)
    assert report["interrupted"] is True and report["not_started"] > 0
    finished = [result for result in report["results"] if result["status"] == "converted"]
    assert 3 <= len(finished) < 80
    _outputs_are_whole(out)

    again = run_ckpt("migrate", big_tree, "--out", out, "--jobs", str(jobs), "--json")
    assert again.returncode == 0, again.stderr
    counts = json.loads(again.stdout)["counts"]
    assert counts["already done"] >= len(finished)
    assert counts["already done"] + counts["converted"] == 80
    _outputs_are_whole(out)


@pytest.mark.parametrize("after", [0.8, 1.2, 1.6])
def test_ctrl_c_while_the_workers_start_prints_no_traceback(
    big_tree: Path, tmp_path: Path, after: float
) -> None:
    """Sent while the parent and the workers import torch (the moments vary with the
    machine's load): an import of torch that swallowed the Ctrl-C once made the parent end
    by SIGINT (-2), not 130."""
    out = tmp_path / "v1"
    process = subprocess.Popen(
        [*CKPT, "migrate", str(big_tree), "--out", str(out), "--jobs", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(after)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "re-run the same command to resume" in stderr
    if out.exists():
        _outputs_are_whole(out)


# -- output slots ----------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_claiming_another_files_epoch_is_a_collision(tmp_path: Path, jobs: str) -> None:
    """Issue 15: model_0001.pt says it is epoch 5; model_0005.pt is. Whichever comes first,
    the impostor is not written, the collision names both, and a re-run says the same."""
    tree = tmp_path / "tree"
    tree.mkdir()
    write_record(tree / "model_0005.pt", 5)
    write_record(tree / "model_0001.pt", 5)  # its content claims epoch 5
    write_record(tree / "model_0002.pt", 2)
    out = tmp_path / "v1"
    for attempt in range(2):
        result = run_ckpt("migrate", tree, "--out", out, "--jobs", jobs, "--json")
        assert result.returncode == 1, result.stderr
        by_name = {Path(r["source"]).name: r for r in json.loads(result.stdout)["results"]}
        impostor, genuine = by_name["model_0001.pt"], by_name["model_0005.pt"]
        assert impostor["status"] == "failed" and "collision" in impostor["detail"]
        assert "model_0005.pt" in impostor["detail"]
        assert genuine["status"] == ("converted" if attempt == 0 else "already done")
        assert by_name["model_0002.pt"]["status"] in ("converted", "already done")
        if attempt == 0:
            assert "model_0001.pt" in genuine["detail"], "the winner's line names the other"
    converted_from = read_sidecar(out / "tree.e00000005.yaml").converted_from
    assert converted_from is not None and converted_from.path.endswith("model_0005.pt")
    assert not (out / "tree.e00000001.yaml").exists()
    assert sorted(path.name for path in out.glob("*.yaml")) == [
        "tree.e00000002.yaml",
        "tree.e00000005.yaml",
    ]


def test_byte_identical_copies_share_their_slot(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    write_record(tree / "model_0003.pt", 3)
    (tree / "best.pt").write_bytes((tree / "model_0003.pt").read_bytes())
    result = run_ckpt("migrate", tree, "--out", tmp_path / "v1", "--json")
    assert result.returncode == 0, result.stderr
    statuses = sorted(r["status"] for r in json.loads(result.stdout)["results"])
    assert statuses in (["already done", "converted"], ["converted", "converted"])
