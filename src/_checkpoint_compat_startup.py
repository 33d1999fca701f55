"""Run by ``checkpoint_compat_aliases.pth`` at every interpreter start: register the finder.

This is a top-level module with a unique name, not part of ``compat``: importing the
``compat`` package here would shadow any ``compat.py`` of the user's for the whole process.
It holds the first-party plugin tables as plain literals and the ``sys.meta_path`` finder.

The finder answers only for the top-level names of legacy module paths (those of
``LEGACY_PREFIXES``, plus whatever loaded plugins declare later); for any other import it
costs one set lookup. Resolution lives in the plugin host, which this module knows only by
name (``RESOLVER``, as an entry point would name it) and imports on the first legacy name.
So this module imports ``sys`` and nothing else, not even ``typing`` and never ``compat``:
no config is read, neither pluggy nor torch is loaded, until legacy code runs, and the
imports run one way (``compat.host`` uses these tables; nothing here imports it).

PYTEST_DONT_REWRITE: pytest would rewrite this module as part of a distribution with a
pytest plugin, but it is imported at interpreter start, before pytest runs.

A first-party plugin is added with one line in ``BUILTIN_PLUGINS`` and, if it serves legacy
module paths, one line in ``LEGACY_PREFIXES``.
"""

import sys

#: Plugin name -> module that holds its ``@compat.hookimpl`` functions, registered in this order.
BUILTIN_PLUGINS: dict[str, str] = {
    "core": "compat.host._core",
    "materialisers": "compat.engine._materialisers",
    "layouts": "compat.engine._layouts",
}

#: Plugins the host cannot run without; asking to disable one raises ``EssentialPluginError``.
ESSENTIAL_PLUGINS: frozenset[str] = frozenset({"core"})

#: Legacy module prefix -> first-party plugin that serves the modules under it. The legacy-import
#: finder answers for these top-level names before any plugin is loaded, and uses the plugin name
#: in the error raised when that plugin is disabled.
LEGACY_PREFIXES: dict[str, str] = {
    "metta.agent.policy_store": "policy_store",
    "metta.agent.policy_record": "policy_store",
    "metta.agent.policy_metadata": "policy_store",
    "metta.agent.policy_cache": "policy_store",
    "metta.agent.mocks": "policy_store",
}

#: ``module:function`` that serves a legacy name, called as ``function(finder, fullname, path,
#: target)`` like ``find_spec``; imported by name on the first legacy import.
RESOLVER = "compat.host._aliases:find_legacy_spec"

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~8 ms at start-up
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType


class LegacyImportFinder:
    """The ``sys.meta_path`` finder of legacy module paths (``find_spec`` protocol)."""

    def __init__(self, roots: "Iterable[str]") -> None:
        #: Top-level names answered for; the plugin host adds those its plugins declare.
        self.roots = set(roots)

    def find_spec(
        self,
        fullname: str,
        path: "Sequence[str] | None" = None,
        target: "ModuleType | None" = None,
    ) -> "ModuleSpec | None":
        if fullname.partition(".")[0] not in self.roots:
            return None
        module, _, function = RESOLVER.partition(":")
        resolve = getattr(__import__(module, fromlist=[function]), function)
        spec: ModuleSpec | None = resolve(self, fullname, path, target)
        return spec


def install() -> LegacyImportFinder:
    """Put the finder first on ``sys.meta_path``, once per process, and return it."""
    for finder in sys.meta_path:
        if isinstance(finder, LegacyImportFinder):
            return finder
    finder = LegacyImportFinder(prefix.partition(".")[0] for prefix in LEGACY_PREFIXES)
    sys.meta_path.insert(0, finder)
    return finder


install()
