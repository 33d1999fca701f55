"""Plain-data views of inert config and space objects, contributed through a hook."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import torch
from craft import fake_module

import compat


class DictConfig:
    """Shaped like OmegaConf's: content nodes, and a parent link back (a cycle)."""

    def __init__(self, content: dict[str, object]) -> None:
        self._content = content
        self._parent = None


class AnyNode:
    def __init__(self, value: object, parent: object) -> None:
        self._val = value
        self._parent = parent


class Box:
    def __init__(self) -> None:
        self.low = np.zeros(3, dtype=np.float32)
        self.high = np.ones(3, dtype=np.float32)
        self.dtype = "float32"
        self._shape = (3,)
        self._np_random = np.random.default_rng(7)
        self._np_random.random(5)  # a generator part-way through its stream


class Ratio:
    def __init__(self) -> None:
        self.num, self.den = 1, 3


@pytest.fixture
def legacy_file(tmp_path: Path) -> Path:
    """A dict checkpoint holding an OmegaConf config, a gym space and an unknown object."""
    path = tmp_path / "run.pt"
    with ExitStack() as stack:
        for package in ("omegaconf", "gymnasium", "gymnasium.spaces", "fakeproj"):
            stack.enter_context(fake_module(package))
        stack.enter_context(fake_module("omegaconf.dictconfig", DictConfig=DictConfig))
        stack.enter_context(fake_module("omegaconf.nodes", AnyNode=AnyNode))
        stack.enter_context(fake_module("gymnasium.spaces.box", Box=Box))
        stack.enter_context(fake_module("fakeproj.maths", Ratio=Ratio))
        config = DictConfig({})
        config._content = {"lr": AnyNode(0.1, config), "layers": AnyNode([64, 64], config)}
        torch.save(
            {"model_state_dict": {"w": torch.ones(2)}, "cfg": config, "space": Box(), "r": Ratio()},
            path,
        )
    return path


def test_configs_and_spaces_become_the_data_they_describe(legacy_file: Path) -> None:
    metadata = compat.load(legacy_file).metadata
    assert metadata["cfg"] == {"lr": 0.1, "layers": [64, 64]}
    space = metadata["space"]
    assert isinstance(space, dict)
    assert (space["space"], space["shape"], space["dtype"]) == ("Box", (3,), "float32")
    assert np.array_equal(space["high"], np.ones(3, dtype=np.float32))
    # the space's generator as numpy's own state dict: Generator.bit_generator.state
    assert space["np_random"] == Box()._np_random.bit_generator.state
    assert "_np_random" not in space
    # a class nobody materialises keeps its attributes and says what it was
    assert metadata["r"] == {"__class__": "fakeproj.maths.Ratio", "num": 1, "den": 3}


def test_without_the_plugin_they_stay_attribute_views(legacy_file: Path) -> None:
    with compat.plugins.disabled("materialisers"):
        metadata = compat.load(legacy_file).metadata
    cfg = metadata["cfg"]
    assert isinstance(cfg, dict) and cfg["__class__"] == "omegaconf.dictconfig.DictConfig"
    assert cfg["_parent"] is None  # and the node -> config cycle was cut, not followed


def test_a_plugin_contributes_its_own_view(legacy_file: Path) -> None:
    def ratio(obj: compat.InertObject, plain: Callable[[object], object]) -> object:
        state = obj.state
        assert isinstance(state, dict)
        return state["num"] / state["den"]

    class Maths:
        @compat.hookimpl
        def compat_materialisers(self) -> dict[str, compat.Materialiser]:
            return {"fakeproj.maths.Ratio": ratio}

    name = compat.plugins.register(Maths(), "maths")
    try:
        assert compat.load(legacy_file).metadata["r"] == pytest.approx(1 / 3)
    finally:
        compat.plugins.unregister(name)
