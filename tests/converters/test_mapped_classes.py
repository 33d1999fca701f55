"""A legacy class mapped to a current one (compat_safe_globals) comes back as a real agent."""

from __future__ import annotations

import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import compat
from checkpoint import CheckpointManager, read_sidecar, unregister_agent_class
from checkpoint.errors import CompatDeprecationWarning

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "tests" / "fixtures" / "legacy" / "torch-2.0.1" / "record_zip.pt"
LEGACY_CLASSES = ROOT / "fixtures_src" / "legacy_template"
TORCH_LAYERS = [
    f"torch.nn.modules.{name}"
    for name in (
        "container.ModuleDict",
        "container.Sequential",
        "conv.Conv2d",
        "activation.ReLU",
        "flatten.Flatten",
        "linear.Linear",
        "batchnorm.BatchNorm1d",
        "rnn.LSTM",
        "sparse.Embedding",
    )
]
NORMALIZER = "legacyproj.agent.lib.observation_normalizer.ObservationNormalizer"


@pytest.fixture
def current_agents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Today's agent class (the old one under a new path), registered for rebuilding."""
    monkeypatch.syspath_prepend(str(LEGACY_CLASSES))
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "current_agents.py").write_text(
        textwrap.dedent(
            """
            from checkpoint import register_agent_class
            from legacyproj.agent.metta_agent import MettaAgent


            @register_agent_class
            class Agent(MettaAgent):
                def checkpoint_config(self):
                    return {"config": self.config}
            """
        )
    )
    import current_agents

    yield current_agents
    unregister_agent_class(current_agents.Agent)
    for name in [m for m in sys.modules if m.split(".")[0] in ("legacyproj", "current_agents")]:
        del sys.modules[name]  # not monkeypatch.delitem: its undo would bring them back


@pytest.fixture
def renames(current_agents: object) -> Iterator[None]:
    class Renames:
        @compat.hookimpl
        def compat_safe_globals(self) -> compat.SafeGlobals:
            return {
                "renames": {"legacyproj.agent.metta_agent.MettaAgent": "current_agents.Agent"},
                "allow": [*TORCH_LAYERS, NORMALIZER],
            }

    name = compat.plugins.register(Renames(), "renames")
    yield
    compat.plugins.unregister(name)


def test_the_mapped_agent_is_a_working_instance(current_agents, renames) -> None:
    result = compat.load(RECORD)
    agent = result.agent
    assert type(agent) is current_agents.Agent  # type: ignore[attr-defined]
    assert agent is not None
    assert list(agent.state_dict()) == list(result.state_dict)
    obs = torch.randn(2, 3, 5, 5)
    logits, value = agent.eval()(obs)
    assert logits.shape == (2, 6) and value.shape == (2, 1)


def test_without_a_mapping_there_is_no_agent_only_weights() -> None:
    result = compat.load(RECORD)
    assert result.agent is None and result.state_dict


def test_convert_records_the_architecture_and_the_manager_rebuilds_it(
    current_agents, renames, tmp_path: Path
) -> None:
    info = compat.convert(RECORD, tmp_path / "out" / "nav.e00000003.pt")
    sidecar = read_sidecar(info.path.with_suffix(".yaml"))
    assert sidecar.architecture is not None
    assert sidecar.architecture.class_path == "current_agents.Agent"
    rebuilt = CheckpointManager(info.path.parent, "nav").load_agent(3).eval()
    original = compat.load(RECORD).agent
    assert original is not None
    obs = torch.randn(2, 3, 5, 5)
    assert all(torch.equal(a, b) for a, b in zip(rebuilt(obs), original.eval()(obs), strict=True))


def test_a_legacy_policy_record_policy_is_the_mapped_agent(current_agents, renames) -> None:
    from compat_policy_store import PolicyStore

    warnings.simplefilter("ignore", CompatDeprecationWarning)
    record = PolicyStore().policy_record(str(RECORD))
    assert type(record.policy) is current_agents.Agent  # type: ignore[attr-defined]
