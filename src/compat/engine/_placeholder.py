"""Inert stand-ins for classes a checkpoint names but the engine never imports or calls."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["AttributeRef", "Placeholder", "attributes", "placeholder_type"]


class Placeholder:
    """What calling a global that was never imported made: what the pickle said, nothing run.

    For a class, an inert object; for a function (``functools.partial``, a numpy generator
    constructor, a library factory), an inert call. ``args`` and ``kwargs`` hold the
    arguments, ``state`` what ``__setstate__`` received, ``items`` the SETITEM pairs of dict
    subclasses and ``listitems`` the appends of list subclasses. The class-level ``module``
    and ``name`` say which global it stands for.
    """

    __slots__ = ("args", "items", "kwargs", "listitems", "state")

    module: ClassVar[str] = ""
    name: ClassVar[str] = ""
    #: The global is named like a function: what it made is an inert call, not an object.
    is_call: ClassVar[bool] = False
    #: How many were built; each load makes its own subclasses, so this counts per load.
    built: ClassVar[int] = 0

    args: tuple[object, ...]
    kwargs: dict[str, object]
    state: object
    items: dict[Any, object]
    listitems: list[object]

    def __new__(cls, *args: object, **kwargs: object) -> Placeholder:
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
        return f"<inert {'call of ' if self.is_call else ''}{self.qualified_name()}>"

    @classmethod
    def qualified_name(cls) -> str:
        return f"{cls.module}.{cls.name}"


def placeholder_type(qualified: str, *, is_call: bool = False) -> type[Placeholder]:
    """A fresh ``Placeholder`` subclass standing for the global ``qualified``."""
    module, _, name = qualified.rpartition(".")
    namespace = {"__slots__": (), "module": module, "name": name, "is_call": is_call}
    return type(name, (Placeholder,), namespace)


class AttributeRef:
    """``getattr(owner, name)`` as a pickle wrote it, never looked up on anything.

    Legitimate pickles use it for enum members pickled by name (``getattr(Color, "RED")``),
    bound methods and nested classes; the owner is usually an inert class, and the
    reference stays a name: ``qualified_name()`` is ``"module.Color.RED"``.
    """

    __slots__ = ("name", "owner")

    def __init__(self, owner: object, name: str) -> None:
        self.owner = owner
        self.name = name

    def qualified_name(self) -> str:
        owner = self.owner
        if (isinstance(owner, type) and issubclass(owner, Placeholder)) or isinstance(
            owner, AttributeRef
        ):
            prefix = owner.qualified_name()
        else:
            prefix = f"<{type(owner).__name__}>"
        return f"{prefix}.{self.name}"

    def __repr__(self) -> str:
        return f"<inert attribute {self.qualified_name()}>"


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
