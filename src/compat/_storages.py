"""Tensor storages of a checkpoint, read from its container with every size checked first."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Protocol

import torch

from checkpoint.errors import UnreadableCheckpointError

from ._containers import ZipLayout

__all__ = ["LegacyStorages", "StorageSource", "ZipStorages"]


class StorageSource(Protocol):
    """Where the storages named by a pickle's persistent ids come from."""

    def get(self, key: str, dtype: torch.dtype, numel: int) -> torch.UntypedStorage: ...


class ZipStorages:
    """Storages of a zip archive: record ``<archive>/data/<key>``, shared by key.

    Their CRCs are not checked here (nor by ``torch.load``): ``compat.load(check_crc=True)``
    checks every record before reading any.
    """

    def __init__(self, file: io.BufferedIOBase, layout: ZipLayout, path: Path, limit: int) -> None:
        self._file = file
        self._limit = limit
        self._layout = layout
        self._path = path
        self._cache: dict[str, torch.UntypedStorage] = {}

    def get(self, key: str, dtype: torch.dtype, numel: int) -> torch.UntypedStorage:
        nbytes = numel * dtype.itemsize
        storage = self._cache.get(key)
        if storage is None:
            record = f"data/{key}"
            # torch's allocator, not a bytearray: it leaves the pages unzeroed, so each is
            # touched once, by the read.
            buffer = torch.empty(
                self._layout.size(record, self._limit, self._path), dtype=torch.uint8
            )
            self._layout.read_into(
                self._file, record, buffer.numpy().data, self._path, check_crc=False
            )
            storage = self._cache[key] = buffer.untyped_storage()
        if storage.nbytes() < nbytes:
            raise UnreadableCheckpointError(
                f"storage {key!r} holds {storage.nbytes()} bytes, the pickle expects {nbytes}",
                self._path,
            )
        return storage


class LegacyStorages:
    """Storages of a legacy stream: allocated while unpickling, filled from the tail after.

    The legacy format writes the raw bytes after the main pickle, so (like torch) the
    engine allocates each storage when the pickle first names it and copies the bytes in
    once the pickle is done. Every allocation counts against the file's size.
    """

    def __init__(self, path: Path, budget: int) -> None:
        self._path = path
        self._budget = budget
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
            if numel * itemsize != buffer.numel() or file.tell() + buffer.numel() > end:
                raise UnreadableCheckpointError(
                    f"storage {key!r} holds {numel} elements, the pickle expects "
                    f"{buffer.numel() // itemsize}, or the file is truncated",
                    self._path,
                )
            if file.readinto(buffer.numpy().data) != buffer.numel():
                raise UnreadableCheckpointError(f"storage {key!r} is truncated", self._path)
