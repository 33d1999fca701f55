"""The switches that steer the host: environment variables and ``[tool.compat]``.

Resolved once per process, at the first moment something needs them (a legacy import, a
plugin query), never at interpreter start. Precedence, highest first: a run-time call
(``compat.plugins.enable/disable``, kept by the host), ``COMPAT_DISABLE``, then
``[tool.compat] disable`` in the ``pyproject.toml`` nearest to the working directory.
This module imports nothing heavy at the top, so the start-up finder and the pytest plugin
can read the variable names below for free.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, TypedDict

from _checkpoint_compat_startup import ESSENTIAL_PLUGINS

ENV_DISABLE = "COMPAT_DISABLE"
ENV_STRICT = "COMPAT_STRICT"
ENV_STRICT_PLUGINS = "COMPAT_STRICT_PLUGINS"
ENV_TRACE = "COMPAT_TRACE"
ENV_ALIAS_OVERRIDE = "COMPAT_ALIAS_OVERRIDE"
ENV_LEDGER = "COMPAT_LEDGER"

_TRUE = frozenset({"1", "true", "yes", "on"})


class Disablement(NamedTuple):
    """Why a plugin is off, and what the user does to turn it back on."""

    reason: str
    remedy: str


class Settings(TypedDict):
    """The resolved switches; plugins receive them in ``compat_configure``."""

    #: The ``pyproject.toml`` nearest to the working directory, if any.
    pyproject: Path | None
    #: Its ``[tool.compat]`` table, so a plugin can read keys of its own there.
    tool_table: Mapping[str, Any]
    #: Plugins switched off by the environment or the pyproject, with the reason.
    disabled: Mapping[str, Disablement]
    #: Serve a legacy alias even where a real module of that name is installed.
    alias_override: bool
    #: Print every hook call with its duration to stderr.
    trace: bool
    #: A plugin that fails to load is an error instead of a warning.
    strict_plugins: bool


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def env_names(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


@functools.cache
def settings() -> Settings:
    """This process's settings, read on first use and kept (``reset`` forgets them)."""
    return load_settings(Path.cwd())


def reset() -> None:
    settings.cache_clear()


def load_settings(cwd: Path) -> Settings:
    from compat.host import _pyproject

    pyproject = _pyproject.find_nearest(cwd)
    table = _pyproject.read_tool_table(pyproject) if pyproject else {}
    disabled: dict[str, Disablement] = {}
    for name in _pyproject.disable_list(table, pyproject):
        disabled[name] = Disablement(
            f"listed in [tool.compat] disable of {pyproject}",
            f"run `ckpt plugins enable {name}` in {cwd} or remove it from that list",
        )
    for name in env_names(ENV_DISABLE):
        disabled[name] = Disablement(
            f"listed in {ENV_DISABLE}", f"remove {name!r} from the {ENV_DISABLE} variable"
        )
    for name in ESSENTIAL_PLUGINS & disabled.keys():
        from checkpoint.errors import EssentialPluginError

        raise EssentialPluginError(name, *disabled[name])
    return Settings(
        pyproject=pyproject,
        tool_table=table,
        disabled=disabled,
        alias_override=env_flag(ENV_ALIAS_OVERRIDE) or _flag_in(table, "alias-override", pyproject),
        trace=env_flag(ENV_TRACE),
        strict_plugins=env_flag(ENV_STRICT_PLUGINS),
    )


def _flag_in(table: Mapping[str, Any], key: str, pyproject: Path | None) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        from checkpoint.errors import PluginError

        raise PluginError(f"{pyproject}: [tool.compat] {key} must be true or false")
    return value
