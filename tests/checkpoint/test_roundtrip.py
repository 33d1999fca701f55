"""Property: any state_dict survives save -> load bit for bit (SPEC §3)."""

from __future__ import annotations

import tempfile

import torch
from hypothesis import given
from hypothesis import strategies as st

from checkpoint import CheckpointManager
from checkpoint._plain import torch_can_save

_DTYPE_NAMES = (
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "float8_e4m3fn",
    "float8_e5m2",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
)


DTYPES = [
    getattr(torch, name)
    for name in _DTYPE_NAMES
    if hasattr(torch, name) and torch_can_save(getattr(torch, name))
]


def test_the_probe_keeps_every_dtype_that_torch_2_1_could_already_save() -> None:
    assert {torch.float16, torch.bfloat16, torch.float32, torch.float64} <= set(DTYPES)
    assert {torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8} <= set(DTYPES)
    assert {torch.bool, torch.float8_e4m3fn, torch.float8_e5m2} <= set(DTYPES)


@st.composite
def tensors(draw: st.DrawFn) -> torch.Tensor:
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
    numel = 1
    for size in shape:
        numel *= size
    if numel == 0:
        return torch.empty(shape, dtype=dtype)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if dtype == torch.bool:
        raw = bytes(draw(st.lists(st.integers(0, 1), min_size=numel, max_size=numel)))
    else:  # any bit pattern: NaNs with payloads, infinities, subnormals, negative zero
        raw = draw(st.binary(min_size=numel * itemsize, max_size=numel * itemsize))
    tensor = torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)
    if tensor.dim() >= 2 and draw(st.booleans()):
        tensor = tensor.transpose(0, 1)  # non-contiguous view
    elif tensor.dim() == 1 and tensor.numel() > 1 and draw(st.booleans()):
        tensor = tensor[::2]  # strided view
    return tensor


@st.composite
def state_dicts(draw: st.DrawFn) -> dict[str, torch.Tensor]:
    names = draw(
        st.lists(st.from_regex(r"[a-z][a-z0-9_.]{0,12}", fullmatch=True), unique=True, max_size=8)
    )
    state: dict[str, torch.Tensor] = {}
    for name in names:
        if state and draw(st.integers(0, 3)) == 0:
            base = state[draw(st.sampled_from(sorted(state)))]
            state[name] = base[: base.shape[0] // 2 + 1] if base.dim() else base  # shares storage
        else:
            state[name] = draw(tensors())
    return state


def as_bytes(tensor: torch.Tensor) -> bytes:
    dense = torch.empty(tensor.shape, dtype=tensor.dtype).copy_(tensor).reshape(-1)
    return dense.view(torch.uint8).numpy().tobytes()


@given(state=state_dicts())
def test_state_dict_round_trip_is_bit_exact(state: dict[str, torch.Tensor]) -> None:
    with tempfile.TemporaryDirectory() as run_dir:
        manager = CheckpointManager(run_dir, "prop")
        manager.save_agent(state, 0)
        loaded = manager.load_state_dict()
        verified = manager.verify(0)

    assert verified.epoch == 0
    assert list(loaded) == list(state)
    for name, original in state.items():
        restored = loaded[name]
        assert restored.dtype == original.dtype, name
        assert restored.shape == original.shape, name
        assert restored.stride() == original.stride(), name
        assert as_bytes(restored) == as_bytes(original), name
    shared = [
        (a, b)
        for a in state
        for b in state
        if a < b
        and state[a].numel()
        and state[b].numel()
        and state[a].untyped_storage().data_ptr() == state[b].untyped_storage().data_ptr()
    ]
    for a, b in shared:
        assert loaded[a].untyped_storage().data_ptr() == loaded[b].untyped_storage().data_ptr()
