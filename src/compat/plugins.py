"""Run-time control of compat plugins: list them, switch them, register your own.

A switch made here lasts for this process and wins over ``COMPAT_DISABLE`` and
``[tool.compat] disable``; ``ckpt plugins enable/disable`` is the persistent one. Switching
a plugin off unloads the legacy module paths it served: the next import of one raises
``ModuleNotFoundError`` naming the plugin.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager

from compat.host._pluginhost import PluginStatus, get_host

__all__ = ["PluginStatus", "disable", "disabled", "enable", "list", "register", "unregister"]


def list() -> builtins.list[PluginStatus]:  # shadows the builtin: SPEC §4 names it
    """Every known plugin, loaded or not, with where it comes from and why it is off."""
    return get_host().statuses()


def enable(name: str) -> None:
    get_host().switch(name, True)


def disable(name: str) -> None:
    """Switch `name` off; an essential plugin raises ``EssentialPluginError``."""
    get_host().switch(name, False)


@contextmanager
def disabled(*names: str) -> Iterator[None]:
    """Switch `names` off inside the block, then restore each one's previous switch."""
    host = get_host()
    previous = {name: host.switched(name) for name in names}
    try:
        for name in names:
            host.switch(name, False)
        yield
    finally:
        for name, switch in previous.items():
            host.switch(name, switch)


def register(plugin: object, name: str | None = None) -> str:
    """Register a plugin object (a module, or any object with hook functions) by name."""
    return get_host().register(plugin, name)


def unregister(name: str) -> None:
    """Remove a plugin registered with ``register``."""
    get_host().unregister(name)
