"""The vetted callables: what a checkpoint's globals resolve to, each checking its arguments.

Torch's own rebuild functions trust their arguments (a file could ask for a view past the
end of a storage, or a multi-terabyte ``bytes(n)``); these replacements take the same
arguments, refuse anything out of range, and build the same objects bit for bit.
"""

from __future__ import annotations

import codecs
import collections
import math
import re
from typing import Any, NoReturn

import numpy as np
import torch

from ._placeholder import Placeholder

__all__ = [
    "NDARRAY",
    "MalformedError",
    "Reference",
    "StorageRef",
    "StorageType",
    "build_dtype",
    "build_ndarray",
    "codecs_encode",
    "make_bytearray",
    "make_bytes",
    "make_defaultdict",
    "make_device",
    "make_size",
    "numpy_dtype",
    "numpy_reconstruct",
    "numpy_scalar",
    "rebuild_parameter",
    "rebuild_tensor",
    "reconstruct_placeholder",
]


class MalformedError(ValueError):
    """An argument read from the file is out of range; the engine reports the file."""


def _fail(reason: str) -> NoReturn:
    raise MalformedError(reason)


class Reference:
    """A global that is only referred to (e.g. ``typing.Any`` as a type annotation)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<reference {self.name}>"


#: ``numpy.ndarray`` as a token: only ``numpy_reconstruct`` accepts it, nothing calls it.
NDARRAY = Reference("numpy.ndarray")


class StorageType:
    """A ``torch.FloatStorage``-style global inside a persistent id: just its dtype."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class StorageRef:
    """What a storage persistent id resolves to: bytes, viewed with the pickled dtype."""

    __slots__ = ("data", "dtype")

    def __init__(self, data: torch.UntypedStorage, dtype: torch.dtype) -> None:
        self.data = data
        self.dtype = dtype


def _ints(values: object, what: str) -> tuple[int, ...]:
    if not isinstance(values, tuple | list | torch.Size) or not all(
        type(value) is int for value in values
    ):
        _fail(f"{what} is not a sequence of integers")
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
        _fail("a tensor is rebuilt from something that is not a storage")
    shape, strides = _ints(size, "tensor size"), _ints(stride, "tensor stride")
    if type(storage_offset) is not int or storage_offset < 0:
        _fail("tensor storage offset is not a non-negative integer")
    if len(shape) != len(strides) or any(n < 0 for n in shape) or any(s < 0 for s in strides):
        _fail(f"tensor size {shape} and stride {strides} do not match")
    itemsize = storage.dtype.itemsize
    available = storage.data.nbytes() // itemsize
    if (
        math.prod(shape)
        and storage_offset + sum((n - 1) * s for n, s in zip(shape, strides, strict=True))
        >= available
    ):
        _fail(f"tensor of size {shape} at offset {storage_offset} overruns its storage")
    tensor = torch.empty((0,), dtype=storage.dtype)
    tensor.set_(storage.data, storage_offset, shape, strides)
    if requires_grad is True and (tensor.is_floating_point() or tensor.is_complex()):
        tensor.requires_grad_(True)
    return tensor


def rebuild_parameter(
    data: object, requires_grad: object, backward_hooks: object, state: object = None
) -> torch.nn.Parameter:
    """``torch._utils._rebuild_parameter[_with_state]`` minus hooks and extra attributes."""
    if not isinstance(data, torch.Tensor):
        _fail("a parameter is rebuilt from something that is not a tensor")
    grad = requires_grad is True and (data.is_floating_point() or data.is_complex())
    return torch.nn.Parameter(data, requires_grad=grad)


def make_device(kind: object, index: object = None) -> torch.device:
    """``torch.device`` from a short name and an optional integer index only."""
    if not isinstance(kind, str) or len(kind) > 64:
        _fail("a torch.device is not named by a short string")
    if index is None:
        return torch.device(kind)
    if type(index) is not int:
        _fail("a torch.device index is not an integer")
    return torch.device(kind, index)


def make_size(values: object = ()) -> torch.Size:
    """``torch.Size`` of integers only."""
    return torch.Size(_ints(values, "torch.Size"))


_TEXT_ENCODINGS = frozenset({"latin1", "latin-1", "utf-8", "utf8", "ascii"})


def codecs_encode(text: object, encoding: object = "utf-8") -> bytes:
    """``_codecs.encode`` as py2-era pickles use it: text to bytes, plain text codecs only."""
    if not isinstance(text, str) or encoding not in _TEXT_ENCODINGS:
        _fail("_codecs.encode is asked for something other than text to bytes")
    return codecs.encode(text, str(encoding))


