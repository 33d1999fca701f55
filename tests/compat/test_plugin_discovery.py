"""Third-party plugins from the ``compat.plugins`` entry points: found, or skipped if broken."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from host_helpers import FIRST_PARTY, write_module

import compat
from checkpoint.errors import CompatPluginWarning, PluginError
from compat.host._pluginhost import PluginStatus

GOOD_PLUGIN = """
    import compat

    CONFIGURED = []


    @compat.hookimpl
    def compat_configure(settings):
        CONFIGURED.append(settings["pyproject"])
"""

BROKEN_PLUGIN = """
    import compat

    RATIO = 1 / 0
"""


def install_distribution(site: Path, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Write a distribution the way pip would (a dist-info with entry_points.txt) into `site`."""
    dist_info = site / "acme_compat-1.2.3.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-compat\nVersion: 1.2.3\n"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[compat.plugins]\n{lines}")
    for name, source in modules.items():
        write_module(site, name, source)


@pytest.fixture
def acme_site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    site = tmp_path / "site"
    install_distribution(
        site,
        {"acme": "acme_good", "acme_broken": "acme_broken"},
        {"acme_good": GOOD_PLUGIN, "acme_broken": BROKEN_PLUGIN},
    )
    monkeypatch.syspath_prepend(str(site))
    return site


def _status(name: str) -> PluginStatus:
    [status] = [s for s in compat.plugins.list() if s["name"] == name]
    return status


def test_an_installed_plugin_is_discovered_and_a_broken_one_skipped(acme_site: Path) -> None:
    with pytest.warns(CompatPluginWarning) as record:
        statuses = compat.plugins.list()
    assert [str(w.message) for w in record] == [
        "compat plugin 'acme_broken' (entry point of acme-compat 1.2.3) failed to load: "
        f"ZeroDivisionError: division by zero (at {acme_site / 'acme_broken.py'}:4) "
        "(skipped; set COMPAT_STRICT_PLUGINS=1 to make this an error)"
    ]
    assert {s["name"]: s["enabled"] for s in statuses} == {
        "core": True,
        **dict.fromkeys(FIRST_PARTY, True),
        "acme": True,
        "acme_broken": False,
    }
    assert _status("acme") == PluginStatus(
        name="acme",
        source="entry-point",
        distribution="acme-compat",
        version="1.2.3",
        enabled=True,
        essential=False,
        reason=None,
    )
    reason = _status("acme_broken")["reason"]
    assert reason is not None and reason.startswith("failed to load: ZeroDivisionError")
    assert sys.modules["acme_good"].CONFIGURED == [None]


def test_a_broken_plugin_is_fatal_under_strict_plugins(
    acme_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPAT_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r"'acme_broken' .* failed to load") as raised:
        compat.plugins.list()
    assert isinstance(raised.value.__cause__, ZeroDivisionError)


def test_disabled_plugins_are_blocked_before_discovery(
    acme_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPAT_DISABLE", "acme, acme_broken")
    statuses = compat.plugins.list()
    assert {s["name"]: s["enabled"] for s in statuses} == {
        "core": True,
        **dict.fromkeys(FIRST_PARTY, True),
        "acme": False,
        "acme_broken": False,
    }
    assert "acme_good" not in sys.modules
    assert "acme_broken" not in sys.modules
    assert _status("acme")["reason"] == "listed in COMPAT_DISABLE"


def test_enabling_a_blocked_plugin_loads_it_then(
    acme_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPAT_DISABLE", "acme_broken,acme")
    compat.plugins.enable("acme")
    assert _status("acme")["enabled"]
    assert sys.modules["acme_good"].CONFIGURED == [None]


def test_an_entry_point_cannot_take_a_name_already_in_use(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install_distribution(tmp_path / "site", {"core": "acme_good"}, {"acme_good": GOOD_PLUGIN})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.warns(
        CompatPluginWarning, match="'core' .* clashes with a plugin built into checkpoint-compat"
    ):
        compat.plugins.list()
    assert "acme_good" not in sys.modules


def test_registering_under_a_known_name_is_refused() -> None:
    with pytest.raises(PluginError, match="'core' is already known"):
        compat.plugins.register(object(), "core")


def test_unknown_names_are_refused_with_the_installed_ones() -> None:
    with pytest.raises(PluginError, match=r"no compat plugin named 'nope'; installed: .*core"):
        compat.plugins.disable("nope")
