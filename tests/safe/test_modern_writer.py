"""Files written by the running torch (2.13) in both containers round-trip bit for bit, and
``inspect`` reads only the pickle, never the tensor data."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import torch

import compat.engine._safe as safe
from checkpoint._plain import torch_can_save


def _state() -> dict[str, torch.Tensor]:
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    return {
        "base": base,
        "transposed": base.t(),
        "slice": base[1:, ::2],
        "half": torch.linspace(-1, 1, 7, dtype=torch.float16),
        "bf16": torch.linspace(-1, 1, 5, dtype=torch.bfloat16),
        "complex": torch.tensor([1 + 2j, -3j], dtype=torch.complex64),
        "bool": torch.tensor([True, False, True]),
        "int8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "scalar": torch.tensor(3, dtype=torch.int64),
        "empty": torch.empty(0, 3),
        "nan": torch.tensor([float("nan"), float("inf")]),
        # no typed storage: torch >= 2.1 writes these with _rebuild_tensor_v3
        **{
            name: torch.arange(-2, 4).to(getattr(torch, name))
            for name in ("float8_e4m3fn", "float8_e5m2", "uint16", "uint32", "uint64")
            if hasattr(torch, name) and torch_can_save(getattr(torch, name))
        },
    }


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_round_trip(tmp_path: Path, zip_format: bool) -> None:
    path = tmp_path / "state.pt"
    state = _state()
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    loaded = safe.load(path, safe_globals=()).state_dict
    assert list(loaded) == list(state)
    for key, tensor in state.items():
        got = loaded[key]
        assert (got.dtype, got.shape, got.stride(), got.storage_offset()) == (
            tensor.dtype,
            tensor.shape,
            tensor.stride(),
            tensor.storage_offset(),
        )
        assert got.contiguous().reshape(-1).view(torch.uint8).tolist() == (
            tensor.contiguous().reshape(-1).view(torch.uint8).tolist()
        )
    shared = {loaded[k].untyped_storage().data_ptr() for k in ("base", "transposed", "slice")}
    assert len(shared) == 1


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_inspect_does_not_read_tensor_data(tmp_path: Path, zip_format: bool) -> None:
    path = tmp_path / "big.pt"
    torch.save({"w": torch.zeros(8 << 20)}, path, _use_new_zipfile_serialization=zip_format)
    tracemalloc.start()
    try:
        report = safe.inspect(path, safe_globals=())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.verdict is safe.Verdict.WEIGHTS_ONLY
    assert peak < 1 << 20  # the file is 32 MiB
