"""Round-trip properties: random agents pickled the legacy ways convert exactly.

Each example builds a random architecture (nested Sequential/ModuleDict of Linear, Conv2d,
BatchNorm1d, LSTM and Embedding layers; tied weights; an int8 and a non-persistent buffer;
one of several dtypes, complex included) whose classes live in a throwaway module under a
random legacy path, pickles the whole object (optionally inside a record with dict-subclass
metadata, zip or legacy non-zip), then removes that module, so nothing can import the
classes again.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

import compat
from checkpoint import read_sidecar
from compat.upgrade._bitwise import differences

Layer = tuple[object, ...]
Spec = Layer | tuple[str, list["Spec"]]

DIMS = st.integers(1, 5)
LAYERS: st.SearchStrategy[Layer] = st.one_of(
    st.tuples(st.just("linear"), DIMS, DIMS, st.booleans()),
    st.tuples(st.just("conv"), DIMS, DIMS, st.integers(1, 3)),
    st.tuples(st.just("batchnorm"), DIMS),
    st.tuples(st.just("lstm"), DIMS, DIMS, st.integers(1, 2)),
    st.tuples(st.just("embedding"), DIMS, DIMS),
)
SPECS: st.SearchStrategy[Spec] = st.recursive(
    LAYERS,
    lambda children: st.tuples(
        st.sampled_from(["sequential", "moduledict"]), st.lists(children, min_size=1, max_size=3)
    ),
    max_leaves=6,
)
DTYPES = st.sampled_from(
    [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.complex64]
)
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
LEGACY_PATHS = st.lists(NAMES, min_size=1, max_size=3).map(".".join)


def _layer(spec: Layer) -> nn.Module:
    kind, *args = spec
    if kind == "linear":
        return nn.Linear(args[0], args[1], bias=args[2])  # type: ignore[arg-type]
    if kind == "conv":
        return nn.Conv2d(args[0], args[1], args[2])  # type: ignore[arg-type]
    if kind == "batchnorm":
        norm = nn.BatchNorm1d(args[0])  # type: ignore[arg-type]
        norm.running_mean.uniform_()  # non-default statistics must survive too
        return norm
    if kind == "lstm":
        return nn.LSTM(args[0], args[1], args[2])  # type: ignore[arg-type]
    return nn.Embedding(args[0], args[1])  # type: ignore[arg-type]


def _build(spec: Spec) -> nn.Module:
    if spec[0] == "sequential":
        return nn.Sequential(*map(_build, spec[1]))  # type: ignore[arg-type]
    if spec[0] == "moduledict":
        return nn.ModuleDict({f"m{i}": _build(child) for i, child in enumerate(spec[1])})  # type: ignore[arg-type]
    return _layer(spec)


@dataclass(frozen=True)
class Legacy:
    """A throwaway module holding an agent class, a record class and a metadata class."""

    module: types.ModuleType

    def agent(self, spec: Spec, dtype: torch.dtype, tie: bool, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        agent: nn.Module = self.module.Agent(spec, tie)
        return agent.to(dtype)

    def record(self, agent: nn.Module, epoch: int) -> object:
        metadata = self.module.PolicyMetadata(epoch=epoch, agent_step=epoch * 10, train_time=1.5)
        return self.module.PolicyRecord(agent, metadata)


def _legacy_module(path: str) -> types.ModuleType:
    module = types.ModuleType(path)

    class Agent(nn.Module):
        def __init__(self, spec: Spec, tie: bool) -> None:
            super().__init__()
            self.body = _build(spec)
            self.head = nn.Linear(3, 4)
            if tie:
                self.embed = nn.Embedding(4, 3)
                self.embed.weight = self.head.weight
            self.register_buffer("updates", torch.tensor(7))
            self.register_buffer("codes", torch.randint(-128, 128, (5,), dtype=torch.int8))
            self.register_buffer("scratch", torch.randn(2), persistent=False)

    class PolicyMetadata(dict):  # type: ignore[type-arg]
        pass

    class PolicyRecord:
        def __init__(self, policy: nn.Module, metadata: PolicyMetadata) -> None:
            self._policy_store = None
            self.run_name = "legacy-run"
            self._cached_policy = policy
            self.metadata = metadata

    for cls in (Agent, PolicyMetadata, PolicyRecord):
        cls.__module__ = path
        cls.__qualname__ = cls.__name__
        setattr(module, cls.__name__, cls)
    return module


@contextmanager
def installed(path: str) -> Iterator[Legacy]:
    """The module at ``path`` (and its parents) in ``sys.modules`` inside the block only."""
    parts = path.split(".")
    names = [".".join(parts[: i + 1]) for i in range(len(parts))]
    for name in names[:-1]:
        sys.modules[name] = types.ModuleType(name)
    module = _legacy_module(path)
    sys.modules[path] = module
    try:
        yield Legacy(module)
    finally:
        for name in names:
            del sys.modules[name]


def _outputs(module: nn.Module) -> list[torch.Tensor]:
    """Each layer applied to a fixed input of its own shape (eval mode, no grad)."""
    generator = torch.Generator().manual_seed(0)
    found: list[torch.Tensor] = []
    module.eval()
    with torch.no_grad():
        for layer in module.modules():
            dtype = next(layer.parameters()).dtype if list(layer.parameters()) else torch.float32
            if isinstance(layer, nn.Linear):
                found.append(
                    layer(torch.randn(2, layer.in_features, generator=generator).to(dtype))
                )
            elif isinstance(layer, nn.Conv2d):
                x = torch.randn(1, layer.in_channels, 4, 4, generator=generator).to(dtype)
                found.append(layer(x))
            elif isinstance(layer, nn.BatchNorm1d):
                found.append(
                    layer(torch.randn(3, layer.num_features, generator=generator).to(dtype))
                )
            elif isinstance(layer, nn.LSTM):
                x = torch.randn(2, 1, layer.input_size, generator=generator).to(dtype)
                found.append(layer(x)[0])
            elif isinstance(layer, nn.Embedding):
                found.append(layer(torch.arange(layer.num_embeddings)))
    return found


def _unimportable(path: str) -> bool:
    top = path.split(".", maxsplit=1)[0]
    return top not in sys.modules and importlib.util.find_spec(top) is None


@pytest.mark.filterwarnings("ignore:Couldn't retrieve source code:UserWarning")
@pytest.mark.filterwarnings("ignore:Complex modules are a new feature:UserWarning")
@given(
    spec=SPECS,
    dtype=DTYPES,
    tie=st.booleans(),
    legacy_zip=st.booleans(),
    wrapped=st.booleans(),
    path=LEGACY_PATHS,
    epoch=st.integers(0, 10**6),
)
def test_legacy_pickles_convert_bit_for_bit(
    spec: Spec,
    dtype: torch.dtype,
    tie: bool,
    legacy_zip: bool,
    wrapped: bool,
    path: str,
    epoch: int,
) -> None:
    assume(_unimportable(path))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "legacy.pt"
        with installed(path) as legacy:
            agent = legacy.agent(spec, dtype, tie, seed=epoch)
            pickled = legacy.record(agent, epoch) if wrapped else agent
            torch.save(pickled, source, _use_new_zipfile_serialization=legacy_zip)
        assert _unimportable(path)
        expected = agent.state_dict()

        info = compat.convert(source, work / f"run.e{epoch:08d}.pt")
        converted = torch.load(info.path, weights_only=True)
        assert differences(expected, converted) == []

        with installed(path) as legacy:  # a fresh agent of the same spec, other weights
            fresh = legacy.agent(spec, dtype, tie, seed=epoch + 1)
        fresh.load_state_dict(converted)
        assert differences(expected, fresh.state_dict()) == []
        if dtype in (torch.float32, torch.float64):
            assert differences(_outputs(agent), _outputs(fresh)) == []

        sidecar = read_sidecar(info.path.with_suffix(".yaml"))
        assert sidecar.converted_from is not None
        assert sidecar.converted_from.format.startswith("policy_record" if wrapped else "agent")
        assert f"{path}.Agent" in sidecar.converted_from.legacy_classes
        if wrapped:
            assert (sidecar.agent_step, sidecar.total_time) == (epoch * 10, 1.5)

        (work / "again").mkdir()
        again = compat.convert(info.path, work / "again")  # v1 -> v1: a no-op
        assert differences(converted, torch.load(again.path, weights_only=True)) == []
        resaved = read_sidecar(again.path.with_suffix(".yaml"))
        assert again.path.name == info.path.name
        assert resaved.model_dump(exclude={"created_at"}) == sidecar.model_dump(
            exclude={"created_at"}
        )
