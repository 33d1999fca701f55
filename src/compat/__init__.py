"""checkpoint-compat's compatibility layer: plugin host, safe loading engine, conversion, CLI.

Four sub-packages, each importing only those below it (``tests/test_layering.py`` checks):
``cli`` -> ``upgrade`` (convert, migrate) -> ``engine`` (inspect, load) -> ``host`` (plugins,
deprecations, aliases), and all of them -> ``checkpoint``, which imports none of them.

Public names load on first access (PEP 562): importing the package (for the legacy-import
finder, or for one error class) must not pull in pluggy or torch.
"""

from checkpoint._lazy import lazy_attributes

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~8 ms at start-up
if TYPE_CHECKING:
    from checkpoint.errors import CompatDeprecationWarning, RemovedAPIError
    from compat import deprecations, plugins
    from compat.deprecations import Deprecation
    from compat.engine._safe import InspectReport, LoadResult, inspect, load
    from compat.host._artifacts import add_to_wandb_artifact
    from compat.host._config import Settings
    from compat.host._deprecate import warn_deprecated
    from compat.host._hookspecs import (
        BundleMember,
        Converter,
        InertObject,
        Layout,
        LegacyAlias,
        LoadStrategy,
        Materialiser,
        SafeGlobals,
        hookimpl,
    )
    from compat.host._ledger import CallSite
    from compat.host._shims import deprecated, deprecated_attributes, renamed_kwarg
    from compat.host._uris import resolve_uri
    from compat.upgrade._convert import convert

#: Public name -> the module that defines it (a name equal to its module's is the module).
_LAZY: dict[str, str] = {
    "plugins": "compat.plugins",
    "deprecations": "compat.deprecations",
    "Deprecation": "compat.deprecations",
    "deprecated": "compat.host._shims",
    "deprecated_attributes": "compat.host._shims",
    "renamed_kwarg": "compat.host._shims",
    "warn_deprecated": "compat.host._deprecate",
    "hookimpl": "compat.host._hookspecs",
    "LegacyAlias": "compat.host._hookspecs",
    "SafeGlobals": "compat.host._hookspecs",
    "LoadStrategy": "compat.host._hookspecs",
    "InertObject": "compat.host._hookspecs",
    "Materialiser": "compat.host._hookspecs",
    "Converter": "compat.host._hookspecs",
    "Layout": "compat.host._hookspecs",
    "BundleMember": "compat.host._hookspecs",
    "CallSite": "compat.host._ledger",
    "Settings": "compat.host._config",
    "resolve_uri": "compat.host._uris",
    "add_to_wandb_artifact": "compat.host._artifacts",
    "inspect": "compat.engine._safe",
    "load": "compat.engine._safe",
    "convert": "compat.upgrade._convert",
    "InspectReport": "compat.engine._safe",
    "LoadResult": "compat.engine._safe",
    "CompatDeprecationWarning": "checkpoint.errors",
    "RemovedAPIError": "checkpoint.errors",
}

__all__ = [
    "BundleMember",
    "CallSite",
    "CompatDeprecationWarning",
    "Converter",
    "Deprecation",
    "InertObject",
    "InspectReport",
    "Layout",
    "LegacyAlias",
    "LoadResult",
    "LoadStrategy",
    "Materialiser",
    "RemovedAPIError",
    "SafeGlobals",
    "Settings",
    "add_to_wandb_artifact",
    "convert",
    "deprecated",
    "deprecated_attributes",
    "deprecations",
    "hookimpl",
    "inspect",
    "load",
    "plugins",
    "renamed_kwarg",
    "resolve_uri",
    "warn_deprecated",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
