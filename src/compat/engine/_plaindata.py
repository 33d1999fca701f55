"""Plain-data views of an inert graph: what metadata and trainer counters look like as data.

Placeholders become what their class meant: what a plugin's materialiser makes of it
(``compat_materialisers``: OmegaConf configs, gym spaces...), else a dict subclass its items,
a list subclass its appends, and anything else a dict of its attributes under ``"__class__"``.
Depth is bounded and cycles (OmegaConf ``_parent`` links) are cut, so hostile nesting gives a
clear error, never a RecursionError.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

from checkpoint._tensorpickle import MalformedError
from compat.engine._placeholder import Placeholder, attributes
from compat.host._hookspecs import Materialiser

__all__ = ["MAX_DEPTH", "materialising", "plain"]

_materialisers: ContextVar[Mapping[str, Materialiser]] = ContextVar(
    "materialisers", default=MappingProxyType({})
)


@contextmanager
def materialising(materialisers: Mapping[str, Materialiser]) -> Iterator[None]:
    """Use ``materialisers`` for the plain views made inside the block (this context only)."""
    token = _materialisers.set(materialisers)
    try:
        yield
    finally:
        _materialisers.reset(token)


#: Deepest nesting of containers the engine follows (real checkpoints stay far below).
MAX_DEPTH = 200


def plain(obj: object) -> object:
    """A plain-data copy of ``obj`` (tensors and numpy arrays are kept as they are)."""
    return _plain(obj, 0, set())


def _plain(obj: object, depth: int, ancestors: set[int]) -> object:
    if depth > MAX_DEPTH:
        raise MalformedError(f"objects are nested deeper than {MAX_DEPTH} levels")
    if not isinstance(obj, dict | list | tuple | set | frozenset | Placeholder):
        return obj
    if id(obj) in ancestors:
        return "<cycle>"
    ancestors.add(id(obj))
    try:
        return _container(obj, depth + 1, ancestors)
    finally:
        ancestors.discard(id(obj))


def _container(obj: object, depth: int, ancestors: set[int]) -> object:
    if isinstance(obj, dict):
        return {_key(key): _plain(value, depth, ancestors) for key, value in obj.items()}
    if isinstance(obj, tuple):
        return tuple(_plain(value, depth, ancestors) for value in obj)
    if isinstance(obj, list | set | frozenset):
        return [_plain(value, depth, ancestors) for value in obj]
    assert isinstance(obj, Placeholder)
    return _inert_view(obj, depth, ancestors)


def _inert_view(obj: Placeholder, depth: int, ancestors: set[int]) -> object:
    materialiser = _materialisers.get().get(obj.qualified_name())
    if materialiser is not None:
        return materialiser(obj, lambda value: _plain(value, depth, ancestors))
    attrs = attributes(obj)
    if obj.items:
        return _plain(obj.items, depth, ancestors)
    if obj.listitems:
        return _plain(obj.listitems, depth, ancestors)
    view: dict[str, object] = {"__class__": obj.qualified_name()}
    if obj.args:
        view["__args__"] = _plain(list(obj.args), depth, ancestors)
    view.update((key, _plain(value, depth, ancestors)) for key, value in attrs.items())
    return view


def _key(key: object) -> object:
    return key if isinstance(key, str | int | float | bool | None) else repr(key)