def make_bytes(source: object = b"", encoding: object = None) -> bytes:
    """``bytes(...)`` but never ``bytes(n)``: a length from the file must not allocate."""
    if isinstance(source, str) and isinstance(encoding, str):
        return codecs_encode(source, encoding)
    if not isinstance(source, bytes | bytearray | list | tuple) or encoding is not None:
        _fail("bytes() is called with something other than bytes or a list")
    return bytes(source)


def make_bytearray(source: object = b"", encoding: object = None) -> bytearray:
    """``bytearray(...)`` under the rules of ``make_bytes``."""
    return bytearray(make_bytes(source, encoding))


_FACTORIES: tuple[type, ...] = (list, dict, set, int, float, collections.OrderedDict)


def make_defaultdict(factory: object = None, *items: object) -> collections.defaultdict[Any, Any]:
    """``defaultdict`` whose default factory is a standard container, or none at all."""
    if items:
        _fail("defaultdict is called with more than its default factory")
    return collections.defaultdict(factory if factory in _FACTORIES else None)


def reconstruct_placeholder(cls: object, base: object, state: object) -> Placeholder:
    """``copyreg._reconstructor`` (protocol 0/1 objects), for inert classes only."""
    if not (isinstance(cls, type) and issubclass(cls, Placeholder)):
        _fail("copyreg._reconstructor is asked to build a class that is not inert")
    obj = cls()
    obj.args = (state,) if state is not None else ()
    return obj


# -- numpy: plain numeric arrays only ----------------------------------------------------

_NUMERIC_KINDS = frozenset("biufc")
_DTYPE_SPEC = re.compile(r"[biufc]\d{1,2}")


def _check_dtype(dtype: object) -> np.dtype[Any]:
    if (
        not isinstance(dtype, np.dtype)
        or dtype.kind not in _NUMERIC_KINDS
        or dtype.hasobject
        or dtype.fields is not None
        or dtype.subdtype is not None
    ):
        _fail(f"numpy dtype {dtype!r} is not a plain numeric dtype (object arrays are refused)")
    return dtype


def numpy_dtype(spec: object, align: object = False, copy: object = True) -> np.dtype[Any]:
    """``numpy.dtype('f4', ...)``: numeric specs only, always a fresh copy BUILD may modify."""
    if not isinstance(spec, str) or not _DTYPE_SPEC.fullmatch(spec):
        _fail(f"numpy dtype {spec!r} is not a plain numeric dtype (object arrays are refused)")
    return np.dtype(spec, align=bool(align), copy=True)


def build_dtype(dtype: np.dtype[Any], state: object) -> None:
    """BUILD of a numpy dtype: its state may only set the byte order."""
    if not (
        isinstance(state, tuple)
        and len(state) == 8
        and state[1] in ("<", ">", "|", "=")
        and state[2:5] == (None, None, None)
    ):
        _fail("numpy dtype state describes a structured or sub-array dtype")
    _check_dtype(dtype)
    dtype.__setstate__(state)  # type: ignore[attr-defined]


def numpy_reconstruct(cls: object, shape: object, typecode: object) -> np.ndarray[Any, Any]:
    """``numpy.core.multiarray._reconstruct``: an empty array that BUILD then fills."""
    if cls is not NDARRAY or _ints(shape, "array shape") != (0,):
        _fail("numpy _reconstruct is asked for something other than an empty ndarray")
    return np.ndarray((0,), dtype=np.uint8)


def build_ndarray(array: np.ndarray[Any, Any], state: object) -> None:
    """BUILD of an ndarray: version, shape, dtype, order and exactly enough bytes."""
    if not (isinstance(state, tuple) and len(state) == 5):
        _fail("numpy array state is not (version, shape, dtype, fortran, data)")
    _, shape, dtype, fortran, raw = state
    dims = _ints(shape, "array shape")
    if not isinstance(raw, bytes | bytearray) or type(fortran) is not bool:
        _fail("numpy array data is not raw bytes")
    if any(n < 0 for n in dims) or math.prod(dims) * _check_dtype(dtype).itemsize != len(raw):
        _fail(f"numpy array of shape {dims} does not match its {len(raw)} data bytes")
    array.__setstate__(state)


def numpy_scalar(dtype: object, raw: object = b"") -> object:
    """``numpy.core.multiarray.scalar`` for numeric dtypes: exactly ``itemsize`` bytes."""
    checked = _check_dtype(dtype)
    if not isinstance(raw, bytes) or len(raw) != checked.itemsize:
        _fail("numpy scalar data does not match its dtype")
    return np.frombuffer(raw, dtype=checked)[0]
