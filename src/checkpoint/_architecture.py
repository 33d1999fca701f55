"""Rebuilding agents from a sidecar, for registered classes only.

A sidecar may name a class, but a file never decides what gets imported:
``load_agent`` instantiates only classes the user registered here. An agent
contributes its constructor arguments through ``checkpoint_config()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, overload

from torch import nn

from ._sidecar import Architecture
from .errors import UnknownArchitectureError

ModuleT = TypeVar("ModuleT", bound=type[nn.Module])

_lock = threading.Lock()
_registered: dict[str, type[nn.Module]] = {}


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@overload
def register_agent_class(cls: ModuleT, *, aliases: Iterable[str] = ()) -> ModuleT: ...
@overload
def register_agent_class(
    cls: None = None, *, aliases: Iterable[str] = ()
) -> Callable[[ModuleT], ModuleT]: ...
def register_agent_class(
    cls: ModuleT | None = None, *, aliases: Iterable[str] = ()
) -> ModuleT | Callable[[ModuleT], ModuleT]:
    """Allow ``load_agent`` to rebuild ``cls``; usable as a decorator.

    ``aliases`` are former class paths (a renamed or moved class) that should
    rebuild as ``cls`` too.
    """
    names = tuple(aliases)

    def register(target: ModuleT) -> ModuleT:
        if not (isinstance(target, type) and issubclass(target, nn.Module)):
            raise TypeError(f"{target!r} is not an nn.Module subclass")
        with _lock:
            for name in (class_path(target), *names):
                _registered[name] = target
        return target

    return register if cls is None else register(cls)


def unregister_agent_class(cls: type[nn.Module]) -> None:
    with _lock:
        for name in [name for name, value in _registered.items() if value is cls]:
            del _registered[name]


def architecture_of(agent: nn.Module) -> Architecture | None:
    """The sidecar's ``architecture`` entry for a registered agent, else ``None``."""
    cls = type(agent)
    if _registered.get(class_path(cls)) is not cls:
        return None
    get_config = getattr(agent, "checkpoint_config", None)
    config: dict[str, Any] = dict(get_config()) if callable(get_config) else {}
    return Architecture(class_path=class_path(cls), config=config)


def rebuild(architecture: Architecture | None, path: Path) -> nn.Module:
    """Instantiate the recorded class with its recorded config."""
    if architecture is None:
        raise UnknownArchitectureError(
            "the sidecar records no architecture; pass model=... to load_agent "
            "to load the weights into a module you built",
            path,
        )
    cls = _registered.get(architecture.class_path)
    if cls is None:
        raise UnknownArchitectureError(
            f"class {architecture.class_path!r} is not registered for rebuilding; call "
            "checkpoint.register_agent_class(YourClass) first, or pass model=... to load_agent",
            path,
        )
    return cls(**architecture.config)
