"""Legacy names of every Metta era, and the figures lifted from legacy metadata."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from format_truth import checkpoint_truths

from checkpoint._naming import parse_legacy_name
from compat.upgrade._chain import run_chain
from compat_converters import INDEX

SOURCE = Path("/nowhere/checkpoint")


@pytest.mark.parametrize(
    "truth", [t for t in checkpoint_truths().values() if t["format"] == "metta_epoch_names_pt"]
)
def test_sep2025_names_read_back_as_metta_read_them(truth: dict[str, object]) -> None:
    """``sc`` is ``int(score * 10000)``; Metta read it back as ``int(sc) / 10000.0``."""
    name = parse_legacy_name(Path(str(truth["file"])).name)
    fields = truth["name_fields"]
    assert isinstance(fields, dict) and name is not None
    assert (name.run_name, name.epoch, name.agent_step, name.total_time) == (
        fields["run_name"],
        fields["epoch"],
        fields["agent_step"],
        fields["total_time"],
    )
    assert name.score == fields["score"] == fields["score_int"] / 10000.0


@pytest.mark.parametrize(
    "truth", [t for t in checkpoint_truths().values() if t["format"] != "metta_epoch_names_pt"]
)
def test_colon_v_names_of_every_era(truth: dict[str, object]) -> None:
    name = parse_legacy_name(Path(str(truth["file"])).name)
    assert name is not None
    assert (name.run_name, name.epoch) == (truth["run_name"], truth["epoch"])
    assert (name.agent_step, name.total_time, name.score) == (None, None, None)


@pytest.mark.parametrize(
    ("name", "scheme", "run", "epoch"),
    [
        ("run:v5.pt", "wandb_artifact", "run", 5),
        ("run:v5.mpt", "policy_artifact", "run", 5),
        ("run:v5", "checkpoint_bundle", "run", 5),
        ("run:v12.zip", "checkpoint_bundle", "run", 12),
        ("a.b:v5", "checkpoint_bundle", "a.b", 5),  # Metta's Path.stem could not read this one
        ("model_0005.pt", "policy_store", None, 5),
    ],
)
def test_legacy_schemes(name: str, scheme: str, run: str | None, epoch: int) -> None:
    parsed = parse_legacy_name(name)
    assert parsed is not None
    assert (parsed.scheme, parsed.run_name, parsed.epoch) == (scheme, run, epoch)


def test_a_negative_score_metta_could_not_read_back_is_recognised() -> None:
    parsed = parse_legacy_name("r__e1__s10__t3__sc-5000.pt")
    assert parsed is not None and parsed.score == -0.5


@pytest.mark.parametrize("name", ["run:latest.mpt", "run:vx.mpt", ":v5.mpt", "run:v5.mpt.tmp"])
def test_names_that_are_not_checkpoints(name: str) -> None:
    assert parse_legacy_name(name) is None


def _draft(fmt: str, metadata: dict[str, object], **extra: object) -> dict[str, object]:
    return {
        "format": fmt,
        "version": "0",
        "state_dict": {},
        "metadata": metadata,
        "trainer_state": None,
        "file_name": None,
        "legacy_classes": [],
        **extra,
    }


def test_record_numbers_become_selectable_metrics() -> None:
    metadata = {
        "epoch": 5,
        "agent_step": 100,
        "score": 0.5,
        "train_time": 2.5,
        "generation": 1,
        "reward": 3,
        "eval_scores": {"navigation": 0.75, "memory": {"easy": 0.5, "hard": "n/a"}, "x": None},
        "original_feature_mapping": {"hp": 1, "type_id": 0},  # a lookup table, not a score
        "flag": True,
        "nan_reward": math.nan,
        "run": "daphne",
    }
    draft, _ = run_chain(_draft("policy_record", metadata), INDEX, SOURCE)
    assert draft["metrics"] == {
        "train_time": 2.5,
        "generation": 1,
        "reward": 3,
        "eval_scores": {"navigation": 0.75, "memory": {"easy": 0.5}},
    }
    assert draft["figures"] == {"epoch": 5, "agent_step": 100, "total_time": 2.5, "score": 0.5}
    assert draft["legacy_metadata"] == metadata


def test_a_bundle_zip_trainer_state_of_another_epoch_gives_no_figures() -> None:
    member = {"epoch": 9, "agent_step": 900, "optimizer": {"state": {}, "param_groups": []}}
    named = {"scheme": "checkpoint_bundle", "run_name": "r", "epoch": 10}
    draft, _ = run_chain(
        _draft(
            "metta_bundle",
            {"policy_spec": {"class_path": "x.Y"}},
            trainer_state={"trainer_state": member},
            file_name=named,
        ),
        INDEX,
        SOURCE,
    )
    assert draft["figures"] == {"epoch": 10, "agent_step": None, "total_time": None, "score": None}
    assert draft["legacy_metadata"] == {"policy_spec": {"class_path": "x.Y"}}
    assert draft["trainer_state"] == {
        "optimizer": member["optimizer"],
        "extra": {"epoch": 9, "agent_step": 900},
    }
