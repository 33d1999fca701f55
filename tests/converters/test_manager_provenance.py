"""``CheckpointManager.save_agent(..., provenance=, legacy_metadata=)``: the converters' way in."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from checkpoint import CheckpointManager, ConvertedFrom, read_sidecar
from checkpoint.errors import InvalidStateError

ORIGIN = ConvertedFrom(
    path="/old/model_0005.pt",
    sha256="ab" * 32,
    format="policy_record/torch-zip",
    legacy_classes=["metta.agent.policy_record.PolicyRecord"],
    migrations=["policy_record@0: x"],
)


def test_provenance_and_legacy_metadata_reach_the_sidecar(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, "run")
    legacy = {"epoch": 5, "eval_scores": {"nav": 0.5}, "names": ["a", "b"]}
    info = manager.save_agent(
        {"w": torch.ones(3)}, 5, {"score": 1.0}, provenance=ORIGIN, legacy_metadata=legacy
    )
    sidecar = read_sidecar(info.path.with_suffix(".yaml"))
    assert sidecar.converted_from == ORIGIN
    assert sidecar.legacy_metadata == legacy
    assert sidecar.score == 1.0


def test_without_them_the_sidecar_has_neither(tmp_path: Path) -> None:
    info = CheckpointManager(tmp_path, "run").save_agent({"w": torch.ones(3)}, 1)
    text = info.path.with_suffix(".yaml").read_text()
    assert "converted_from" not in text
    assert "legacy_metadata" not in text


def test_legacy_metadata_that_is_not_plain_data_is_refused_before_writing(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, "run")
    with pytest.raises(InvalidStateError, match=r"legacy_metadata\['device'\]"):
        manager.save_agent({"w": torch.ones(1)}, 1, legacy_metadata={"device": object()})
    assert list(tmp_path.glob("*.pt")) == []
