"""Read a safetensors file: no pickle at all, so only its header needs checking."""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import torch

from checkpoint.errors import UnreadableCheckpointError
from compat.engine._containers import safetensors_header

__all__ = ["read_safetensors"]

_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "C64": torch.complex64,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def read_safetensors(path: Path) -> tuple[OrderedDict[str, torch.Tensor], dict[str, object]]:
    """The tensors (in header order) and the ``__metadata__`` of a safetensors file.

    Every entry's dtype, shape and byte range are checked against the file before a
    tensor is made; the tensors share one buffer holding the data section.
    """
    header, start = safetensors_header(path)
    data = bytearray(path.stat().st_size - start)
    with path.open("rb") as file:
        file.seek(start)
        if file.readinto(data) != len(data):
            raise UnreadableCheckpointError("the safetensors data is truncated", path)
    metadata = header.pop("__metadata__", None)
    tensors: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, entry in header.items():
        tensors[name] = _tensor(path, name, entry, data)
    return tensors, dict(metadata) if isinstance(metadata, dict) else {}


def _tensor(path: Path, name: str, entry: object, data: bytearray) -> torch.Tensor:
    if not isinstance(entry, dict):
        raise UnreadableCheckpointError(f"safetensors entry {name!r} is not an object", path)
    dtype = _DTYPES.get(str(entry.get("dtype")))
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if (
        dtype is None
        or not isinstance(shape, list)
        or not all(type(n) is int and n >= 0 for n in shape)
        or not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(n) is int for n in offsets)
    ):
        raise UnreadableCheckpointError(f"safetensors entry {name!r} is malformed", path)
    begin, end = offsets
    if not 0 <= begin <= end <= len(data) or end - begin != math.prod(shape) * dtype.itemsize:
        raise UnreadableCheckpointError(
            f"safetensors entry {name!r} lies outside the data or does not match its shape", path
        )
    if begin == end:
        return torch.empty(shape, dtype=dtype)
    flat = torch.frombuffer(data, dtype=torch.uint8, count=end - begin, offset=begin)
    return flat.view(dtype).reshape(shape)
