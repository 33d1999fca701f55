"""Inert stand-ins for classes a checkpoint names but the engine never imports or calls."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Placeholder", "RefusedCall", "attributes", "placeholder_type"]


class RefusedCall(Exception):
    """A file calls a global named like a function; the unpickler reports it as unsafe."""


class Placeholder:
    """An object of a class that was never imported: what the pickle said, nothing run.

    ``args`` holds constructor arguments, ``state`` what ``__setstate__`` received,
    ``items`` the SETITEM pairs of dict subclasses and ``listitems`` the appends of list
    subclasses. The class-level ``module`` and ``name`` say which global it stands for.
    """

    __slots__ = ("args", "items", "kwargs", "listitems", "state")

    module: ClassVar[str] = ""
    name: ClassVar[str] = ""
    #: False for a global named like a function: a file may refer to one, never call it.
    constructible: ClassVar[bool] = True
    #: How many were built; each load makes its own subclasses, so this counts per load.
    built: ClassVar[int] = 0

    args: tuple[object, ...]
    kwargs: dict[str, object]
    state: object
    items: dict[Any, object]
    listitems: list[object]

    def __new__(cls, *args: object, **kwargs: object) -> Placeholder:
        if not cls.constructible:
            raise RefusedCall(cls.qualified_name())
        cls.built += 1
        obj = super().__new__(cls)
        obj.args = args
        obj.kwargs = kwargs
        obj.state = None
        obj.items = {}
        obj.listitems = []
        return obj

    def __init__(self, *args: object, **kwargs: object) -> None:
        """Constructors of the real class never run."""

    def __setstate__(self, state: object) -> None:
        self.state = state

    def __setitem__(self, key: object, value: object) -> None:
        self.items[key] = value

    def append(self, value: object) -> None:
        self.listitems.append(value)

    def extend(self, values: list[object]) -> None:
        self.listitems.extend(values)

    def __repr__(self) -> str:
        return f"<inert {self.qualified_name()}>"

    @classmethod
    def qualified_name(cls) -> str:
        return f"{cls.module}.{cls.name}"


def placeholder_type(qualified: str, *, constructible: bool = True) -> type[Placeholder]:
    """A fresh ``Placeholder`` subclass standing for the global ``qualified``."""
    module, _, name = qualified.rpartition(".")
    namespace = {"__slots__": (), "module": module, "name": name, "constructible": constructible}
    return type(name, (Placeholder,), namespace)


def attributes(obj: Placeholder) -> dict[str, object]:
    """The instance attributes a BUILD gave ``obj``: a state dict, or (dict, slots) pair."""
    state = obj.state
    if isinstance(state, tuple) and len(state) == 2:
        merged: dict[str, object] = {}
        for part in state:
            if isinstance(part, dict):
                merged.update((str(key), value) for key, value in part.items())
        return merged
    if isinstance(state, dict):
        return {str(key): value for key, value in state.items()}
    return {}
