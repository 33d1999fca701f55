"""Hook specifications: the documented call order, historic replay, firstresult, wrappers."""

from __future__ import annotations

import re
import sys
from collections.abc import Generator, Iterable
from pathlib import Path

import pytest
import sample_legacy_api as sample
from host_helpers import write_module
from packaging.version import Version

import _checkpoint_compat_startup as _builtin
import compat
from checkpoint.errors import CompatPluginWarning, EssentialPluginError, PluginError
from compat import LegacyAlias
from compat.host._pluginhost import get_host

RECORDER_SOURCE = """
    import compat

    CALLS = []


    @compat.hookimpl
    def compat_configure(settings):
        CALLS.append(("configure", settings["trace"]))


    @compat.hookimpl
    def compat_legacy_aliases():
        CALLS.append(("aliases",))
        return []


    @compat.hookimpl
    def compat_legacy_api_used(deprecation, site):
        CALLS.append(("used", deprecation.name, site.lineno))
"""


class Recorder:
    """A plugin object registered at run time, recording the hooks it receives."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @compat.hookimpl
    def compat_configure(self, settings: compat.Settings) -> None:
        self.calls.append("configure")

    @compat.hookimpl
    def compat_legacy_aliases(self) -> list[LegacyAlias]:
        self.calls.append("aliases")
        return []


def test_start_up_calls_configure_then_aliases_and_a_late_plugin_gets_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_module(tmp_path, "oldlib_plugin", RECORDER_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(_builtin.BUILTIN_PLUGINS, "recorder", "oldlib_plugin")
    compat.plugins.list()
    calls = sys.modules["oldlib_plugin"].CALLS
    assert calls == [("configure", False), ("aliases",)]

    late = Recorder()
    compat.plugins.register(late, "late")
    assert late.calls == ["configure", "aliases"]
    assert calls[-1] == ("aliases",) and len(calls) == 3

    with pytest.warns(compat.CompatDeprecationWarning):
        sample.old_function(1)
    assert calls[-1][:2] == ("used", "sample.old_function")


def test_load_strategy_is_firstresult_in_pluggy_order() -> None:
    class Picks:
        def __init__(self, answer: str | None) -> None:
            self.answer = answer

        @compat.hookimpl
        def compat_choose_load_strategy(
            self, file_format: str, torch_version: Version
        ) -> str | None:
            return self.answer and f"{self.answer}:{file_format}:{torch_version}"

    compat.plugins.register(Picks("first-registered"), "a")
    compat.plugins.register(Picks(None), "b")
    result = get_host().hook.compat_choose_load_strategy(
        file_format="zip", torch_version=Version("2.6")
    )
    assert result == "first-registered:zip:2.6"
    compat.plugins.register(Picks("last-registered"), "c")
    result = get_host().hook.compat_choose_load_strategy(
        file_format="zip", torch_version=Version("2.6")
    )
    assert result == "last-registered:zip:2.6"


def test_wrappers_surround_tryfirst_plain_and_trylast_implementations() -> None:
    order: list[str] = []

    class Audit:
        @compat.hookimpl(wrapper=True)
        def compat_safe_globals(
            self,
        ) -> Generator[None, list[dict[str, str]], list[dict[str, str]]]:
            order.append("wrapper before")
            results = yield
            order.append(f"wrapper after {len(results)} results")
            return results

    def contributor(label: str, **options: bool) -> object:
        class Contributor:
            @compat.hookimpl(**options)
            def compat_safe_globals(self) -> dict[str, str]:
                order.append(label)
                return {label: label}

        return Contributor()

    compat.plugins.register(contributor("trylast", trylast=True), "last")
    compat.plugins.register(contributor("plain, registered first"), "plain1")
    compat.plugins.register(contributor("plain, registered second"), "plain2")
    compat.plugins.register(contributor("tryfirst", tryfirst=True), "first")
    compat.plugins.register(Audit(), "audit")
    get_host().hook.compat_safe_globals()  # a hook no first-party plugin implements
    assert order == [
        "wrapper before",
        "tryfirst",
        "plain, registered second",
        "plain, registered first",
        "trylast",
        "wrapper after 4 results",
    ]


def _aliases_plugin(*aliases: LegacyAlias) -> object:
    class Declares:
        @compat.hookimpl
        def compat_legacy_aliases(self) -> Iterable[LegacyAlias]:
            return aliases

    return Declares()


def test_core_drops_aliases_that_shadow_protected_names_or_repeat() -> None:
    entry = sample.FUNCTION
    good = LegacyAlias("oldlib.good", "newlib.good", entry)
    offenders = [
        LegacyAlias("json.legacy", "newlib.json", entry),
        LegacyAlias("checkpoint.old", "newlib.old", entry),
        LegacyAlias("oldlib.good", "newlib.other", entry),
        LegacyAlias("oldlib.bad name", "newlib", entry),
    ]
    with pytest.warns(CompatPluginWarning) as record:
        compat.plugins.register(_aliases_plugin(good, *offenders), "declares")
    messages = [str(w.message) for w in record]
    assert any("shadow the standard library module 'json'" in m for m in messages)
    assert any("shadow checkpoint-compat's own package 'checkpoint'" in m for m in messages)
    assert any("'newlib.good' already serves it" in m for m in messages)
    assert any("dotted module paths" in m for m in messages)
    first_party = {name for name in get_host().alias_table().names if name.startswith("metta.")}
    assert get_host().alias_table().names - first_party == {"oldlib.good"}


def test_core_audit_problems_are_errors_under_strict_plugins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPAT_STRICT_PLUGINS", "1")
    bad = LegacyAlias("os.legacy", "newlib", sample.FUNCTION)
    with pytest.raises(PluginError, match="shadow the standard library module 'os'"):
        compat.plugins.register(_aliases_plugin(bad), "declares")


def test_core_is_essential() -> None:
    with pytest.raises(EssentialPluginError, match="'core' is essential"):
        compat.plugins.disable("core")


def test_an_unknown_hook_name_is_reported_and_the_plugin_skipped() -> None:
    class Typo:
        @compat.hookimpl
        def compat_legacy_alias(self) -> list[LegacyAlias]:
            return []

    with pytest.warns(CompatPluginWarning, match=r"unknown hooks \['compat_legacy_alias'\]"):
        compat.plugins.register(Typo(), "typo")
    [status] = [s for s in compat.plugins.list() if s["name"] == "typo"]
    assert not status["enabled"]
    assert status["reason"] is not None and "failed to load: PluginError" in status["reason"]


def test_trace_prints_each_hook_call_with_its_plugins_and_time(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMPAT_TRACE", "1")
    compat.plugins.register(Recorder(), "recorder")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("compat trace: compat_configure(settings={")
    traced = [
        match
        for line in lines
        if (
            match := re.match(
                r"compat trace: compat_legacy_aliases\(\) \[(.*?)\] -> .* ms\)$", line
            )
        )
    ]
    assert any({"recorder", "core"} <= set(match[1].split(", ")) for match in traced)


def test_no_trace_without_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    compat.plugins.register(Recorder(), "recorder")
    assert "compat trace" not in capsys.readouterr().err
