"""Fixtures for the plugin-host tests: a clean host per test and a test-local legacy plugin.

The first-party plugins come in later issues, so the tests build their own: ``newlib`` is
the "current" code, ``oldlib`` the legacy paths that a plugin named ``oldlib`` aliases to it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from host_helpers import PLUGIN_SOURCE, write_module

import _checkpoint_compat_startup as _builtin
from _checkpoint_compat_startup import install
from compat.host import _pluginhost
from compat.host._ledger import LEDGER

COMPAT_VARIABLES = (
    "COMPAT_DISABLE",
    "COMPAT_STRICT",
    "COMPAT_STRICT_PLUGINS",
    "COMPAT_TRACE",
    "COMPAT_ALIAS_OVERRIDE",
    "COMPAT_LEDGER",
)
TEST_MODULES = ("oldlib", "newlib", "oldlib_plugin", "acme_")


@pytest.fixture(autouse=True)
def fresh_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No host, no COMPAT_* variables, no pyproject above the working directory."""
    for variable in COMPAT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _pluginhost.reset()
    yield
    _pluginhost.reset()
    LEDGER.clear()
    for name in [name for name in sys.modules if name.startswith(TEST_MODULES)]:
        del sys.modules[name]


@pytest.fixture
def legacy_layout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """``newlib`` (current code) and the ``oldlib`` plugin, registered as a built-in plugin
    whose legacy prefix is known to the finder, as a first-party plugin's would be."""
    root = tmp_path / "lib"
    write_module(root, "newlib.store", "class Store:\n    pass\n")
    write_module(root, "newlib.sub.deep", "VALUE = 42\n")
    write_module(root, "oldlib_plugin", PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setitem(_builtin.BUILTIN_PLUGINS, "oldlib", "oldlib_plugin")
    monkeypatch.setitem(_builtin.LEGACY_PREFIXES, "oldlib", "oldlib")
    install().roots.add("oldlib")
    return root
