"""Write failures leave nothing half-written visible and every commit intact."""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
import torch

from checkpoint import CheckpointManager, CheckpointWriteError


def _visible_and_temp(run_dir: Path) -> tuple[list[int], list[str]]:
    manager = CheckpointManager(run_dir, "alpha")
    temps = [name for name in os.listdir(run_dir) if name.endswith(".tmp")]
    return [info.epoch for info in manager.list()], temps


def test_full_disk_leaves_previous_checkpoints_intact(run_dir, make_state, run_forked) -> None:
    manager = CheckpointManager(run_dir, "alpha")
    manager.save_agent(make_state(1.0), 0)
    big = {"big": torch.zeros(1_000_000)}

    def save_big_under_file_size_limit() -> str:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
        try:
            manager.save_agent(big, 1)
        except CheckpointWriteError as exc:
            return f"{exc.errno}|{exc}"
        return "saved"

    result = run_forked(save_big_under_file_size_limit)
    code, _, message = result.partition("|")
    assert int(code) == errno.EFBIG, result
    assert "disk" in message and "alpha.e00000001.pt" in message
    epochs, temps = _visible_and_temp(run_dir)
    assert epochs == [0] and temps == []
    assert manager.verify(0).epoch == 0


def test_enospc_from_the_writer_is_reported_as_full_disk(run_dir, make_state, monkeypatch) -> None:
    import checkpoint._storage as storage

    manager = CheckpointManager(run_dir, "alpha")
    manager.save_agent(make_state(1.0), 0)

    def no_space(self: object, chunk: memoryview) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.HashingWriter, "_write_all", no_space)
    with pytest.raises(CheckpointWriteError, match="full; free space") as excinfo:
        manager.save_agent(make_state(2.0), 1)
    assert excinfo.value.errno == errno.ENOSPC
    assert _visible_and_temp(run_dir) == ([0], [])


def test_run_dir_below_a_file_is_a_clear_error(tmp_path, make_state) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    manager = CheckpointManager(blocker / "run", "alpha")
    with pytest.raises(CheckpointWriteError, match="not-a-dir"):
        manager.save_agent(make_state(1.0), 0)


def test_unwritable_directory(make_state, run_forked) -> None:
    # tmp_path lives below a 0700 directory that an unprivileged user cannot traverse
    parent = Path(tempfile.mkdtemp(prefix="ckpt-ro-"))
    parent.chmod(0o755)
    run_dir = parent / "ro"
    CheckpointManager(run_dir, "alpha").save_agent(make_state(1.0), 0)
    run_dir.chmod(0o555)

    def save_as_unprivileged_user() -> str:
        if os.geteuid() == 0:  # root ignores permission bits: drop to nobody
            os.setgid(65534)
            os.setuid(65534)
        try:
            CheckpointManager(run_dir, "alpha").save_agent(make_state(2.0), 1)
        except CheckpointWriteError as exc:
            return str(exc)
        return "saved"

    try:
        message = run_forked(save_as_unprivileged_user)
        run_dir.chmod(0o755)
        assert "not writable" in message, message
        epochs, temps = _visible_and_temp(run_dir)
        assert epochs == [0] and temps == []
    finally:
        shutil.rmtree(parent)


def test_sidecar_write_failure_is_reported_once_and_names_the_sidecar(
    run_dir, make_state, monkeypatch
) -> None:
    import checkpoint._manager as manager_module

    manager = CheckpointManager(run_dir, "alpha")
    manager.save_agent(make_state(1.0), 0)

    def full_disk(_sidecar: object) -> bytes:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(manager_module, "dump_sidecar", full_disk)
    with pytest.raises(CheckpointWriteError) as excinfo:
        manager.save_agent(make_state(2.0), 1)
    message = str(excinfo.value)
    assert "alpha.e00000001.yaml" in message and "full" in message
    assert message.count("could not write") == 1
    assert _visible_and_temp(run_dir) == ([0], [])
