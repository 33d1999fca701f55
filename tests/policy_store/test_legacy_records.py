"""Legacy PolicyRecord pickles (the real Metta files) behind the PolicyStore shims."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from checkpoint import LegacyCheckpointError, read_sidecar
from checkpoint.errors import CompatDeprecationWarning
from compat_policy_store import PolicyMetadata, PolicyStore
from digest import state_dict_digest

METTA = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "metta"
if not (METTA / "MANIFEST.json").is_file():
    pytest.skip(f"the shared Metta fixtures are absent ({METTA})", allow_module_level=True)
MANIFEST = json.loads((METTA / "MANIFEST.json").read_text())["files"]
RECORDS = sorted(
    name
    for name, entry in MANIFEST.items()
    if entry.get("top_level_object", "").endswith("PolicyRecord")
)


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", CompatDeprecationWarning)


def test_there_are_legacy_records() -> None:
    assert len(RECORDS) == 4


@pytest.mark.parametrize("name", RECORDS)
def test_a_legacy_record_has_its_metadata_and_weights(name: str, tmp_path: Path) -> None:
    entry = MANIFEST[name]
    store = PolicyStore(data_dir=str(tmp_path))
    record = store.policy_record(f"file://{METTA / name}")
    assert isinstance(record.metadata, PolicyMetadata)
    assert record.metadata.epoch == entry["expected_epoch"]
    assert record.metadata["agent_step"] == entry["expected_agent_step"]
    assert sorted(record.metadata) == sorted(
        {*entry["expected_metadata_keys"], "agent_step", "epoch", "generation", "train_time"}
    )
    assert state_dict_digest(record.state_dict()) == entry["expected_state_dict_sha256"]
    with pytest.raises(LegacyCheckpointError, match="renames") as excinfo:
        _ = record.policy
    assert str(METTA / name) in str(excinfo.value)
    assert "metta.agent.metta_agent.MettaAgent" in str(excinfo.value)


def test_top_selection_over_a_directory_of_legacy_records(tmp_path: Path) -> None:
    run = tmp_path / "arena" / "checkpoints"
    run.mkdir(parents=True)
    for name in ("arena_run3_model_0000.pt", "arena_run3_model_0010.pt"):
        shutil.copy(METTA / name, run / name.removeprefix("arena_run3_"))
    store = PolicyStore(data_dir=str(tmp_path))
    records = store.policy_records(str(run), "all")
    assert [r.metadata.epoch for r in records] == [
        MANIFEST["arena_run3_model_0010.pt"]["expected_epoch"],
        MANIFEST["arena_run3_model_0000.pt"]["expected_epoch"],
    ]
    assert store.policy_record(str(run), "latest") is records[0]


def test_saving_a_legacy_record_writes_its_weights_as_v1(tmp_path: Path) -> None:
    name = "daphne_nav_v100_model.pt"
    store = PolicyStore(data_dir=str(tmp_path))
    record = store.policy_record(str(METTA / name))
    saved = store.save(record, str(tmp_path / "exported"))
    path = Path(saved.file_path)
    weights = torch.load(path, weights_only=True)
    assert state_dict_digest(weights) == MANIFEST[name]["expected_state_dict_sha256"]
    sidecar = read_sidecar(path.with_suffix(".yaml"))
    assert (sidecar.epoch, sidecar.agent_step) == (5050, MANIFEST[name]["expected_agent_step"])
