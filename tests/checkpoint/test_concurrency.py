"""Two processes saving into one run directory lose nothing (SPEC §4, issue 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from checkpoint import CheckpointManager

SAVER = """
import sys, torch
from checkpoint import CheckpointManager
run_dir, parity, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
manager = CheckpointManager(run_dir, "shared", keep_last=4)
big = torch.randn(250_000)
for epoch in range(parity, 2 * count, 2):
    manager.save_agent({"big": big, "epoch": torch.tensor([epoch])}, epoch, {"score": epoch})
    manager.save_trainer_state(None, epoch, epoch)
"""


def test_two_processes_saving_different_epochs(tmp_path: Path) -> None:
    count = 15
    savers = [
        subprocess.Popen([sys.executable, "-c", SAVER, str(tmp_path), str(parity), str(count)])
        for parity in (0, 1)
    ]
    assert [saver.wait(timeout=240) for saver in savers] == [0, 0]

    manager = CheckpointManager(tmp_path, "shared", keep_last=4)
    listed = manager.list()
    all_epochs = list(range(2 * count))
    assert [info.epoch for info in listed] == all_epochs[-4:]
    for info in listed:
        manager.verify(info.epoch)
        assert manager.load_state_dict(info.epoch)["epoch"].item() == info.epoch
    assert manager.load_trainer_state()["epoch"] == all_epochs[-1]
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".tmp")]
