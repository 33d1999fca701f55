"""A sidecar is not trusted: its ``architecture.config`` never chooses a constructor's
arguments beyond what the registered class declares (issue 15, constructors reached)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from checkpoint import CheckpointManager, register_agent_class, unregister_agent_class
from checkpoint.errors import SidecarError

CALLS: list[dict[str, object]] = []


class Canary(nn.Module):
    """Records every construction; a forged config must never reach it."""

    def __init__(self, width: int = 4, name: str = "canary", scale: float = 1.0) -> None:
        super().__init__()
        CALLS.append({"width": width, "name": name, "scale": scale})
        self.width, self.name, self.scale = width, name, scale
        self.layer = nn.Linear(width, 2)

    def checkpoint_config(self) -> dict[str, object]:
        return {"width": self.width, "name": self.name, "scale": self.scale}


@pytest.fixture
def saved(tmp_path: Path):  # type: ignore[no-untyped-def]
    register_agent_class(Canary)
    manager = CheckpointManager(tmp_path, "run")
    manager.save_agent(Canary(width=3), 1)
    CALLS.clear()
    yield manager, tmp_path / "run.e00000001.yaml"
    unregister_agent_class(Canary)


def _forge(sidecar: Path, **config: object) -> None:
    data = yaml.safe_load(sidecar.read_text())
    data["architecture"]["config"].update(config)
    sidecar.write_text(yaml.safe_dump(data))


def test_the_recorded_config_rebuilds_the_agent(saved) -> None:  # type: ignore[no-untyped-def]
    manager, _ = saved
    agent = manager.load_agent()
    assert isinstance(agent, Canary) and CALLS == [{"width": 3, "name": "canary", "scale": 1.0}]
    assert torch.equal(agent.layer.weight, manager.load_state_dict()["layer.weight"])


@pytest.mark.parametrize(
    ("forged", "reason"),
    [
        ({"device": "cuda:0"}, "does not take by name"),
        ({"__class__": "os.system"}, "does not take by name"),
        ({"width": "3; rm -rf /"}, "does not fit"),
        ({"width": True}, "does not fit"),
        ({"name": {"nested": ["a"]}}, "does not fit"),
    ],
)
def test_a_forged_config_never_reaches_the_constructor(saved, forged, reason) -> None:  # type: ignore[no-untyped-def]
    manager, sidecar = saved
    _forge(sidecar, **forged)
    with pytest.raises(SidecarError, match=reason):
        manager.load_agent()
    assert CALLS == []


def test_an_int_fits_a_float_parameter(saved) -> None:  # type: ignore[no-untyped-def]
    manager, sidecar = saved
    _forge(sidecar, scale=2)
    manager.load_agent()
    assert CALLS == [{"width": 3, "name": "canary", "scale": 2}]
