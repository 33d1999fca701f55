"""The tensor machinery of torch's pickles, with every argument a file gives checked.

torch's own rebuild functions trust their arguments (a file could ask for a view past the
end of a storage, or a storage of a petabyte). These take the same arguments, refuse
anything out of range, and build the same tensors bit for bit. The manager's weights-only
reader (``_weights_only``) and the ``compat`` safe loading engine both resolve torch's
tensor globals to them, so there is one vetted implementation of each.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NoReturn, Protocol

import torch

from ._tensornames import DTYPE_NAMES, REBUILDS, STORAGE_DTYPES

__all__ = [
    "DTYPES",
    "STORAGE_TYPES",
    "MalformedError",
    "StorageRef",
    "StorageSource",
    "StorageType",
    "ints",
    "make_device",
    "make_size",
    "rebuild_parameter",
    "rebuild_tensor",
    "rebuild_tensor_v3",
    "storage_of",
    "tensor_globals",
]


class MalformedError(ValueError):
    """An argument read from the file is out of range; the caller reports the file."""


def fail(reason: str) -> NoReturn:
    raise MalformedError(reason)


#: ``torch.<Name>Storage`` globals of persistent ids -> the dtype of their elements.
STORAGE_TYPES: Mapping[str, torch.dtype] = {
    storage: getattr(torch, dtype) for storage, dtype in STORAGE_DTYPES.items()
}

#: ``torch.<name>`` dtype globals (a pickled dtype names one), those the running torch has.
DTYPES: Mapping[str, torch.dtype] = {
    name: getattr(torch, name) for name in DTYPE_NAMES if hasattr(torch, name)
}


class StorageType:
    """A ``torch.FloatStorage``-style global inside a persistent id: just its dtype."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class StorageRef:
    """What a storage persistent id resolves to: bytes, viewed with the pickled dtype.

    ``budget`` bounds the bytes one tensor may view: a view that overlaps itself (stride 0)
    can describe far more elements than its storage holds, and copying it would allocate
    them all.
    """

    __slots__ = ("budget", "data", "dtype")

    def __init__(self, data: torch.UntypedStorage, dtype: torch.dtype, budget: int) -> None:
        self.data = data
        self.dtype = dtype
        self.budget = budget


class StorageSource(Protocol):
    """Where the storages named by a pickle's persistent ids come from."""

    #: The memory budget of the file they come from (``memory_budget``).
    budget: int

    def get(self, key: str, dtype: torch.dtype, numel: int) -> torch.UntypedStorage: ...


def storage_of(pid: tuple[object, ...], source: StorageSource) -> StorageRef:
    """The storage a ``("storage", type, key, location, numel)`` persistent id names."""
    if len(pid) not in (5, 6):
        fail("a storage persistent id does not have 5 fields")
    storage_type, key, _location, numel = pid[1:5]
    if len(pid) == 6 and pid[5] is not None:
        fail("storage views (torch < 0.4) are not supported")
    if isinstance(key, bytes):
        key = key.decode("ascii")
    if not isinstance(storage_type, StorageType):
        fail("a storage persistent id names no storage type")
    if not isinstance(key, str) or type(numel) is not int or numel < 0:
        fail("a storage persistent id has a bad key or size")
    return StorageRef(source.get(key, storage_type.dtype, numel), storage_type.dtype, source.budget)


def ints(values: object, what: str) -> tuple[int, ...]:
    if not isinstance(values, tuple | list | torch.Size) or not all(
        type(value) is int for value in values
    ):
        fail(f"{what} is not a sequence of integers")
    return tuple(values)


