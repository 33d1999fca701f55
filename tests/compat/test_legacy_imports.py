"""The legacy-import finder: aliases, their parents and children, real packages, removal."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import warnings
from pathlib import Path

import pytest
from host_helpers import next_line, write_module

import compat
from _checkpoint_compat_startup import LegacyImportFinder, install
from checkpoint.errors import CompatDeprecationWarning, RemovedAPIError
from compat.host import _deprecate, _pluginhost


def test_the_finder_is_registered_once_ahead_of_the_path_finder() -> None:
    finders = [f for f in sys.meta_path if isinstance(f, LegacyImportFinder)]
    assert finders == [install()]
    assert sys.meta_path.index(finders[0]) < sys.meta_path.index(importlib.machinery.PathFinder)


def test_a_legacy_import_is_the_target_module_and_warns_at_the_import(
    legacy_layout: Path,
) -> None:
    with pytest.warns(CompatDeprecationWarning) as record:
        line = next_line()
        import oldlib.store
    import newlib.store

    assert oldlib.store is newlib.store
    assert oldlib.store.Store.__module__ == "newlib.store"
    assert [(w.filename, w.lineno) for w in record] == [(__file__, line)]
    assert "oldlib.store is deprecated" in str(record[0].message)


def test_from_import_of_a_legacy_name(legacy_layout: Path) -> None:
    with pytest.warns(CompatDeprecationWarning) as record:
        line = next_line()
        from oldlib.store import Store
    assert Store.__module__ == "newlib.store"
    assert [w.lineno for w in record] == [line]


def test_parents_are_empty_packages_and_children_of_an_alias_keep_one_identity(
    legacy_layout: Path,
) -> None:
    with pytest.warns(CompatDeprecationWarning):
        legacy_deep = importlib.import_module("oldlib.sub.deep")
    assert legacy_deep is importlib.import_module("newlib.sub.deep")
    assert sys.modules["oldlib"].__path__ == []
    assert sys.modules["oldlib"].sub is importlib.import_module("newlib.sub")


def test_names_no_plugin_declares_stay_missing(legacy_layout: Path) -> None:
    with pytest.raises(ModuleNotFoundError, match=r"No module named 'oldlib\.nothing'"):
        importlib.import_module("oldlib.nothing")


def test_unrelated_imports_do_not_start_the_host() -> None:
    assert install().find_spec("some_module_nobody_has") is None
    assert importlib.util.find_spec("json") is not None
    assert _pluginhost._SLOT._host is None


def test_a_removed_legacy_module_refuses_to_import(
    legacy_layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_deprecate, "installed_version", lambda distribution: "9.0")
    with pytest.raises(
        RemovedAPIError, match=r"oldlib\.store was removed in checkpoint-compat 9\.0"
    ):
        importlib.import_module("oldlib.store")
    assert "oldlib.store" not in sys.modules


def test_strict_mode_fails_the_legacy_import(
    legacy_layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPAT_STRICT", "1")
    with pytest.raises(CompatDeprecationWarning):
        importlib.import_module("oldlib.store")


@pytest.fixture
def real_oldlib(legacy_layout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real ``oldlib`` distribution installed next to the plugin's aliases."""
    real = tmp_path / "real"
    write_module(real, "oldlib.store", "REAL = True\n")
    monkeypatch.syspath_prepend(str(real))
    return real


def test_a_real_package_of_the_same_name_wins(real_oldlib: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store = importlib.import_module("oldlib.store")
    assert store.REAL is True
    assert store.__file__ == str(real_oldlib / "oldlib" / "store.py")


def test_a_real_package_gets_the_legacy_modules_it_lacks(real_oldlib: Path) -> None:
    (real_oldlib / "oldlib" / "store.py").unlink()
    with pytest.warns(CompatDeprecationWarning):
        store = importlib.import_module("oldlib.store")
    assert store is importlib.import_module("newlib.store")
    assert sys.modules["oldlib"].__file__ == str(real_oldlib / "oldlib" / "__init__.py")


def test_alias_override_from_the_environment_beats_the_real_package(
    real_oldlib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPAT_ALIAS_OVERRIDE", "1")
    with pytest.warns(CompatDeprecationWarning):
        store = importlib.import_module("oldlib.store")
    assert store is importlib.import_module("newlib.store")
    assert sys.modules["oldlib"].__file__ == str(real_oldlib / "oldlib" / "__init__.py")


def test_alias_override_from_pyproject(real_oldlib: Path, tmp_path: Path) -> None:
    (tmp_path / "work" / "pyproject.toml").write_text("[tool.compat]\nalias-override = true\n")
    with pytest.warns(CompatDeprecationWarning):
        store = importlib.import_module("oldlib.store")
    assert not hasattr(store, "REAL")


def test_a_third_party_root_is_served_once_the_host_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(tmp_path / "lib", "newlib.store", "")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    entry = compat.Deprecation("acme_legacy.store", "0.1", "9.0", "newlib.store", "hint")

    class Acme:
        @compat.hookimpl
        def compat_legacy_aliases(self) -> list[compat.LegacyAlias]:
            return [compat.LegacyAlias("acme_legacy.store", "newlib.store", entry)]

    compat.plugins.register(Acme(), "acme")
    assert "acme_legacy" in install().roots
    with pytest.warns(CompatDeprecationWarning):
        assert importlib.import_module("acme_legacy.store") is sys.modules["newlib.store"]
    compat.plugins.disable("acme")
    with pytest.raises(
        ModuleNotFoundError, match="served by the compat plugin 'acme', which is off"
    ):
        importlib.import_module("acme_legacy.store")
    compat.plugins.unregister("acme")
    with pytest.raises(ModuleNotFoundError, match=r"^No module named 'acme_legacy'$"):
        importlib.import_module("acme_legacy.store")
