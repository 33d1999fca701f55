"""The manager's own weights-only reader of trainer states (``checkpoint._weights_only``).

It must read back exactly what ``torch.save`` wrote of the values ``save_trainer_state``
takes, on every dtype, and refuse everything else without running it, including what
torch's weights-only unpickler itself lets through.
"""

from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from checkpoint._plain import torch_can_save
from checkpoint._weights_only import read_weights_only
from checkpoint.errors import UnreadableCheckpointError, UnsafeCheckpointError

HOSTILE = Path(__file__).parents[1] / "fixtures" / "legacy" / "hostile"


def _plain_tensor_dtypes() -> list[torch.dtype]:
    """Every dtype torch has plain tensors of and saves (not quantized or bit-packed ones)."""
    found = []
    for dtype in {value for value in vars(torch).values() if isinstance(value, torch.dtype)}:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # quantized dtypes warn of their deprecation
                torch.arange(6).to(dtype)
        except (RuntimeError, TypeError):
            continue
        if torch_can_save(dtype):
            found.append(dtype)
    return sorted(found, key=str)


PLAIN_DTYPES = _plain_tensor_dtypes()


def same(expected: object, actual: object) -> bool:
    """Equal in type and structure, tensors bit for bit (NaN payloads included)."""
    if isinstance(expected, torch.Tensor):
        return (
            isinstance(actual, torch.Tensor)
            and (expected.dtype, expected.shape, expected.stride())
            == (actual.dtype, actual.shape, actual.stride())
            and torch.equal(
                expected.contiguous().view(-1).view(torch.uint8),
                actual.contiguous().view(-1).view(torch.uint8),
            )
        )
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, dict):
        return list(expected) == list(actual) and all(  # type: ignore[call-overload]
            same(expected[key], actual[key])
            for key in expected  # type: ignore[index]
        )
    if isinstance(expected, list | tuple):
        return len(expected) == len(actual) and all(  # type: ignore[arg-type]
            same(a, b)
            for a, b in zip(expected, actual, strict=True)  # type: ignore[call-overload]
        )
    return expected == actual


def _saved(tmp_path: Path, obj: object) -> Path:
    path = tmp_path / "state.pt"
    torch.save(obj, path)
    return path


def test_reads_an_optimizer_and_rng_state_exactly_as_torch_load(tmp_path) -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):
        model(torch.randn(3, 4)).sum().backward()
        optimizer.step()
    state = {
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "shapes": [torch.Size([2, 3]), (torch.float16, torch.device("cpu"))],
        "ids": {1, 2, 3},
        "ordered": OrderedDict(a=torch.arange(3)),
        "view": torch.arange(10.0)[2:8:2],
        "nan": torch.tensor([float("nan"), -0.0]),
    }
    assert same(state, read_weights_only(_saved(tmp_path, state)))


def test_the_torch_free_dtype_names_cover_every_dtype_torch_pickles() -> None:
    """``checkpoint._tensornames`` (read without torch) names every dtype of this torch."""
    from checkpoint._tensornames import DTYPE_NAMES

    every = {
        str(value).removeprefix("torch.")
        for value in vars(torch).values()
        if isinstance(value, torch.dtype)
    }
    assert every - set(DTYPE_NAMES) == set()


def test_the_dtype_list_covers_the_float8_and_unsigned_dtypes() -> None:
    names = {str(dtype) for dtype in PLAIN_DTYPES}
    assert {"torch.float32", "torch.bfloat16", "torch.bool", "torch.complex64"} <= names
    assert "torch.float8_e4m3fn" in names or not hasattr(torch, "float8_e4m3fn")


@pytest.mark.parametrize("dtype", PLAIN_DTYPES, ids=str)
def test_every_dtype_torch_saves_reads_back_bit_for_bit(tmp_path, dtype) -> None:
    tensor = torch.arange(6).reshape(2, 3).to(dtype)
    state = {"t": tensor, "t_view": tensor.t()}
    assert same(state, read_weights_only(_saved(tmp_path, state)))


def test_shared_storage_stays_shared(tmp_path) -> None:
    base = torch.arange(8.0)
    state = read_weights_only(_saved(tmp_path, {"a": base, "b": base[2:]}))
    assert isinstance(state, dict)
    assert state["a"].untyped_storage().data_ptr() == state["b"].untyped_storage().data_ptr()


def _zip(tmp_path: Path, data_pkl: bytes, name: str = "bomb.pt") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/version", b"3\n")
    return path


def test_a_bytearray_bomb_that_torch_weights_only_accepts_is_refused(tmp_path) -> None:
    """``bytearray(8 GiB)``: torch's weights-only allowlist takes it, and allocates."""
    data_pkl = b"\x80\x02c__builtin__\nbytearray\n\x8a\x05\x00\x00\x00\x00\x02\x85R."
    with pytest.raises(UnsafeCheckpointError, match=r"builtins\.bytearray"):
        read_weights_only(_zip(tmp_path, data_pkl))


@pytest.mark.parametrize("case", ["os_system_zip.pt", "builtins_exec_zip.pt"])
def test_hostile_files_are_refused_and_run_nothing(tmp_path, monkeypatch, case) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsafeCheckpointError, match="nothing was run"):
        read_weights_only(HOSTILE / case)
    assert not list(tmp_path.glob("PWNED_*"))


def test_a_huge_memo_index_allocates_nothing(tmp_path) -> None:
    """The C unpickler sizes its memo array by the index; this reader's memo is a dict."""
    data_pkl = b"\x80\x02]r\xff\xff\xff\x3f."  # EMPTY_LIST, LONG_BINPUT 0x3fffffff, STOP
    assert read_weights_only(_zip(tmp_path, data_pkl)) == []


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda raw: raw[: len(raw) // 2], "zip"),
        (lambda raw: b"", "zip"),
        (lambda raw: b"not a zip at all", "zip"),
    ],
)
def test_damaged_files_are_unreadable(tmp_path, mangle, reason) -> None:
    path = _saved(tmp_path, {"w": torch.ones(100)})
    path.write_bytes(mangle(path.read_bytes()))
    with pytest.raises(UnreadableCheckpointError, match=reason):
        read_weights_only(path)


def test_a_storage_larger_than_its_record_is_unreadable(tmp_path) -> None:
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(4)}, buffer)
    with zipfile.ZipFile(buffer) as archive:
        names = archive.namelist()
        records = {name: archive.read(name) for name in names}
    storage = next(name for name in names if "/data/" in name)
    records[storage] = records[storage][:4]  # 1 float left of 4
    path = tmp_path / "short.pt"
    with zipfile.ZipFile(path, "w") as archive:
        for name, raw in records.items():
            archive.writestr(name, raw)
    with pytest.raises(UnreadableCheckpointError, match="holds 4 bytes"):
        read_weights_only(path)


def test_pickle_is_never_called_for_real() -> None:
    """The reader subclasses the pure-Python unpickler, whose memo is a dict."""
    from checkpoint import _weights_only

    assert issubclass(_weights_only._Unpickler, pickle._Unpickler)  # type: ignore[attr-defined]
