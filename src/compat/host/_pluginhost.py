"""The plugin host: one pluggy ``PluginManager`` per process, and what pluggy does not keep.

That is: where each plugin came from (built in, an entry point of which distribution, or
registered at run time), why a plugin is off, and the legacy-alias table the enabled ones
declare. Switched-off names are blocked before discovery, so a disabled plugin is never
imported; a plugin that fails to import is reported and skipped.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, TypedDict

import pluggy

from _checkpoint_compat_startup import BUILTIN_PLUGINS, ESSENTIAL_PLUGINS, LEGACY_PREFIXES, install
from checkpoint.errors import CompatPluginWarning, EssentialPluginError, PluginError
from compat.deprecations import Deprecation
from compat.host import _config, _hookspecs
from compat.host._aliases import LOADER, AliasTable
from compat.host._config import ENV_STRICT_PLUGINS, Disablement, Settings
from compat.host._deprecate import installed_version
from compat.host._ledger import LEDGER, CallSite
from compat.host._trace import trace_hook_calls

ENTRY_POINT_GROUP = "compat.plugins"
DISTRIBUTION = "checkpoint-compat"

Source = Literal["builtin", "entry-point", "runtime"]


class PluginStatus(TypedDict):
    """One row of ``compat.plugins.list()`` and ``ckpt plugins list --json``."""

    name: str
    source: Source
    distribution: str | None
    version: str | None
    enabled: bool
    essential: bool
    #: Why the plugin is off (``None`` while it is on).
    reason: str | None


@dataclass
class _Candidate:
    """A plugin the host knows by name, whether or not it is loaded."""

    name: str
    source: Source
    distribution: str | None
    version: str | None
    load: Callable[[], object]
    failure: Disablement | None = None

    @property
    def origin(self) -> str:
        if self.source == "runtime":
            return "registered at run time"
        kind = "built into" if self.source == "builtin" else "entry point of"
        return f"{kind} {self.distribution} {self.version}"


class PluginHost:
    """The plugins of this process, their switches and the aliases they declare."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pm = pluggy.PluginManager(_hookspecs.PROJECT)
        self.pm.add_hookspecs(_hookspecs)
        self._lock = threading.RLock()
        self._candidates: dict[str, _Candidate] = {}
        self._switched: dict[str, bool] = {}
        self._aliases = AliasTable(())
        self._retired: dict[str, str] = {}
        self._closers: list[Callable[[], None]] = []
        if settings["trace"]:
            self._closers.append(trace_hook_calls(self.pm))

    @property
    def hook(self) -> pluggy.HookRelay:
        return self.pm.hook

    def start(self) -> None:
        """Block the disabled names, load every other plugin, then configure them all."""
        for name in self.settings["disabled"]:
            self.pm.set_blocked(name)
        for candidate in _discover():
            known = self._candidates.get(candidate.name)
            if known is not None:
                report_problem(
                    f"compat plugin {candidate.name!r} ({candidate.origin}) clashes with a plugin "
                    f"{known.origin} of the same name; rename one of the entry points"
                )
                continue
            self._candidates[candidate.name] = candidate
            if not self.pm.is_blocked(candidate.name):
                self._load(candidate)
        self.pm.hook.compat_configure.call_historic(kwargs={"settings": self.settings})
        self._aliases_changed(retiring=None)
        self._closers.append(LEDGER.subscribe(self._observe_legacy_use))

    def close(self) -> None:
        for close in self._closers:
            close()

    def statuses(self) -> list[PluginStatus]:
        with self._lock:
            return [self._status(candidate) for candidate in self._candidates.values()]

    def disablement(self, name: str) -> Disablement | None:
        """Why `name` is off, or ``None`` if it is registered."""
        if self.pm.get_plugin(name) is not None:
            return None
        candidate = self._candidates.get(name)
        if candidate is not None and candidate.failure is not None:
            return candidate.failure
        if self._switched.get(name) is False:
            return Disablement(
                f"switched off by compat.plugins.disable({name!r})",
                f"call compat.plugins.enable({name!r})",
            )
        return self.settings["disabled"].get(name)

    def check_switch(self, name: str, enabled: bool, asked_by: str) -> None:
        """Raise unless `name` is a known plugin that may be switched that way."""
        self._require_known(name)
        if not enabled and name in ESSENTIAL_PLUGINS:
            raise EssentialPluginError(
                name, asked_by, "disable the plugins you can do without (`ckpt plugins` lists them)"
            )

    def switched(self, name: str) -> bool | None:
        """The run-time switch of `name`: on, off, or ``None`` (as configured)."""
        self._require_known(name)
        return self._switched.get(name)

    def switch(self, name: str, enabled: bool | None) -> None:
        """Turn `name` on or off for this process, or back to its configured state (``None``)."""
        with self._lock:
            self.check_switch(name, enabled is not False, f"compat.plugins.disable({name!r})")
            if enabled is None:
                self._switched.pop(name, None)
                enabled = name not in self.settings["disabled"]
            else:
                self._switched[name] = enabled
            if enabled == (self.pm.get_plugin(name) is not None):
                return
            if enabled:
                self.pm.unblock(name)
                self._load(self._candidates[name])
            else:
                self.pm.set_blocked(name)
            self._aliases_changed(retiring=None if enabled else name)

    def register(self, plugin: object, name: str | None) -> str:
        with self._lock:
            name = name or self.pm.get_canonical_name(plugin)
            if name in self._candidates:
                raise PluginError(
                    f"a compat plugin named {name!r} is already known "
                    f"({self._candidates[name].origin}); register yours under another name"
                )
            candidate = _Candidate(name, "runtime", None, None, lambda: plugin)
            self._candidates[name] = candidate
            if not self.pm.is_blocked(name):
                self._load(candidate)
            self._aliases_changed(retiring=None)
            return name

    def unregister(self, name: str) -> None:
        with self._lock:
            self.check_switch(name, False, f"compat.plugins.unregister({name!r})")
            if self._candidates[name].source != "runtime":
                raise PluginError(
                    f"compat plugin {name!r} was not registered at run time; "
                    f"use compat.plugins.disable({name!r})"
                )
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            del self._candidates[name]
            self._switched.pop(name, None)
            self._aliases_changed(retiring=None)

    def alias_table(self) -> AliasTable:
        return self._aliases

    def missing_module_error(self, fullname: str) -> ModuleNotFoundError | None:
        """The error for a legacy path whose plugin is off, or ``None`` if none would serve it."""
        for prefix, plugin in {**LEGACY_PREFIXES, **self._retired}.items():
            disablement = self.disablement(plugin)
            if _related(prefix, fullname) and disablement is not None:
                return ModuleNotFoundError(
                    f"No module named {fullname!r}: it is a legacy import path served by the "
                    f"compat plugin {plugin!r}, which is off ({disablement.reason}). "
                    f"To enable it, {disablement.remedy}.",
                    name=fullname,
                )
        return None

    def _require_known(self, name: str) -> None:
        if name not in self._candidates:
            known = ", ".join(sorted(self._candidates))
            raise PluginError(f"there is no compat plugin named {name!r}; installed: {known}")

    def _load(self, candidate: _Candidate) -> None:
        candidate.failure = None
        try:
            plugin = candidate.load()
            self.pm.register(plugin, name=candidate.name)
            self._reject_unknown_hooks(plugin)
        except Exception as exc:
            if self.pm.get_plugin(candidate.name) is not None:
                self.pm.unregister(name=candidate.name)
            summary = _summarize(exc)
            candidate.failure = Disablement(
                f"failed to load: {summary}",
                f"fix or uninstall it ({candidate.origin}); {ENV_STRICT_PLUGINS}=1 raises instead",
            )
            report_problem(
                f"compat plugin {candidate.name!r} ({candidate.origin}) failed to load: {summary}",
                cause=exc,
            )

    def _reject_unknown_hooks(self, plugin: object) -> None:
        unknown = [
            caller.name
            for caller in self.pm.get_hookcallers(plugin) or ()
            if not caller.has_spec()
            and not all(impl.optionalhook for impl in caller.get_hookimpls())
        ]
        if unknown:
            hooks = sorted(name for name in vars(_hookspecs) if name.startswith("compat_"))
            raise PluginError(f"it implements unknown hooks {unknown}; compat has {hooks}")

    def _aliases_changed(self, retiring: str | None) -> None:
        """Rebuild the alias table, so the finder knows every top-level name to answer for.

        Names only `retiring` served are remembered, for the error a later import gets.
        """
        previous = self._aliases
        declared = self.pm.hook.compat_legacy_aliases()
        self._aliases = AliasTable(alias for aliases in declared for alias in aliases)
        install().roots.update(self._aliases.roots)
        self._retired = {
            legacy: plugin
            for legacy, plugin in self._retired.items()
            if self.pm.get_plugin(plugin) is None
        }
        if retiring is not None:
            self._retired.update(dict.fromkeys(previous.names - self._aliases.names, retiring))
        LOADER.forget()

    def _observe_legacy_use(self, deprecation: Deprecation, site: CallSite) -> None:
        self.pm.hook.compat_legacy_api_used(deprecation=deprecation, site=site)

    def _status(self, candidate: _Candidate) -> PluginStatus:
        disablement = self.disablement(candidate.name)
        return PluginStatus(
            name=candidate.name,
            source=candidate.source,
            distribution=candidate.distribution,
            version=candidate.version,
            enabled=disablement is None,
            essential=candidate.name in ESSENTIAL_PLUGINS,
            reason=disablement.reason if disablement else None,
        )


