"""Rebuilding agents from a sidecar, for registered classes only.

A sidecar may name a class, but a file never decides what gets imported:
``load_agent`` instantiates only classes the user registered here. An agent
contributes its constructor arguments through ``checkpoint_config()``.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, overload

from torch import nn

from ._sidecar import Architecture
from .errors import SidecarError, UnknownArchitectureError

ModuleT = TypeVar("ModuleT", bound=type[nn.Module])

#: Deeper config values are not what a constructor takes.
_MAX_CONFIG_DEPTH = 16
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


_PLAIN = (str, int, float, bool, type(None))


def _is_plain(value: object, depth: int = 0) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if depth > _MAX_CONFIG_DEPTH:
        return False
    if isinstance(value, list):
        return all(_is_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v, depth + 1) for k, v in value.items())
    return False


def _fits(value: object, default: object) -> bool:
    """Whether ``value`` has the type of a parameter's default (ints fit floats; YAML lists
    fit tuples; a ``None`` default or none at all takes any plain value)."""
    if default is inspect.Parameter.empty or default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return type(value) is type(default)
    if isinstance(default, float):
        return isinstance(value, int | float)
    if isinstance(default, tuple | list):
        return isinstance(value, list)
    return isinstance(value, type(default))


def checked_config(cls: type[nn.Module], config: dict[str, Any], path: Path) -> dict[str, Any]:
    """``config`` if ``cls.__init__`` declares each key and each value is plain and fits.

    A sidecar is not trusted: without this, a forged ``architecture.config`` would choose
    the arguments of a registered class's constructor (issue 15).
    """
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    named = {
        parameter.name: parameter
        for parameter in parameters
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    }
    for key, value in config.items():
        if key not in named:
            raise SidecarError(
                f"its architecture config sets {key!r}, which {class_path(cls)}.__init__ does "
                "not take by name; fix the sidecar, or pass model=... to load_agent",
                path,
            )
        if not _is_plain(value) or not _fits(value, named[key].default):
            raise SidecarError(
                f"its architecture config sets {key!r} to a {type(value).__name__}, which does "
                f"not fit {class_path(cls)}.__init__ (default {named[key].default!r}); fix the "
                "sidecar, or pass model=... to load_agent",
                path,
            )
    return config


def rebuild(architecture: Architecture | None, path: Path) -> nn.Module:
    """Instantiate the recorded class with its recorded config, checked against the class."""
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
    return cls(**checked_config(cls, architecture.config, path))
