"""Plain-data views of an inert graph: what metadata and trainer counters look like as data.

Placeholders become what their class meant: what a plugin's materialiser makes of it
(``compat_materialisers``: OmegaConf configs, gym spaces...), else a dict subclass its items,
a list subclass its appends, an inert call its callable and arguments under ``"__call__"``,
and anything else a dict of its attributes under ``"__class__"``. An inert attribute
reference (an enum member by name) becomes its dotted name.
Depth is bounded and cycles (OmegaConf ``_parent`` links) are cut, so hostile nesting gives a
clear error, never a RecursionError.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

import torch

from checkpoint._tensorpickle import MalformedError
from compat.engine._placeholder import AttributeRef, Placeholder, attributes
from compat.host._hookspecs import Materialiser

__all__ = ["MAX_DEPTH", "is_inert_optimizer", "is_optimizer_state", "materialising", "plain"]

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


def is_optimizer_state(obj: object) -> bool:
    """The shape of ``Optimizer.state_dict()`` (and of an optimizer's own attributes)."""
    return isinstance(obj, dict) and isinstance(obj.get("param_groups"), list) and "state" in obj


def is_inert_optimizer(obj: object) -> bool:
    """An inert object of any optimizer class (torch's, heavyball's...), by its attributes."""
    return isinstance(obj, Placeholder) and is_optimizer_state(attributes(obj))


def plain(obj: object) -> object:
    """A plain-data copy of ``obj`` (tensors and numpy arrays are kept as they are).

    An object reached twice gives one view, reached twice: a graph that shares its parts
    (a list referenced a million times through the pickle's memo) stays the size it was.
    """
    return _Viewer().view(obj, 0)


class _Viewer:
    def __init__(self) -> None:
        self._done: dict[int, object] = {}
        self._open: set[int] = set()
        self._keep: list[object] = []  # keeps viewed objects alive, so their ids stay unique

    def view(self, obj: object, depth: int) -> object:
        if isinstance(obj, AttributeRef):
            return obj.qualified_name()
        if not isinstance(obj, dict | list | tuple | set | frozenset | Placeholder):
            return obj
        key = id(obj)
        if key in self._done:
            return self._done[key]
        if key in self._open:
            return "<cycle>"
        if depth > MAX_DEPTH:
            raise MalformedError(f"objects are nested deeper than {MAX_DEPTH} levels")
        self._open.add(key)
        try:
            result = self._container(obj, depth + 1)
        finally:
            self._open.discard(key)
        self._done[key] = result
        self._keep.append(obj)
        return result

    def _container(self, obj: object, depth: int) -> object:
        if isinstance(obj, dict):
            view: dict[object, object] = {}
            for key, value in obj.items():
                name = _key(key)
                while name in view:  # two keys with one spelling (tensors): keep both
                    name = f"{name}#"
                view[name] = self.view(value, depth)
            return view
        if isinstance(obj, tuple):
            return tuple(self.view(value, depth) for value in obj)
        if isinstance(obj, list | set | frozenset):
            return [self.view(value, depth) for value in obj]
        assert isinstance(obj, Placeholder)
        return self._inert(obj, depth)

    def _inert(self, obj: Placeholder, depth: int) -> object:
        materialiser = _materialisers.get().get(obj.qualified_name())
        if materialiser is not None:
            return materialiser(obj, lambda value: self.view(value, depth))
        if is_inert_optimizer(obj):
            return self._optimizer(attributes(obj), depth)
        if obj.items:
            return self.view(obj.items, depth)
        if obj.listitems:
            return self.view(obj.listitems, depth)
        kind = "__call__" if obj.is_call else "__class__"
        view: dict[str, object] = {kind: obj.qualified_name()}
        if obj.args:
            view["__args__"] = self.view(list(obj.args), depth)
        if obj.kwargs:
            view["__kwargs__"] = self.view(obj.kwargs, depth)
        view.update((key, self.view(value, depth)) for key, value in attributes(obj).items())
        return view

    def _optimizer(self, attrs: dict[str, object], depth: int) -> dict[str, object]:
        """``optimizer.state_dict()``: parameters replaced by their index across all groups,
        numbered as torch numbers them (a parameter in no group gets the next free index)."""
        indices: dict[int, int] = {}
        groups: list[dict[str, object]] = []
        start = 0
        for group in attrs["param_groups"]:  # type: ignore[attr-defined]
            params = group.get("params") if isinstance(group, dict) else None
            if not isinstance(params, list):
                raise MalformedError("an optimizer's parameter group has no params list")
            for index, param in enumerate(params, start):
                indices.setdefault(id(param), index)
            packed = {k: self.view(v, depth) for k, v in group.items() if k != "params"}
            packed["params"] = [indices[id(param)] for param in params]
            groups.append(packed)
            start += len(params)
        state = attrs["state"]
        if not isinstance(state, dict):
            raise MalformedError("an optimizer's state is not a mapping")
        packed_state: dict[object, object] = {}
        for key, value in state.items():
            index = key
            if isinstance(key, torch.Tensor):
                index = indices.setdefault(id(key), start + len(indices))
            packed_state[index] = self.view(value, depth)
        return {"state": packed_state, "param_groups": groups}


def _key(key: object) -> object:
    return key if isinstance(key, str | int | float | bool | None) else repr(key)
