"""checkpoint-compat's compatibility layer: plugin host, deprecations, legacy imports.

Public names load on first access (PEP 562): importing the package (for the legacy-import
finder, or for one error class) must not pull in pluggy or torch.
"""

from checkpoint._lazy import lazy_attributes

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~8 ms at start-up
if TYPE_CHECKING:
    from checkpoint.errors import CompatDeprecationWarning, RemovedAPIError
    from compat import deprecations, plugins
    from compat._config import Settings
    from compat._convert import convert
    from compat._deprecate import warn_deprecated
    from compat._hookspecs import (
        Converter,
        InertObject,
        LegacyAlias,
        LoadStrategy,
        Materialiser,
        SafeGlobals,
        hookimpl,
    )
    from compat._ledger import CallSite
    from compat._safe import InspectReport, LoadResult, inspect, load
    from compat._shims import deprecated, deprecated_attributes, renamed_kwarg
    from compat._uris import resolve_uri
    from compat.deprecations import Deprecation

#: Public name -> the module that defines it (a name equal to its module's is the module).
_LAZY: dict[str, str] = {
    "plugins": "compat.plugins",
    "deprecations": "compat.deprecations",
    "Deprecation": "compat.deprecations",
    "deprecated": "compat._shims",
    "deprecated_attributes": "compat._shims",
    "renamed_kwarg": "compat._shims",
    "warn_deprecated": "compat._deprecate",
    "hookimpl": "compat._hookspecs",
    "LegacyAlias": "compat._hookspecs",
    "SafeGlobals": "compat._hookspecs",
    "LoadStrategy": "compat._hookspecs",
    "InertObject": "compat._hookspecs",
    "Materialiser": "compat._hookspecs",
    "Converter": "compat._hookspecs",
    "CallSite": "compat._ledger",
    "Settings": "compat._config",
    "resolve_uri": "compat._uris",
    "inspect": "compat._safe",
    "load": "compat._safe",
    "convert": "compat._convert",
    "InspectReport": "compat._safe",
    "LoadResult": "compat._safe",
    "CompatDeprecationWarning": "checkpoint.errors",
    "RemovedAPIError": "checkpoint.errors",
}

__all__ = [
    "CallSite",
    "CompatDeprecationWarning",
    "Converter",
    "Deprecation",
    "InertObject",
    "InspectReport",
    "LegacyAlias",
    "LoadResult",
    "LoadStrategy",
    "Materialiser",
    "RemovedAPIError",
    "SafeGlobals",
    "Settings",
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
