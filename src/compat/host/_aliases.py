"""Resolving and loading legacy module paths, for the start-up hook's finder.

For a name under a known legacy top-level name, in order: a real module of that name
(asking the other finders), unless alias override is on or the name lies below an alias;
then the aliases the enabled plugins declare (loading the plugin host on first need);
then, if a disabled plugin would have served the name, a ``ModuleNotFoundError`` that
says which and how to enable it.

Importing a legacy path returns the target module itself (``sys.modules`` maps both names
to one object, so classes keep one identity) and warns through the deprecation registry.
"""

from __future__ import annotations

import sys
from importlib import import_module
from importlib.machinery import ModuleSpec
from typing import TYPE_CHECKING, NamedTuple, cast

from compat.host import _config
from compat.host._deprecate import emit

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from importlib.abc import Loader
    from types import ModuleType

    from _checkpoint_compat_startup import LegacyImportFinder
    from compat.host._hookspecs import LegacyAlias


class _Plan(NamedTuple):
    """How to serve one legacy name: as `alias` (importing `target`) or, without one, as an
    empty package that only exists to hold aliased submodules."""

    target: str
    alias: LegacyAlias | None


class AliasTable:
    """The legacy names the enabled plugins serve: aliases, modules below them, their parents."""

    def __init__(self, aliases: Iterable[LegacyAlias]) -> None:
        self._aliases: dict[str, LegacyAlias] = {}
        for alias in aliases:
            self._aliases.setdefault(alias.legacy, alias)
        self._parents = frozenset(
            legacy.rsplit(".", depth)[0]
            for legacy in self._aliases
            for depth in range(1, legacy.count(".") + 1)
        )

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._aliases)

    @property
    def roots(self) -> frozenset[str]:
        return frozenset(legacy.partition(".")[0] for legacy in self._aliases)

    def plan(self, fullname: str) -> _Plan | None:
        name = fullname
        while name:
            alias = self._aliases.get(name)
            if alias is not None:
                return _Plan(alias.target + fullname[len(name) :], alias)
            name = name.rpartition(".")[0]
        return _Plan(fullname, None) if fullname in self._parents else None


class _AliasLoader:
    """Loads a planned legacy name and remembers what it served, so a switch can unload it."""

    def __init__(self) -> None:
        self._served: dict[str, ModuleType] = {}
        self._aliased: set[str] = set()

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        assert spec is not None
        plan: _Plan = spec.loader_state
        if plan.alias is not None:
            emit(plan.alias.deprecation, owner=plan.target)
            module = import_module(plan.target)
            # The import system returns whatever sys.modules holds once exec_module is done.
            sys.modules[spec.name] = module
            self._aliased.add(spec.name)
        self._served[spec.name] = module

    def served_as_alias(self, name: str) -> bool:
        return name in self._aliased

    def forget(self) -> None:
        """Unload the legacy names served so far, so the next import asks the plugins again.

        Called whenever the set of enabled plugins changes; the target modules stay loaded.
        """
        for name, module in sorted(self._served.items(), reverse=True):
            if sys.modules.get(name) is module:
                del sys.modules[name]
            parent, _, child = name.rpartition(".")
            if parent and getattr(sys.modules.get(parent), child, None) is module:
                delattr(sys.modules[parent], child)
        self._served.clear()
        self._aliased.clear()


LOADER = _AliasLoader()
_SPEC_LOADER = cast("Loader", LOADER)  # duck-typed: importlib.abc costs 20 ms to import


def find_legacy_spec(
    finder: LegacyImportFinder,
    fullname: str,
    path: Sequence[str] | None,
    target: ModuleType | None,
) -> ModuleSpec | None:
    from compat.host._pluginhost import get_host

    # Below an alias, the "real" module would be the target's submodule loaded a second time.
    parent = fullname.rpartition(".")[0]
    if _config.settings()["alias_override"] or LOADER.served_as_alias(parent):
        plan = get_host().alias_table().plan(fullname)
        if plan is not None and plan.alias is not None:
            return ModuleSpec(fullname, _SPEC_LOADER, loader_state=plan)
    real = _find_real(finder, fullname, path, target)
    if real is not None:
        return real
    host = get_host()
    plan = host.alias_table().plan(fullname)
    if plan is not None:
        return ModuleSpec(fullname, _SPEC_LOADER, loader_state=plan, is_package=plan.alias is None)
    error = host.missing_module_error(fullname)
    if error is not None:
        raise error
    return None


def _find_real(
    finder: LegacyImportFinder,
    fullname: str,
    path: Sequence[str] | None,
    target: ModuleType | None,
) -> ModuleSpec | None:
    """What the rest of ``sys.meta_path`` finds for `fullname`: a real module wins."""
    for other in sys.meta_path:
        find_spec = getattr(other, "find_spec", None)
        if other is not finder and find_spec is not None:
            spec: ModuleSpec | None = find_spec(fullname, path, target)
            if spec is not None:
                return spec
    return None
