"""Mutated checkpoints: whatever the bytes, only the engine's documented exceptions come out."""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from safe_paths import CORPUS

import compat.engine._safe as safe
from checkpoint.errors import UnreadableCheckpointError, UnsafeCheckpointError

BASES = {
    path.name: path.read_bytes()
    for path in (
        CORPUS / "torch-2.0.1" / "dtypes_legacy.pt",
        CORPUS / "torch-1.13.1" / "record_legacy.pt",
        CORPUS / "torch-2.5.1" / "dtypes_zip.pt",
        CORPUS / "hostile" / "hidden_in_record.pkl",
    )
}
_HEADER = json.dumps(
    {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "__metadata__": {"a": "b"}}
).encode()
BASES["small.safetensors"] = struct.pack("<Q", len(_HEADER)) + _HEADER + bytes(8)
DOCUMENTED = (UnreadableCheckpointError, UnsafeCheckpointError)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(BASES)))
    data = bytearray(BASES[name])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
        if action == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "truncate":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            data[at] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, ord("R"), ord("b")]))
    return name, bytes(data)


@settings(max_examples=3000)  # issue 4: "a few thousand cases in CI" (about 9 s)
@given(mutated())
def test_mutations_raise_only_documented_exceptions(case: tuple[str, bytes]) -> None:
    name, data = case
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_bytes(data)
        for call in (safe.inspect, safe.load):
            try:
                call(path)
            except DOCUMENTED as exc:
                assert str(path) in str(exc)
