"""Switching plugins off and on: each switch removes the plugin and its legacy aliases."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from host_helpers import FIRST_PARTY

import compat
from checkpoint.errors import EssentialPluginError, PluginError
from compat.cli import main


def _import_legacy() -> object:
    with pytest.warns(compat.CompatDeprecationWarning):
        return importlib.import_module("oldlib.store")


def _assert_off(reason: str, remedy: str) -> None:
    [status] = [s for s in compat.plugins.list() if s["name"] == "oldlib"]
    assert not status["enabled"]
    assert status["reason"] is not None and reason in status["reason"]
    with pytest.raises(ModuleNotFoundError) as raised:
        importlib.import_module("oldlib.store")
    message = str(raised.value)
    assert "legacy import path served by the compat plugin 'oldlib', which is off" in message
    assert reason in message and remedy in message


def test_the_plugin_serves_its_aliases_while_on(legacy_layout: Path) -> None:
    assert _import_legacy() is importlib.import_module("newlib.store")


def test_environment_switch(legacy_layout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPAT_DISABLE", "other,oldlib")
    _assert_off("listed in COMPAT_DISABLE", "remove 'oldlib' from the COMPAT_DISABLE variable")
    assert "oldlib_plugin" not in sys.modules


def test_pyproject_switch_is_read_from_the_nearest_pyproject(
    legacy_layout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "src" / "deep").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.compat]\ndisable = ["oldlib"]\n')
    monkeypatch.chdir(project / "src" / "deep")
    _assert_off(f"[tool.compat] disable of {project / 'pyproject.toml'}", "ckpt plugins enable")
    assert "oldlib_plugin" not in sys.modules


def test_api_switch_unloads_aliases_already_imported(legacy_layout: Path) -> None:
    legacy = _import_legacy()
    compat.plugins.disable("oldlib")
    assert "oldlib.store" not in sys.modules
    _assert_off("compat.plugins.disable('oldlib')", "call compat.plugins.enable('oldlib')")
    compat.plugins.enable("oldlib")
    assert _import_legacy() is legacy


def test_context_manager_switch_restores_the_previous_state(legacy_layout: Path) -> None:
    with compat.plugins.disabled("oldlib"):
        _assert_off("compat.plugins.disable('oldlib')", "compat.plugins.enable('oldlib')")
    _import_legacy()


def test_context_manager_leaves_a_plugin_that_was_off_off(
    legacy_layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPAT_DISABLE", "oldlib")
    with compat.plugins.disabled("oldlib"):
        pass
    _assert_off("listed in COMPAT_DISABLE", "COMPAT_DISABLE")


def test_run_time_enable_wins_over_the_environment(
    legacy_layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPAT_DISABLE", "oldlib")
    compat.plugins.enable("oldlib")
    _import_legacy()


@pytest.mark.parametrize(
    "switch",
    [
        lambda: compat.plugins.disable("core"),
        lambda: compat.plugins.disabled("core").__enter__(),
    ],
    ids=["disable", "disabled"],
)
def test_the_essential_plugin_cannot_be_switched_off_by_the_api(
    switch: Callable[[], object],
) -> None:
    with pytest.raises(EssentialPluginError, match=r"disable\('core'\)"):
        switch()
    assert all(s["enabled"] for s in compat.plugins.list() if s["name"] == "core")


def test_the_essential_plugin_cannot_be_switched_off_by_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COMPAT_DISABLE", "core")
    with pytest.raises(
        EssentialPluginError,
        match=r"\(listed in COMPAT_DISABLE\); remove 'core' from the COMPAT_DISABLE variable",
    ):
        compat.plugins.list()
    monkeypatch.delenv("COMPAT_DISABLE")
    (tmp_path / "work" / "pyproject.toml").write_text('[tool.compat]\ndisable = ["core"]\n')
    compat.host._pluginhost.reset()
    with pytest.raises(EssentialPluginError, match=r"\[tool.compat\] disable"):
        compat.plugins.list()


def test_a_malformed_pyproject_switch_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "work" / "pyproject.toml").write_text('[tool.compat]\ndisable = "oldlib"\n')
    with pytest.raises(PluginError, match="disable must be a list of plugin names"):
        compat.plugins.list()


def _ckpt(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_disable_and_enable_persist_in_the_nearest_pyproject(
    legacy_layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = tmp_path / "work" / "pyproject.toml"
    code, out, _ = _ckpt(capsys, "plugins", "disable", "oldlib")
    assert code == 0
    assert f"oldlib: [tool.compat] disable in {pyproject} updated" in out
    assert pyproject.read_text() == '[tool.compat]\ndisable = ["oldlib"]\n'
    code, out, _ = _ckpt(capsys, "plugins", "list", "--json")
    [status] = [s for s in json.loads(out) if s["name"] == "oldlib"]
    assert status["enabled"] is False
    assert status["reason"] == f"listed in [tool.compat] disable of {pyproject}"
    assert {"name", "distribution", "version", "enabled", "reason"} <= status.keys()

    code, out, _ = _ckpt(capsys, "plugins", "enable", "oldlib", "--json")
    assert code == 0
    assert json.loads(out)["enabled"] is True and json.loads(out)["changed"] is True
    assert pyproject.read_text() == ""  # no empty `disable = []` (nor table) left behind
    _import_legacy()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            '[project]\nname = "x"\n\n[tool.compat]\ndisable = ["oldlib"]\n\n[tool.ruff]\nx = 1\n',
            '[project]\nname = "x"\n\n[tool.ruff]\nx = 1\n',
        ),
        (
            '[tool.compat]\n# ours\ndisable = [\n  "oldlib",\n]\nother = 1\n',
            "[tool.compat]\n# ours\nother = 1\n",
        ),
    ],
    ids=["table-removed", "table-kept"],
)
def test_enabling_the_last_disabled_plugin_removes_the_key(
    legacy_layout: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    before: str,
    after: str,
) -> None:
    pyproject = tmp_path / "work" / "pyproject.toml"
    pyproject.write_text(before)
    assert _ckpt(capsys, "plugins", "enable", "oldlib")[0] == 0
    assert pyproject.read_text() == after


def test_cli_enable_fails_while_the_environment_keeps_the_plugin_off(
    legacy_layout: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMPAT_DISABLE", "oldlib")
    code, out, err = _ckpt(capsys, "plugins", "enable", "oldlib")
    assert (code, out) == (1, "")  # only the error, and how to fix it
    assert "oldlib cannot be enabled while COMPAT_DISABLE lists it" in err
    assert "remove oldlib from COMPAT_DISABLE" in err and "nothing was changed" in err
    assert not (Path.cwd() / "pyproject.toml").exists()


@pytest.mark.parametrize(
    ("argv", "code", "error"),
    [
        (("plugins", "disable", "core"), 1, "disable the plugins you can do without"),
        (("plugins", "disable", "nope"), 1, "no compat plugin named 'nope'"),
        (("plugins", "enable"), 2, "needs the NAME of a plugin"),
    ],
)
def test_cli_refusals(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], code: int, error: str
) -> None:
    returned, _, err = _ckpt(capsys, *argv)
    assert (returned, error in err) == (code, True)
    assert not (Path.cwd() / "pyproject.toml").exists()


def test_cli_list_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _ckpt(capsys, "plugins")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{1 + len(FIRST_PARTY)} compat plugins"
    assert lines[1].split() == ["name", "enabled", "distribution", "version", "source", "reason"]
    assert lines[2].split()[:3] == ["core", "yes", "checkpoint-compat"]