def rebuild_tensor(
    storage: object,
    storage_offset: object,
    size: object,
    stride: object,
    requires_grad: object = False,
    backward_hooks: object = None,
    metadata: object = None,
) -> torch.Tensor:
    """``torch._utils._rebuild_tensor_v2`` with every index checked against the storage.

    Backward hooks and metadata are dropped: a file cannot install callbacks.
    """
    if not isinstance(storage, StorageRef):
        fail("a tensor is rebuilt from something that is not a storage")
    shape, strides = ints(size, "tensor size"), ints(stride, "tensor stride")
    if type(storage_offset) is not int or storage_offset < 0:
        fail("tensor storage offset is not a non-negative integer")
    if len(shape) != len(strides) or any(n < 0 for n in shape) or any(s < 0 for s in strides):
        fail(f"tensor size {shape} and stride {strides} do not match")
    itemsize = storage.dtype.itemsize
    available = storage.data.nbytes() // itemsize
    if (
        math.prod(shape)
        and storage_offset + sum((n - 1) * s for n, s in zip(shape, strides, strict=True))
        >= available
    ):
        fail(f"tensor of size {shape} at offset {storage_offset} overruns its storage")
    if math.prod(shape) * itemsize > storage.budget:
        fail(
            f"a tensor of size {shape} views {math.prod(shape) * itemsize} bytes, over the "
            f"{storage.budget}-byte memory budget of the file (a self-overlapping view)"
        )
    tensor = torch.empty((0,), dtype=storage.dtype)
    tensor.set_(storage.data, storage_offset, shape, strides)
    if requires_grad is True and (tensor.is_floating_point() or tensor.is_complex()):
        tensor.requires_grad_(True)
    return tensor


def rebuild_tensor_v3(
    storage: object,
    storage_offset: object,
    size: object,
    stride: object,
    requires_grad: object,
    backward_hooks: object,
    dtype: object,
    metadata: object = None,
) -> torch.Tensor:
    """``torch._utils._rebuild_tensor_v3``: an untyped storage viewed with ``dtype`` (what
    torch >= 2.1 writes for dtypes without a typed storage class: float8, uint16...)."""
    if not isinstance(storage, StorageRef) or not isinstance(dtype, torch.dtype):
        fail("a tensor is rebuilt from something that is not a storage and a dtype")
    typed = StorageRef(storage.data, dtype, storage.budget)
    return rebuild_tensor(typed, storage_offset, size, stride, requires_grad)


def rebuild_parameter(
    data: object, requires_grad: object, backward_hooks: object, state: object = None
) -> torch.nn.Parameter:
    """``torch._utils._rebuild_parameter[_with_state]`` minus hooks and extra attributes."""
    if not isinstance(data, torch.Tensor):
        fail("a parameter is rebuilt from something that is not a tensor")
    grad = requires_grad is True and (data.is_floating_point() or data.is_complex())
    return torch.nn.Parameter(data, requires_grad=grad)


def make_device(kind: object, index: object = None) -> torch.device:
    """``torch.device`` from a short name and an optional integer index only."""
    if not isinstance(kind, str) or len(kind) > 64:
        fail("a torch.device is not named by a short string")
    if index is None:
        return torch.device(kind)
    if type(index) is not int:
        fail("a torch.device index is not an integer")
    return torch.device(kind, index)


def make_size(values: object = ()) -> torch.Size:
    """``torch.Size`` of integers only."""
    return torch.Size(ints(values, "torch.Size"))


def tensor_globals() -> dict[str, object]:
    """``"module.name"`` -> what it resolves to, for every global of torch's tensor pickles."""
    rebuilds = (
        rebuild_tensor,
        rebuild_tensor,
        rebuild_tensor_v3,
        rebuild_parameter,
        rebuild_parameter,
        make_device,
        make_size,
    )
    table: dict[str, object] = dict(zip(REBUILDS, rebuilds, strict=True))
    for storage, dtype in STORAGE_TYPES.items():
        table[f"torch.{storage}"] = StorageType(dtype)
    table["torch.storage.UntypedStorage"] = table["torch.UntypedStorage"]  # torch >= 2.1
    for name, dtype in DTYPES.items():
        table[f"torch.{name}"] = dtype
    return table
