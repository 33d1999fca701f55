"""CheckpointManager on s3:// against the moto server: the API, retention, races, damage."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
import warnings
from pathlib import Path

import pytest
import s3fs
import torch

from checkpoint import CheckpointManager
from checkpoint._remote import RemoteCheckpointManager
from checkpoint._remotecatalog import INDEX_OBJECT
from checkpoint.errors import (
    CheckpointCorruptError,
    CheckpointExistsError,
    CheckpointNotFoundError,
    DamagedSidecarWarning,
    InvalidCheckpointRequestError,
)


def state(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(16, 8, generator=generator), "b": torch.arange(8.0) + seed}


def fs() -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(skip_instance_cache=True)


def test_a_url_gives_the_remote_manager(run_url: str) -> None:
    manager = CheckpointManager(run_url, "run7")
    assert isinstance(manager, RemoteCheckpointManager)
    assert manager.list() == []
    assert manager.latest() is None


def test_save_list_select_load_delete(run_url: str) -> None:
    manager = CheckpointManager(run_url, "run7")
    for epoch, score in [(1, 0.5), (2, 0.9), (3, 0.7)]:
        info = manager.save_agent(state(epoch), epoch, {"score": score, "agent_step": epoch * 10})
        assert info.uri == f"{run_url}/run7.e{epoch:08d}.pt"
    assert [info.epoch for info in manager.list()] == [1, 2, 3]
    latest = manager.latest()
    assert latest is not None and latest.epoch == 3
    best = manager.find_best_checkpoint()
    assert best is not None and best.epoch == 2 and best.metadata["score"] == 0.9
    assert [i.epoch for i in manager.select("latest", n=2)] == [3, 2]
    assert [i.epoch for i in manager.select("best", n=2)] == [2, 3]
    loaded = manager.load_state_dict(2)
    assert torch.equal(loaded["w"], state(2)["w"])
    assert torch.equal(manager.load_state_dict()["b"], state(3)["b"])
    assert manager.verify(1).epoch == 1
    manager.delete(2)
    assert [info.epoch for info in manager.list()] == [1, 3]
    assert not fs().exists(f"{run_url}/run7.e00000002.pt")
    with pytest.raises(CheckpointNotFoundError, match=r"s3://.*epoch 2"):
        manager.load_state_dict(2)
    with pytest.raises(CheckpointNotFoundError):
        manager.delete(2)


def test_an_existing_epoch_is_refused(run_url: str) -> None:
    manager = CheckpointManager(run_url, "run7")
    manager.save_agent(state(1), 1)
    with pytest.raises(CheckpointExistsError, match="already committed"):
        manager.save_agent(state(2), 1)
    assert torch.equal(manager.load_state_dict(1)["w"], state(1)["w"])


def test_trainer_state_round_trips(run_url: str) -> None:
    manager = CheckpointManager(run_url, "run7")
    manager.save_agent(state(1), 1)
    manager.save_trainer_state({"lr": 0.1, "moments": torch.ones(3)}, 1, agent_step=100)
    loaded = manager.load_trainer_state()
    assert loaded is not None and loaded["agent_step"] == 100
    assert torch.equal(loaded["optimizer"]["moments"], torch.ones(3))
    assert manager.load_trainer_state(7) is None


def test_retention_spares_newest_best_and_other_runs(bucket: str) -> None:
    prefix = f"s3://{bucket}/shared"
    other = CheckpointManager(prefix, "run8")
    other.save_agent(state(80), 1, {"score": 0.0})
    other.save_agent(state(81), 2, {"score": 0.0})
    manager = CheckpointManager(prefix, "run7", keep_last=2, metric="score")
    for epoch, score in [(1, 5.0), (2, 1.0), (3, 1.0), (4, 1.0), (5, 1.0)]:
        manager.save_agent(state(epoch), epoch, {"score": score})
        manager.save_trainer_state(None, epoch, agent_step=epoch)
    assert [info.epoch for info in manager.list()] == [1, 4, 5]  # the best, the last two
    assert [info.epoch for info in other.list()] == [1, 2]
    names = {path.rsplit("/", 1)[1] for path in fs().ls(f"{bucket}/shared", refresh=True)}
    assert "run7.e00000002.pt" not in names and "run7.e00000003.yaml" not in names
    assert {"run8.e00000001.pt", "run8.e00000002.yaml"} <= names
    assert "run7.e00000005.trainer.pt" in names and "run7.e00000003.trainer.pt" not in names


def test_two_writers_of_one_epoch_exactly_one_wins(run_url: str) -> None:
    barrier = threading.Barrier(2)
    outcomes: dict[int, object] = {}

    def write(seed: int) -> None:
        manager = CheckpointManager(run_url, "run7")
        barrier.wait()
        try:
            outcomes[seed] = manager.save_agent(state(seed), 4, {"score": float(seed)})
        except CheckpointExistsError as exc:
            outcomes[seed] = exc

    threads = [threading.Thread(target=write, args=(seed,)) for seed in (10, 20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = [seed for seed, outcome in outcomes.items() if isinstance(outcome, Exception)]
    assert len(errors) == 1, outcomes
    winner = ({10, 20} - set(errors)).pop()
    manager = CheckpointManager(run_url, "run7")
    assert [info.metadata["score"] for info in manager.list()] == [float(winner)]
    assert torch.equal(manager.load_state_dict(4)["w"], state(winner)["w"])
    manager.verify(4)


def test_changed_weights_fail_verify_naming_the_url(run_url: str) -> None:
    manager = CheckpointManager(run_url, "run7")
    manager.save_agent(state(1), 1)
    weights = f"{run_url}/run7.e00000001.pt"
    data = bytearray(fs().cat_file(weights))
    data[-100] ^= 0xFF  # same size: only the hash can tell
    fs().pipe_file(weights, bytes(data))
    with pytest.raises(CheckpointCorruptError, match=rf"{weights}: sha256 is"):
        manager.verify(1)


def test_truncated_weights_fail_to_load_naming_the_url(run_url: str) -> None:
    manager = CheckpointManager(run_url, "run7")
    manager.save_agent(state(1), 1)
    weights = f"{run_url}/run7.e00000001.pt"
    fs().pipe_file(weights, fs().cat_file(weights)[:-10])
    with pytest.raises(CheckpointCorruptError, match=rf"{weights}: size is"):
        manager.load_state_dict(1)


def test_a_damaged_sidecar_is_left_out_with_a_warning(run_url: str) -> None:
    manager = CheckpointManager(run_url, "run7")
    manager.save_agent(state(1), 1)
    manager.save_agent(state(2), 2)
    fs().pipe_file(f"{run_url}/run7.e00000002.yaml", b"format_version: [unclosed")
    with pytest.warns(DamagedSidecarWarning, match=rf"{run_url}/run7.e00000002.yaml"):
        assert [info.epoch for info in manager.list()] == [1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [info.epoch for info in manager.list()] == [1]  # warned once


def test_the_index_object_is_written_and_used(run_url: str) -> None:
    manager = CheckpointManager(run_url, "run7")
    for epoch in range(3):
        manager.save_agent(state(epoch), epoch, {"score": float(epoch)})
    assert [info.epoch for info in manager.list()] == [0, 1, 2]
    assert fs().exists(f"{run_url}/{INDEX_OBJECT}")
    fs().rm_file(f"{run_url}/{INDEX_OBJECT}")  # a cache: the listing is the same without it
    assert [info.epoch for info in manager.list()] == [0, 1, 2]


def test_any_fsspec_url_works_memory_included() -> None:
    url = f"memory://bucket-{uuid.uuid4().hex[:8]}/runs/run7"  # the memory store is global
    manager = CheckpointManager(url, "run7", keep_last=2)
    for epoch in range(4):
        manager.save_agent(state(epoch), epoch, {"score": float(epoch)})
    assert [info.epoch for info in manager.list()] == [2, 3]
    assert torch.equal(manager.load_state_dict(2)["w"], state(2)["w"])
    with pytest.raises(CheckpointExistsError, match=rf"{url}/run7.e00000003.yaml: epoch 3"):
        manager.save_agent(state(9), 3)


def test_file_urls_and_paths_keep_the_local_manager(tmp_path: Path) -> None:
    manager = CheckpointManager(f"file://{tmp_path}/run7", "run7")
    assert type(manager) is CheckpointManager
    manager.save_agent(state(1), 1)
    assert (tmp_path / "run7" / "run7.e00000001.yaml").is_file()
    with pytest.raises(InvalidCheckpointRequestError, match="storage_options are for URLs"):
        CheckpointManager(tmp_path, "run7", storage_options={"anon": True})


_PEAK_OF_A_SAVE = """
import sys, torch
from checkpoint import CheckpointManager

def status(field):
    with open("/proc/self/status") as file:
        return next(int(line.split()[1]) for line in file if line.startswith(field))

big = {"embedding": torch.randn(20 * 2**20)}  # 80 MB, which torch.save writes whole
manager = CheckpointManager(sys.argv[1], "run7")
manager.list()
before = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as file:
    file.write("5")  # the peak (VmHWM) restarts from here
manager.save_agent(big, 1)
print((status("VmHWM:") - before) * 1024)
"""


def test_a_save_streams_without_a_second_copy(run_url: str) -> None:
    """The save runs in a process of its own (the moto server allocates in this one)."""
    added = subprocess.run(
        [sys.executable, "-c", _PEAK_OF_A_SAVE, run_url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert int(added) < 40 * 2**20, f"an 80 MB save raised the peak RSS by {int(added)} bytes"
    manager = CheckpointManager(run_url, "run7")
    assert manager.list()[0].metadata["size"] > 80 * 2**20