def report_problem(message: str, cause: BaseException | None = None) -> None:
    """A plugin misbehaved: warn and carry on, or raise under ``COMPAT_STRICT_PLUGINS=1``."""
    if _config.settings()["strict_plugins"]:
        raise PluginError(message) from cause
    warnings.warn(
        f"{message} (skipped; set {ENV_STRICT_PLUGINS}=1 to make this an error)",
        CompatPluginWarning,
        stacklevel=2,
    )


def _discover() -> Iterator[_Candidate]:
    version = installed_version(DISTRIBUTION)
    for name, module in BUILTIN_PLUGINS.items():
        load = functools.partial(importlib.import_module, module)
        yield _Candidate(name, "builtin", DISTRIBUTION, version, load)
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        yield _Candidate(
            entry_point.name,
            "entry-point",
            dist.name if dist else None,
            dist.version if dist else None,
            entry_point.load,
        )


def _related(prefix: str, fullname: str) -> bool:
    """`fullname` is `prefix`, lies below it, or is one of its parent packages."""
    return (
        prefix == fullname or fullname.startswith(f"{prefix}.") or prefix.startswith(f"{fullname}.")
    )


def _summarize(exc: Exception) -> str:
    """The exception and the line that raised it: enough to find the bug, short enough to warn."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


class _HostSlot:
    """The process's one host, built on first use; start-up runs once even across threads."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._host: PluginHost | None = None
        self._starting = False

    def get(self) -> PluginHost:
        host = self._host
        if host is not None:
            return host
        with self._lock:
            if self._host is None:
                if self._starting:
                    raise PluginError(
                        "a compat plugin imported a legacy module path while the plugin host "
                        "was starting; import it inside the function that needs it instead"
                    )
                self._starting = True
                try:
                    host = PluginHost(_config.settings())
                    host.start()
                finally:
                    self._starting = False
                self._host = host
            return self._host

    def reset(self) -> None:
        """Forget the host and the settings: the next use re-reads the switches."""
        with self._lock:
            if self._host is not None:
                self._host.close()
                self._host = None
            _config.reset()
            LOADER.forget()


_SLOT = _HostSlot()
get_host = _SLOT.get
reset = _SLOT.reset
