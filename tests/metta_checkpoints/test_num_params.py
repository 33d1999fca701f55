"""``PolicyRecord.num_params()`` on legacy files, with no class mapping: counted from the
inert graph exactly as ``sum(p.numel() for p in policy.parameters() if p.requires_grad)``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from format_truth import FORMATS, checkpoint_truths
from param_truth import trainable_parameters
from torch import nn

from checkpoint import LegacyCheckpointError
from checkpoint.errors import CompatDeprecationWarning
from compat_policy_store import PolicyStore

METTA = FORMATS.parents[2].parent / "shared" / "fixtures" / "metta"
requires_metta = pytest.mark.skipif(
    not (METTA / "MANIFEST.json").is_file(),
    reason=f"the shared Metta fixtures are not on this machine ({METTA})",
)
PICKLED = {
    name: truth for name, truth in checkpoint_truths().items() if "num_params_trainable" in truth
}


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", CompatDeprecationWarning)


def _records() -> list[str]:
    if not (METTA / "MANIFEST.json").is_file():
        return []
    manifest = json.loads((METTA / "MANIFEST.json").read_text())["files"]
    return sorted(
        n for n, e in manifest.items() if e.get("top_level_object", "").endswith("Record")
    )


def test_the_pickled_fixtures_have_a_parameter_count() -> None:
    assert len(PICKLED) == 6  # three Sep 2025 __e names, two :v names, the pickled .mpt


@pytest.mark.parametrize("name", sorted(PICKLED))
def test_num_params_of_a_pickled_agent_matches_the_generator(name: str) -> None:
    record = PolicyStore().load_from_uri(f"file://{FORMATS / name}")
    assert record.num_params() == PICKLED[name]["num_params_trainable"]
    with pytest.raises(LegacyCheckpointError, match="renames"):
        _ = record.policy  # no class mapping: the count did not need one


@requires_metta
@pytest.mark.parametrize("name", _records())
def test_num_params_of_a_real_metta_record_matches_torch(name: str) -> None:
    """Against torch's own ``parameters()`` over stand-in classes (see ``param_truth``)."""
    record = PolicyStore().load_from_uri(str(METTA / name))
    assert record.num_params() == trainable_parameters(METTA / name)


def test_num_params_of_weights_only_formats_says_why_it_cannot(tmp_path: Path) -> None:
    name = "oct2025_mpt/fixture_oct_mpt/checkpoints/fixture_oct_mpt:v5.mpt"
    record = PolicyStore().load_from_uri(str(FORMATS / name))
    with pytest.raises(LegacyCheckpointError, match="only its weights"):
        record.num_params()


class Frozen(nn.Module):
    """Tied and frozen parameters: ``parameters()`` yields a tied one once, and the count
    leaves frozen ones out."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(7, 5)
        self.head = nn.Linear(5, 7)
        self.head.weight = self.embed.weight
        self.frozen = nn.Linear(5, 3)
        self.frozen.requires_grad_(False)
        self.register_buffer("running", torch.ones(11))


class Wrapper:
    """A record that keeps its policy where some 2025 PolicyRecords did."""

    def __init__(self, policy: nn.Module) -> None:
        self._cached_policy_value = policy
        self._metadata = {"epoch": 3, "agent_step": 30, "generation": 0, "train_time": 1.0}


@pytest.mark.parametrize("wrapped", [False, True])
def test_tied_and_frozen_parameters_count_as_torch_counts_them(
    tmp_path: Path, wrapped: bool
) -> None:
    torch.manual_seed(0)
    agent = Frozen()
    expected = sum(p.numel() for p in agent.parameters() if p.requires_grad)
    assert expected == 7 * 5 + 7  # the tied weight once, the frozen layer and buffer not at all
    path = tmp_path / "model_0003.pt"
    torch.save(Wrapper(agent) if wrapped else agent, path)
    assert PolicyStore().load_from_uri(str(path)).num_params() == expected
