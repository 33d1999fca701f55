"""Numpy objects the C unpickler builds in two steps, and the walk that puts them in place.

The C unpickler applies BUILD by calling the target's own ``__setstate__``. On a numpy
array or dtype that would skip the checks of ``_rebuild.build_ndarray`` and
``build_dtype`` (a forged dtype state can lay object fields over raw bytes). So under the
C unpickler the numpy globals make ``Pending`` objects, whose ``__setstate__`` makes those
checks and builds the real object, and ``settle`` then swaps each for what it built.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch

from compat.engine import _rebuild
from compat.engine._placeholder import AttributeRef, Placeholder

__all__ = ["DEFERRED", "TWO_STEP_BUILDS", "Pending", "Unsettled", "settle"]


class Unsettled(Exception):
    """A pending object sits where it cannot be swapped in place (a dict key, a set, a
    tuple inside a cycle, a very deep graph): read the pickle with the watching unpickler."""


class Pending:
    """A numpy object whose BUILD is still to come; ``value`` is what it builds."""

    __slots__ = ("value",)

    value: Any

    def __setstate__(self, state: object) -> None:
        raise NotImplementedError


class PendingDtype(Pending):
    """``numpy.dtype(spec, align, copy)``; BUILD may then set only its byte order."""

    __slots__ = ()

    def __new__(cls, spec: object, align: object = False, copy: object = True) -> PendingDtype:
        obj = super().__new__(cls)
        obj.value = _rebuild.numpy_dtype(spec, align, copy)
        return obj

    def __setstate__(self, state: object) -> None:
        _rebuild.build_dtype(self.value, state)


class PendingArray(Pending):
    """``numpy.core.multiarray._reconstruct``; BUILD then gives shape, dtype and bytes."""

    __slots__ = ()

    def __new__(cls, kind: object, shape: object, typecode: object) -> PendingArray:
        obj = super().__new__(cls)
        obj.value = _rebuild.numpy_reconstruct(kind, shape, typecode)
        return obj

    def __setstate__(self, state: object) -> None:
        if isinstance(state, tuple):  # its dtype is pending too
            state = tuple(item.value if isinstance(item, Pending) else item for item in state)
        _rebuild.build_ndarray(self.value, state)


def _scalar(dtype: object, raw: object = b"") -> object:
    """``numpy.core.multiarray.scalar``, given a dtype that may still be pending."""
    return _rebuild.numpy_scalar(dtype.value if isinstance(dtype, Pending) else dtype, raw)


def _frombuffer(buffer: object, dtype: object, shape: object, order: object) -> object:
    """``numpy.core.numeric._frombuffer``, given a dtype that may still be pending."""
    value = dtype.value if isinstance(dtype, Pending) else dtype
    return _rebuild.numpy_frombuffer(buffer, value, shape, order)


#: ``id`` of a vetted numpy callable -> what the C unpickler calls instead.
DEFERRED: dict[int, Callable[..., object]] = {
    id(_rebuild.numpy_dtype): PendingDtype,
    id(_rebuild.numpy_reconstruct): PendingArray,
    id(_rebuild.numpy_scalar): _scalar,
    id(_rebuild.numpy_frombuffer): _frombuffer,
}
#: The vetted callables whose results BUILD may target once deferred.
TWO_STEP_BUILDS = frozenset({id(_rebuild.numpy_dtype), id(_rebuild.numpy_reconstruct)})

#: Objects that hold no reference a pickle could have set, by exact type (the common ones;
#: anything not walked below counts as one).
_LEAVES = frozenset(
    {str, int, float, bool, bytes, bytearray, complex, type(None)}
    | {torch.Tensor, torch.nn.Parameter, np.ndarray}
)


def settle(root: object) -> object:
    """``root`` with every ``Pending`` replaced by the object it built.

    Lists, dicts, placeholders and ordered-dict attributes are updated in place; a tuple
    holding a pending object is rebuilt (once, however often it is shared). Raises
    ``Unsettled`` where a swap cannot be made without changing what the pickle built.
    """
    try:
        return _Settler().settled(root)
    except RecursionError:
        raise Unsettled from None


class _Settler:
    def __init__(self) -> None:
        self._done: dict[int, object] = {}
        self._open: set[int] = set()
        self._cycles: set[int] = set()

    def settled(self, obj: object) -> object:
        kind = type(obj)
        if kind in _LEAVES:
            return obj
        walk: _Walk | None = _WALKS.get(kind)
        if walk is None:
            if isinstance(obj, Pending):
                return obj.value
            if not isinstance(obj, Placeholder):
                return obj  # holds nothing a pickle set (tensors, numpy values, classes)
            walk = cast(_Walk, _Settler._placeholder)
        key = id(obj)
        if key in self._done:
            return self._done[key]
        if key in self._open:
            self._cycles.add(key)
            return obj
        self._open.add(key)
        result = walk(self, obj)
        self._open.discard(key)
        if result is not obj and key in self._cycles:
            raise Unsettled
        self._done[key] = result
        return result

    def _list(self, items: list[object]) -> object:
        for index, item in enumerate(items):
            if type(item) not in _LEAVES and (new := self.settled(item)) is not item:
                items[index] = new
        return items

    def _dict(self, mapping: dict[Any, object]) -> object:
        for key, value in mapping.items():
            if type(key) is not str and self.settled(key) is not key:
                raise Unsettled
            if type(value) not in _LEAVES and (new := self.settled(value)) is not value:
                mapping[key] = new
        return mapping

    def _attributed_dict(self, mapping: dict[Any, object]) -> object:
        """An OrderedDict: its items, then the attributes a BUILD gave it."""
        self._dict(vars(mapping))
        return self._dict(mapping)

    def _tuple(self, items: tuple[object, ...]) -> object:
        new = tuple(self.settled(item) for item in items)
        return items if all(a is b for a, b in zip(new, items, strict=True)) else new

    def _frozen(self, obj: set[object] | frozenset[object] | slice) -> object:
        """Sets and slices cannot take a swapped member without changing what was built."""
        parts = (obj.start, obj.stop, obj.step) if isinstance(obj, slice) else obj
        if any(self.settled(part) is not part for part in parts):
            raise Unsettled
        return obj

    def _reference(self, obj: AttributeRef) -> object:
        obj.owner = self.settled(obj.owner)
        return obj

    def _placeholder(self, obj: Placeholder) -> object:
        obj.args = cast(tuple[object, ...], self.settled(obj.args))
        obj.state = self.settled(obj.state)
        self._dict(obj.kwargs)
        self._dict(obj.items)
        self._list(obj.listitems)
        return obj


_Walk = Callable[[_Settler, Any], object]
#: Containers the unpickler builds, by exact type (``torch.Size`` and other tuple
#: subclasses come from vetted callables and hold only numbers).
_WALKS: dict[type, _Walk] = {
    list: _Settler._list,
    dict: _Settler._dict,
    collections.defaultdict: _Settler._dict,
    collections.OrderedDict: _Settler._attributed_dict,
    tuple: _Settler._tuple,
    set: _Settler._frozen,
    frozenset: _Settler._frozen,
    slice: _Settler._frozen,
    AttributeRef: _Settler._reference,
}
