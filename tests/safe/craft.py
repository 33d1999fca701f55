"""Build small (possibly malformed) checkpoints byte by byte for the bad-input tests.

Only ``pickle.Pickler`` is used (writing is safe); the engine under test does the reading.
"""

from __future__ import annotations

import io
import pickle
import sys
import types
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch


class Storage:
    """Stands for a storage record: pickled as torch's ('storage', ...) persistent id."""

    def __init__(self, key: str, numel: int) -> None:
        self.key = key
        self.numel = numel


class Tensor:
    """Pickled as ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``."""

    def __init__(
        self, storage: Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
    ):
        self.args = (storage, offset, size, stride, False, OrderedDict())

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return torch._utils._rebuild_tensor_v2, self.args


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: object) -> object:
        if isinstance(obj, Storage):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def dumps(obj: object) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def zip_checkpoint(path: Path, data_pkl: bytes, records: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/version", b"3\n")
        for key, raw in records.items():
            archive.writestr(f"archive/data/{key}", raw)
    return path


@contextmanager
def fake_module(name: str, **members: object) -> Iterator[types.ModuleType]:
    """A throwaway importable module, so the pickler can name classes that nobody has."""
    module = types.ModuleType(name)
    for attr, value in members.items():
        if isinstance(value, type | types.FunctionType):
            value.__module__ = name
            value.__qualname__ = attr
        setattr(module, attr, value)
    sys.modules[name] = module
    try:
        yield module
    finally:
        del sys.modules[name]


def nested_dicts(depth: int) -> bytes:
    """A protocol-2 pickle of ``{"a": {"a": ...}}`` nested ``depth`` deep (no recursion)."""
    key = b"X\x01\x00\x00\x00a"
    return b"\x80\x02" + (b"}" + key) * depth + b"}" + b"s" * depth + b"."
