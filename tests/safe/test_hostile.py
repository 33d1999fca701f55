"""Every hostile pickle is refused, statically reported, and runs nothing (even with trust)."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from safe_paths import HOSTILE

import compat.engine._safe as safe
from checkpoint.errors import UnsafeCheckpointError
from compat.engine._allowlist import Allowlist
from compat.engine._inert import InertUnpickler
from digest import as_resolved

MANIFEST = json.loads((HOSTILE / "MANIFEST.json").read_text())["files"]
TARGET = "PWNED_shutil_rmtree_target"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Path]:
    """An empty working directory where a payload would leave its marker."""
    previous = Path.cwd()
    os.chdir(tmp_path)
    (tmp_path / TARGET).mkdir()
    try:
        yield tmp_path
    finally:
        os.chdir(previous)


def _assert_nothing_ran(sandbox: Path) -> None:
    assert sorted(p.name for p in sandbox.glob("PWNED_*")) == [TARGET]


@pytest.mark.parametrize("trust", [False, True], ids=["inert", "trusted"])
@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_load_refuses_and_runs_nothing(name: str, trust: bool, sandbox: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the trusted path must refuse before it even warns
        with pytest.raises(UnsafeCheckpointError) as caught:
            safe.load(HOSTILE / name, trust=trust)
    assert name in str(caught.value)
    _assert_nothing_ran(sandbox)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_inspect_reports_the_dangerous_globals(name: str, sandbox: Path) -> None:
    entry = MANIFEST[name]
    report = safe.inspect(HOSTILE / name)
    assert report.verdict is safe.Verdict.REFUSED
    assert as_resolved(entry["dangerous_globals"]) <= set(report.refused_globals)
    assert {info.name for info in report.globals} == as_resolved(entry["globals"])
    assert set(entry["nested_globals"]) <= set(report.nested_globals)
    assert report.protocol == entry["pickle_protocol"]
    _assert_nothing_ran(sandbox)


@pytest.mark.parametrize("name", sorted(n for n in MANIFEST if n.endswith(".pkl")))
def test_the_unpickler_refuses_on_its_own(name: str, sandbox: Path) -> None:
    """Defence in depth: with the static verdict bypassed, the inert unpickler still refuses."""
    data = (HOSTILE / name).read_bytes()
    unpickler = InertUnpickler(data, source=name, allowlist=Allowlist())
    with pytest.raises(UnsafeCheckpointError):
        unpickler.load()
    _assert_nothing_ran(sandbox)
