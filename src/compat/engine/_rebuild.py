"""The vetted callables beyond torch's tensor machinery, each checking its arguments.

What a checkpoint's container, bytes and numpy globals resolve to. Python's own callables
trust their arguments (a file could ask for a multi-terabyte ``bytes(n)``, or an object
array over raw bytes); these take the same arguments, refuse anything out of range, and
build the same objects. The tensor globals resolve to ``checkpoint._tensorpickle``.
"""

from __future__ import annotations

import codecs
import collections
import math
import re
from typing import Any

import numpy as np

from checkpoint._tensorpickle import fail, ints
from compat.engine._placeholder import AttributeRef, Placeholder

__all__ = [
    "NDARRAY",
    "Reference",
    "attribute_reference",
    "build_dtype",
    "build_ndarray",
    "codecs_encode",
    "make_bytearray",
    "make_bytes",
    "make_defaultdict",
    "make_dict",
    "make_frozenset",
    "make_list",
    "make_set",
    "make_str",
    "make_tuple",
    "numpy_dtype",
    "numpy_frombuffer",
    "numpy_reconstruct",
    "numpy_scalar",
    "reconstruct_placeholder",
]


class Reference:
    """A global that is only referred to (e.g. ``typing.Any`` as a type annotation)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<reference {self.name}>"


#: ``numpy.ndarray`` as a token: only ``numpy_reconstruct`` accepts it, nothing calls it.
NDARRAY = Reference("numpy.ndarray")


def attribute_reference(owner: object, name: object, *default: object) -> AttributeRef:
    """``builtins.getattr`` as pickles use it: a reference by name, never looked up."""
    if not isinstance(name, str) or not name.isidentifier() or len(default) > 1:
        fail("getattr is asked for something other than an attribute name")
    return AttributeRef(owner, name)


#: The codecs torch and numpy pickles use (py2 strings): others would import ``encodings.*``
#: modules the file chose, and some (``hex_codec``, ``zlib_codec``) do work of their own.
_TEXT_ENCODINGS = frozenset({"latin1", "latin-1", "utf-8", "utf8", "ascii", "utf_8", "bytes"})
#: What the vetted container constructors may be given: plain containers and text, never a
#: tensor or array (``list(x)`` of a stride-0 view would iterate 10**8 elements from 4 bytes).
_ITERABLE_SOURCES = (list, tuple, dict, set, frozenset, str, bytes, bytearray, range)


def _plain_iterable(source: object, kind: str) -> Any:
    if not isinstance(source, _ITERABLE_SOURCES):
        fail(f"{kind}() is given a {type(source).__name__}, not a plain container")
    return source


def make_list(source: object = ()) -> list[object]:
    return list(_plain_iterable(source, "list"))


def make_tuple(source: object = ()) -> tuple[object, ...]:
    return tuple(_plain_iterable(source, "tuple"))


def make_set(source: object = ()) -> set[object]:
    return set(_plain_iterable(source, "set"))


def make_frozenset(source: object = ()) -> frozenset[object]:
    return frozenset(_plain_iterable(source, "frozenset"))


def make_dict(source: object = (), **items: object) -> dict[object, object]:
    return dict(_plain_iterable(source, "dict"), **items)


def make_str(source: object = "", encoding: object = None, errors: object = "strict") -> str:
    """``str(...)``; decoding bytes only with the plain text codecs."""
    if encoding is None:
        return str(source)
    if not isinstance(source, bytes | bytearray) or encoding not in _TEXT_ENCODINGS:
        fail("str() is asked to decode with a codec pickles do not use")
    if errors not in ("strict", "replace", "surrogateescape"):
        fail("str() is asked for an unusual error handler")
    return str(source, str(encoding), str(errors))


def codecs_encode(text: object, encoding: object = "utf-8") -> bytes:
    """``_codecs.encode`` as py2-era pickles use it: text to bytes, plain text codecs only."""
    if not isinstance(text, str) or encoding not in _TEXT_ENCODINGS:
        fail("_codecs.encode is asked for something other than text to bytes")
    return codecs.encode(text, str(encoding))


def make_bytes(source: object = b"", encoding: object = None) -> bytes:
    """``bytes(...)`` but never ``bytes(n)``: a length from the file must not allocate."""
    if isinstance(source, str) and isinstance(encoding, str):
        return codecs_encode(source, encoding)
    if not isinstance(source, bytes | bytearray | list | tuple) or encoding is not None:
        fail("bytes() is called with something other than bytes or a list")
    return bytes(source)


def make_bytearray(source: object = b"", encoding: object = None) -> bytearray:
    """``bytearray(...)`` under the rules of ``make_bytes``."""
    return bytearray(make_bytes(source, encoding))


_FACTORIES: tuple[type, ...] = (list, dict, set, int, float, collections.OrderedDict)


def make_defaultdict(factory: object = None, *items: object) -> collections.defaultdict[Any, Any]:
    """``defaultdict`` whose default factory is a standard container, or none at all."""
    if items:
        fail("defaultdict is called with more than its default factory")
    return collections.defaultdict(factory if factory in _FACTORIES else None)


def reconstruct_placeholder(cls: object, base: object, state: object) -> Placeholder:
    """``copyreg._reconstructor`` (protocol 0/1 objects), for inert classes only."""
    if not (isinstance(cls, type) and issubclass(cls, Placeholder)):
        fail("copyreg._reconstructor is asked to build a class that is not inert")
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
        fail(f"numpy dtype {dtype!r} is not a plain numeric dtype (object arrays are refused)")
    return dtype


def numpy_dtype(spec: object, align: object = False, copy: object = True) -> np.dtype[Any]:
    """``numpy.dtype('f4', ...)``: numeric specs only, always a fresh copy BUILD may modify."""
    if not isinstance(spec, str) or not _DTYPE_SPEC.fullmatch(spec):
        fail(f"numpy dtype {spec!r} is not a plain numeric dtype (object arrays are refused)")
    return np.dtype(spec, align=bool(align), copy=True)


def build_dtype(dtype: np.dtype[Any], state: object) -> None:
    """BUILD of a numpy dtype: its state may only set the byte order."""
    if not (
        isinstance(state, tuple)
        and len(state) == 8
        and state[1] in ("<", ">", "|", "=")
        and state[2:5] == (None, None, None)
    ):
        fail("numpy dtype state describes a structured or sub-array dtype")
    _check_dtype(dtype)
    dtype.__setstate__(state)  # type: ignore[attr-defined]
    _check_dtype(dtype)  # the state's flags must leave it a plain numeric dtype


def numpy_reconstruct(cls: object, shape: object, typecode: object) -> np.ndarray[Any, Any]:
    """``numpy.core.multiarray._reconstruct``: an empty array that BUILD then fills."""
    if cls is not NDARRAY or ints(shape, "array shape") != (0,):
        fail("numpy _reconstruct is asked for something other than an empty ndarray")
    return np.ndarray((0,), dtype=np.uint8)


def build_ndarray(array: np.ndarray[Any, Any], state: object) -> None:
    """BUILD of an ndarray: version, shape, dtype, order and exactly enough bytes."""
    if not (isinstance(state, tuple) and len(state) == 5):
        fail("numpy array state is not (version, shape, dtype, fortran, data)")
    _, shape, dtype, fortran, raw = state
    dims = ints(shape, "array shape")
    if not isinstance(raw, bytes | bytearray) or type(fortran) is not bool:
        fail("numpy array data is not raw bytes")
    if any(n < 0 for n in dims) or math.prod(dims) * _check_dtype(dtype).itemsize != len(raw):
        fail(f"numpy array of shape {dims} does not match its {len(raw)} data bytes")
    array.__setstate__(state)


def numpy_frombuffer(buffer: object, dtype: object, shape: object, order: object) -> object:
    """``numpy.core.numeric._frombuffer``, how protocol 5 pickles an array: its bytes,
    dtype, shape and order, which must describe exactly those bytes."""
    checked = _check_dtype(dtype)
    dims = ints(shape, "array shape")
    if not isinstance(buffer, bytes | bytearray) or order not in ("C", "F"):
        fail("numpy _frombuffer is not given raw bytes and an order")
    if any(n < 0 for n in dims) or math.prod(dims) * checked.itemsize != len(buffer):
        fail(f"numpy array of shape {dims} does not match its {len(buffer)} data bytes")
    return np.frombuffer(buffer, dtype=checked).reshape(dims, order=order)


def numpy_scalar(dtype: object, raw: object = b"") -> object:
    """``numpy.core.multiarray.scalar`` for numeric dtypes: exactly ``itemsize`` bytes."""
    checked = _check_dtype(dtype)
    if not isinstance(raw, bytes) or len(raw) != checked.itemsize:
        fail("numpy scalar data does not match its dtype")
    return np.frombuffer(raw, dtype=checked)[0]
