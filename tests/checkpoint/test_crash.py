"""SIGKILL a saving process at random instants: every commit survives (DEVELOPERS.md §5)."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import torch

from checkpoint import CheckpointManager

KILLS = 40
KEEP_LAST = 3


def _save_forever(run_dir: Path, first_epoch: int, big: torch.Tensor, report: int) -> None:
    """Child body: save epoch after epoch, reporting each commit on the ``report`` pipe."""
    torch.set_num_threads(1)  # the parent's OpenMP pool is unusable after fork
    manager = CheckpointManager(run_dir, "crash", keep_last=KEEP_LAST)
    epoch = first_epoch
    while True:
        manager.save_agent({"big": big, "epoch": torch.tensor([epoch])}, epoch, {"score": 1.0})
        os.write(report, f"{epoch}\n".encode())
        manager.save_trainer_state(None, epoch, epoch * 10)
        epoch += 1


def test_sigkill_at_random_instants_never_loses_a_commit(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    big = torch.randn(2_000_000)  # 8 MB: a save takes long enough to be hit mid-way
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    reported: list[int] = []
    hit_mid_save = 0
    for kill in range(KILLS):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                _save_forever(run_dir, kill * 1000, big, write_end)
            finally:
                os._exit(1)
        os.close(write_end)
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with os.fdopen(read_end, "rb") as reader:
            reported += [int(line) for line in reader.read().split()]

        hit_mid_save += any(name.endswith(".tmp") for name in os.listdir(run_dir))
        manager = CheckpointManager(run_dir, "crash", keep_last=KEEP_LAST)

        listed = manager.list()
        for info in listed:
            assert not info.legacy
            manager.verify(info.epoch)  # sha256 and size match the sidecar
            assert manager.load_state_dict(info.epoch)["epoch"].item() == info.epoch
        listed_epochs = {info.epoch for info in listed}
        if reported:  # retention keeps the newest, so the last reported commit is there
            assert max(reported) in listed_epochs
        trainer = manager.load_trainer_state()
        assert trainer is None or trainer["agent_step"] == trainer["epoch"] * 10

    CheckpointManager(run_dir, "crash", keep_last=KEEP_LAST).save_trainer_state(None, 10**6, 0)
    assert not [name for name in os.listdir(run_dir) if name.endswith(".tmp")], (
        "the first write of a manager sweeps what killed writers left"
    )
    assert reported, "the children never committed anything: the test exercised nothing"
    assert hit_mid_save, "no kill landed mid-save: the test exercised nothing"
