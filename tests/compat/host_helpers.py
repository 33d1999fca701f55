"""Helpers shared by the plugin-host tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap
from pathlib import Path

from _checkpoint_compat_startup import BUILTIN_PLUGINS

#: The plugins this distribution ships besides ``core``: built in, or through entry points.
FIRST_PARTY = frozenset(
    {
        *(name for name in BUILTIN_PLUGINS if name != "core"),
        *(
            entry_point.name
            for entry_point in importlib.metadata.entry_points(group="compat.plugins")
            if entry_point.dist is not None and entry_point.dist.name == "checkpoint-compat"
        ),
    }
)


def write_module(root: Path, dotted: str, source: str = "") -> Path:
    """Write module `dotted` (packages get an ``__init__.py``) below `root`."""
    *packages, leaf = dotted.split(".")
    directory = root.joinpath(*packages)
    for depth in range(len(packages)):
        init = root.joinpath(*packages[: depth + 1], "__init__.py")
        init.parent.mkdir(parents=True, exist_ok=True)
        init.touch()
    path = directory / f"{leaf}.py"
    path.write_text(textwrap.dedent(source))
    return path


PLUGIN_SOURCE = """
    import compat

    STORE = compat.Deprecation(
        "oldlib.store", "0.1", "9.0", "newlib.store", "import newlib.store instead"
    )
    SUB = compat.Deprecation("oldlib.sub", "0.1", "9.0", "newlib.sub", "import newlib.sub")


    @compat.hookimpl
    def compat_legacy_aliases():
        return [
            compat.LegacyAlias("oldlib.store", "newlib.store", STORE),
            compat.LegacyAlias("oldlib.sub", "newlib.sub", SUB),
        ]
"""


def next_line() -> int:
    """The line number after the caller's current line."""
    return sys._getframe(1).f_lineno + 1
