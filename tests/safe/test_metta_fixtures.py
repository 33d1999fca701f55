"""The real Metta checkpoints open without metta, omegaconf, gymnasium or heavyball."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import torch
from safe_paths import FORBIDDEN, METTA

import compat.engine._safe as safe
from digest import as_resolved, state_dict_digest

if not (METTA / "MANIFEST.json").is_file():
    pytest.skip(f"the shared Metta fixtures are absent ({METTA})", allow_module_level=True)

MANIFEST = json.loads((METTA / "MANIFEST.json").read_text())["files"]


@pytest.mark.parametrize("name", FORBIDDEN)
def test_legacy_packages_are_not_installed(name: str) -> None:
    spec = importlib.util.find_spec(name)
    # compat's own legacy-import aliases may serve ``metta.agent.*`` shims; nothing else may.
    assert spec is None or type(spec.loader).__module__.startswith("compat.")


def _forbidden_modules() -> set[str]:
    return {m for m in sys.modules if m.split(".")[0] in FORBIDDEN}


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_recovers_expected_weights_and_metadata(name: str) -> None:
    entry = MANIFEST[name]
    before = _forbidden_modules()
    result = safe.load(METTA / name)
    assert _forbidden_modules() == before
    if "expected_n_tensors" in entry:
        state = result.state_dict
        assert len(state) == entry["expected_n_tensors"]
        assert sum(tensor.numel() for tensor in state.values()) == entry["expected_numel"]
        assert list(state)[: len(entry["expected_keys_head"])] == entry["expected_keys_head"]
        assert state_dict_digest(state) == entry["expected_state_dict_sha256"]
    else:
        assert result.trainer_state is not None
        head = entry["expected_keys_head"]
        assert list(result.trainer_state)[: len(head)] == head
    if "expected_epoch" in entry:
        assert result.kind is safe.Kind.RECORD
        assert result.metadata["epoch"] == entry["expected_epoch"]
        assert result.metadata["agent_step"] == entry["expected_agent_step"]
        assert sorted(result.metadata) == entry["expected_metadata_keys"]


def test_heavyball_optimizer_object_becomes_a_standard_state_dict() -> None:
    result = safe.load(METTA / "cogames_trainer_state_heavyball.pt")
    assert result.trainer_state is not None
    optimizer = result.trainer_state["optimizer_state_dict"]
    assert isinstance(optimizer, dict)
    assert set(optimizer) == {"state", "param_groups"}
    params = [index for group in optimizer["param_groups"] for index in group["params"]]
    assert params == list(range(len(params)))
    assert all(isinstance(key, int) for key in optimizer["state"])
    assert "heavyball.ForeachMuon" in result.legacy_classes
    values = [value for state in optimizer["state"].values() for value in state.values()]
    assert any(isinstance(value, torch.Tensor) for value in values)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_inspect_lists_every_global_and_a_verdict(name: str) -> None:
    entry = MANIFEST[name]
    report = safe.inspect(METTA / name)
    assert report.format is safe.Format.TORCH_ZIP
    assert {info.name for info in report.globals} >= as_resolved(entry["globals_referenced"])
    plain_state = entry["globals_referenced"] == [
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
    ]
    expected = safe.Verdict.WEIGHTS_ONLY if plain_state else safe.Verdict.INERT
    assert report.verdict is expected
    assert report.refused_globals == ()
    assert any("torch >= 2.6" in hint for hint in report.torch_version_hints)
