"""Tensor storages of a legacy torch stream, allocated as the pickle names them, filled after."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import torch

from checkpoint._budget import memory_budget
from checkpoint.errors import UnreadableCheckpointError

__all__ = ["LegacyStorages"]


class LegacyStorages:
    """Storages of a legacy stream: allocated while unpickling, filled from the tail after.

    The legacy format writes the raw bytes after the main pickle, so (like torch) the
    engine allocates each storage when the pickle first names it and copies the bytes in
    once the pickle is done. Every allocation counts against the file's size.
    """

    def __init__(self, path: Path, budget: int) -> None:
        self._path = path
        self._budget = budget
        self.budget = memory_budget(budget)
        self._buffers: dict[str, tuple[torch.Tensor, int]] = {}

    def get(self, key: str, dtype: torch.dtype, numel: int) -> torch.UntypedStorage:
        if key not in self._buffers:
            nbytes = numel * dtype.itemsize
            if nbytes > self._budget:
                raise UnreadableCheckpointError(
                    f"storage {key!r} claims {nbytes} bytes, more than the file holds", self._path
                )
            self._budget -= nbytes
            self._buffers[key] = (torch.empty(nbytes, dtype=torch.uint8), dtype.itemsize)
        buffer, _ = self._buffers[key]
        if buffer.numel() < numel * dtype.itemsize:
            raise UnreadableCheckpointError(
                f"storage {key!r} is named with two different sizes", self._path
            )
        return buffer.untyped_storage()

    def fill(self, file: io.BufferedIOBase, end: int, keys: object) -> None:
        """Read each storage's bytes from ``file`` up to ``end``: 8-byte numel, then the bytes."""
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise UnreadableCheckpointError("the legacy storage key list is malformed", self._path)
        missing = set(self._buffers) - set(keys)
        if missing or len(set(keys)) != len(keys):
            raise UnreadableCheckpointError(
                f"the legacy storage key list does not match the pickle ({sorted(missing)[:3]})",
                self._path,
            )
        for key in keys:
            if key not in self._buffers:
                raise UnreadableCheckpointError(f"storage {key!r} is never used", self._path)
            buffer, itemsize = self._buffers[key]
            header = file.read(8)
            if len(header) != 8:
                raise UnreadableCheckpointError(f"storage {key!r} is truncated", self._path)
            (numel,) = struct.unpack("<q", header)
            if numel * itemsize != buffer.numel():
                raise UnreadableCheckpointError(
                    f"storage {key!r} holds {numel} elements, the pickle expects "
                    f"{buffer.numel() // itemsize}",
                    self._path,
                )
            if file.tell() + buffer.numel() > end:
                raise UnreadableCheckpointError(
                    f"storage {key!r} is truncated: the file ends within it", self._path
                )
            if file.readinto(buffer.numpy().data) != buffer.numel():
                raise UnreadableCheckpointError(f"storage {key!r} is truncated", self._path)
