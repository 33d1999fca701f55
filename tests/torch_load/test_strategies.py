"""The torch_load plugin: strategies by torch version, and how the engine uses them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from packaging.version import Version

import compat
import compat.engine._safe as safe
from checkpoint.errors import UnreadableCheckpointError, UnsafeCheckpointError, UntrustedLoadWarning
from compat_torch_load import InertEngineOnly, WeightsOnly, choose_strategy
from digest import state_dict_digest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "legacy"
LEGACY_CLASSES = ROOT / "fixtures_src" / "legacy_template"


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("1.13.1", "no safe-globals API"),
        ("2.1.2", "no safe-globals API"),
        ("2.3.1", "no safe-globals API"),
        ("2.4.0", "explicitly"),
        ("2.5.1+cu121", "explicitly"),
        ("2.6.0a0+git1234", "explicitly"),  # a 2.6 pre-release may predate the fix
    ],
)
def test_before_2_6_only_the_inert_engine_reads_files(version: str, reason: str) -> None:
    for file_format in ("torch-zip", "torch-legacy", "v1"):
        strategy = choose_strategy(file_format, Version(version))
        assert isinstance(strategy, InertEngineOnly)
        assert reason in strategy.name and "CVE-2025-32434" in strategy.name
        assert strategy(Path("unused")) is None


@pytest.mark.parametrize("version", ["2.6.0", "2.7.0rc1", "2.13.0+cpu", "3.0"])
def test_from_2_6_weights_only_torch_load(version: str) -> None:
    for file_format in ("torch-zip", "torch-legacy", "v1"):
        strategy = choose_strategy(file_format, Version(version))
        assert isinstance(strategy, WeightsOnly)
        assert f"torch {version}" in strategy.name
    assert choose_strategy("pickle", Version(version)) is None
    assert choose_strategy("safetensors", Version(version)) is None


# The running torch decides the strategy; tests/torch_versions/ runs this module on torch
# releases below 2.4 and of 2.4/2.5 as well as on the current one.
running_torch = Version(torch.__version__)
FAST_PATH = running_torch >= Version("2.6")  # a 2.6 pre-release sorts below, as it should


def assert_running_torchs_strategy(strategy: str) -> None:
    """``strategy`` is the one the running torch must get for a weights-only file."""
    if FAST_PATH:
        assert strategy == f"torch {torch.__version__} weights_only=True"
        return
    era = "no safe-globals API" if running_torch < Version("2.4") else "explicitly"
    assert strategy.startswith(f"inert engine: torch {torch.__version__} "), strategy
    assert era in strategy and "CVE-2025-32434" in strategy, strategy


@pytest.fixture
def no_torch_load_before_2_6(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before 2.6, make any ``torch.load`` fail the test: only the inert engine may read."""
    if FAST_PATH:
        return
    _forbid_torch_load(monkeypatch)


def _forbid_torch_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        pytest.fail(f"torch.load called on torch {torch.__version__}")

    monkeypatch.setattr(torch, "load", forbidden)


@pytest.fixture
def c_unpickler_declines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file needs the opcode-watching unpickler, as if its scan proved nothing."""
    monkeypatch.setattr(safe, "needs_watching", lambda scan, allowlist: True)


def test_a_plain_state_dict_is_read_by_the_c_unpickler_on_every_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's C unpickler is the fastest safe reader: no strategy, no torch.load."""
    path = tmp_path / "weights.pt"
    state = {"w": torch.randn(4, 3), "b": torch.arange(3)}
    torch.save(state, path)
    _forbid_torch_load(monkeypatch)
    result = compat.load(path)
    assert result.strategy == "inert engine"
    assert list(result.state_dict) == ["w", "b"]
    assert all(torch.equal(result.state_dict[k], v) for k, v in state.items())


@pytest.mark.usefixtures("no_torch_load_before_2_6", "c_unpickler_declines")
def test_weights_only_files_the_c_unpickler_declines_take_the_running_torchs_strategy(
    tmp_path: Path,
) -> None:
    path = tmp_path / "weights.pt"
    state = {"w": torch.randn(4, 3), "b": torch.arange(3)}
    torch.save(state, path)
    result = compat.load(path)
    assert_running_torchs_strategy(result.strategy)
    assert list(result.state_dict) == ["w", "b"]
    assert all(torch.equal(result.state_dict[k], v) for k, v in state.items())


@pytest.mark.parametrize("version_dir", sorted(p.name for p in CORPUS.glob("torch-*")))
def test_strategy_and_both_unpicklers_agree_on_old_torch_files(
    version_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("state_dict_zip.pt", "state_dict_legacy.pt", "raw_dict_zip.pt"):
        path = CORPUS / version_dir / name
        c_unpickler = compat.load(path)
        with monkeypatch.context() as patched:
            patched.setattr(safe, "needs_watching", lambda scan, allowlist: True)
            strategy = compat.load(path)
            with compat.plugins.disabled("torch_load"):
                watched = compat.load(path)
        assert c_unpickler.strategy == watched.strategy == "inert engine"
        assert_running_torchs_strategy(strategy.strategy)
        digests = {state_dict_digest(r.state_dict) for r in (c_unpickler, strategy, watched)}
        assert len(digests) == 1


def test_legacy_records_never_reach_a_strategy() -> None:
    result = compat.load(CORPUS / "torch-2.0.1" / "record_zip.pt")
    assert result.strategy == "inert engine"
    assert result.placeholders


@pytest.mark.usefixtures("c_unpickler_declines")
def test_an_older_torch_is_read_by_the_inert_engine_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(2)}, path)
    monkeypatch.setattr(torch, "__version__", "2.5.1")
    result = compat.load(path)
    assert result.strategy.startswith("inert engine: torch 2.5.1")
    assert torch.equal(result.state_dict["w"], torch.ones(2))


def test_force_no_weights_only_load_never_unlocks_an_unsafe_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsafeCheckpointError):
        compat.load(CORPUS / "hostile" / "os_system_zip.pt")
    assert not list(tmp_path.glob("PWNED_*"))
    assert compat.load(CORPUS / "torch-2.0.1" / "record_zip.pt").strategy == "inert engine"


def test_force_weights_only_load_forbids_trusted_unpickling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(LEGACY_CLASSES))  # the corpus's own (trusted) classes
    path = CORPUS / "torch-2.0.1" / "record_zip.pt"
    with pytest.warns(UntrustedLoadWarning):
        assert compat.load(path, trust=True).strategy == "trusted unpickling (trust=True)"
    monkeypatch.setenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "1")
    with (
        pytest.warns(UntrustedLoadWarning),
        pytest.raises(UnreadableCheckpointError, match="TORCH_FORCE_WEIGHTS_ONLY_LOAD"),
    ):
        compat.load(path, trust=True)
    # plain deletion: monkeypatch.delitem would put the classes back at teardown, and later
    # tests (tests/safe/test_metta_fixtures.py) check that no legacy package is importable
    for module in [name for name in sys.modules if name.startswith("legacyproj")]:
        del sys.modules[module]
