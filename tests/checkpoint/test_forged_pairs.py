"""A v1 pair whose sidecar vouches for forged weights: the sha256 matches, because whoever
forged the `.pt` rewrote the sidecar too. The manager must still refuse what torch's
weights-only reader would take but the manager never writes."""

from __future__ import annotations

import hashlib
import io
import pickletools
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from checkpoint import CheckpointManager
from checkpoint._plainweights import protocol2_globals
from checkpoint.errors import UnsafeCheckpointError


def _forge(manager: CheckpointManager, epoch: int, payload: bytes) -> None:
    """Replace the committed ``.pt`` of ``epoch`` and make its sidecar vouch for it."""
    info = manager.select("all")[0]
    assert info.epoch == epoch and info.sidecar_path is not None
    info.path.write_bytes(payload)
    sidecar = yaml.safe_load(info.sidecar_path.read_text())
    sidecar["sha256"] = hashlib.sha256(payload).hexdigest()
    sidecar["size"] = len(payload)
    info.sidecar_path.write_text(yaml.safe_dump(sidecar, sort_keys=False))


def _saved(obj: object, **options: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, **options)
    return buffer.getvalue()


def test_a_global_the_manager_never_writes_is_refused_before_torch_load(
    manager: CheckpointManager, make_state
) -> None:
    manager.save_agent(make_state(1.0), 1)
    # torch.load(weights_only=True) accepts bytearray(n), with n from the file.
    _forge(manager, 1, _saved({"w": torch.zeros(2), "junk": bytearray(16)}))
    with pytest.raises(UnsafeCheckpointError, match=r"builtins\.bytearray"):
        manager.load_state_dict(1)


def test_a_file_forged_after_a_load_is_checked_again(
    manager: CheckpointManager, make_state
) -> None:
    """The check is skipped only for the very file version it passed."""
    manager.save_agent(make_state(1.0), 1)
    manager.load_state_dict(1)
    _forge(manager, 1, _saved({"w": torch.zeros(2), "junk": bytearray(16)}))
    with pytest.raises(UnsafeCheckpointError, match=r"builtins\.bytearray"):
        manager.load_state_dict(1)


def test_a_name_written_as_torch_save_never_does_is_refused(
    manager: CheckpointManager, make_state
) -> None:
    manager.save_agent(make_state(1.0), 1)
    _forge(manager, 1, _saved(make_state(2.0), pickle_protocol=4))  # STACK_GLOBAL
    with pytest.raises(UnsafeCheckpointError, match="never writes"):
        manager.load_state_dict(1)


def test_an_honest_forgery_of_plain_tensors_still_loads(
    manager: CheckpointManager, make_state
) -> None:
    """The check refuses names, not content: plain tensors re-saved by torch.save load."""
    manager.save_agent(make_state(1.0), 1)
    _forge(manager, 1, _saved(make_state(3.0)))
    assert torch.equal(manager.load_state_dict(1)["w"], make_state(3.0)["w"])


@settings(max_examples=40, deadline=None)
@given(
    shapes=st.lists(st.lists(st.integers(0, 3), max_size=3), min_size=1, max_size=6),
    dtype=st.sampled_from([torch.float32, torch.float16, torch.int64, torch.bool, torch.uint8]),
    big=st.booleans(),
)
def test_the_opcode_walk_finds_what_pickletools_finds(
    shapes: list[list[int]], dtype: torch.dtype, big: bool
) -> None:
    """On every pickle torch.save writes for a state_dict, the fast walk names exactly the
    globals pickletools' full parse does (and a big int's LONG1 is walked over)."""
    state = {f"layer{i}.w": torch.zeros(shape, dtype=dtype) for i, shape in enumerate(shapes)}
    if big:
        state["offset"] = torch.zeros(1).as_strided((1,), (2**40,), 0)
    with zipfile.ZipFile(io.BytesIO(_saved(state))) as archive:
        [name] = [n for n in archive.namelist() if n.endswith("data.pkl")]
        data = archive.read(name)
    expected = [
        tuple(str(argument).split(" "))
        for opcode, argument, _ in pickletools.genops(data)
        if opcode.name == "GLOBAL"
    ]
    assert protocol2_globals(data, Path("x.pt")) == expected
