"""A conversion that would lose a tensor fails, naming it, with nothing written (rule 3).

``require_every_tensor`` walks the source's whole graph, not the weights the engine
recovered, so a converter that drops a tensor from the draft, or even from the recovered
weights in place, is caught before anything is written.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import compat
import compat.plugins
from checkpoint.errors import UnconvertibleCheckpointError
from compat.engine._inventory import tensor_key, tensor_keys, tensors_in
from compat_converters import INDEX

Draft = dict[str, object]


def _source(tmp_path: Path) -> Path:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    path = tmp_path / "model_0007.pt"
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)
    return path


@pytest.fixture
def dropping_converters() -> Iterator[Callable[[Callable[[Draft], None]], None]]:
    """Install converters that run the first-party ones, then ``damage`` the draft once."""
    registered: list[str] = []

    def install(damage: Callable[[Draft], None]) -> None:
        done: list[bool] = []

        def wrap(converter: compat.Converter) -> compat.Converter:
            def converted(draft: Draft) -> Draft:
                result = converter(draft)
                if not done:
                    done.append(True)
                    damage(result)
                return result

            return converted

        class Dropping:
            @staticmethod
            @compat.hookimpl
            def compat_converters() -> dict[tuple[str, str], compat.Converter]:
                return {key: wrap(converter) for key, converter in INDEX.items()}

        compat.plugins.register(Dropping(), "dropping_converters")
        registered.append("dropping_converters")

    yield install
    for name in registered:
        compat.plugins.unregister(name)


def _drop_bias(draft: Draft) -> None:
    state = draft["state_dict"]
    assert isinstance(state, dict)
    draft["state_dict"] = OrderedDict((k, v) for k, v in state.items() if k != "bias")


def _pop_bias_in_place(draft: Draft) -> None:
    state = draft["state_dict"]
    assert isinstance(state, dict)
    state.pop("bias")


def _drop_optimizer(draft: Draft) -> None:
    draft["trainer_state"] = None


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (_drop_bias, "model.bias"),
        (_pop_bias_in_place, "model.bias"),
        (_drop_optimizer, "optimizer.state"),
    ],
    ids=["dropped from the draft", "popped from the recovered weights", "optimizer left out"],
)
def test_a_conversion_that_would_lose_a_tensor_fails_and_writes_nothing(
    tmp_path: Path,
    dropping_converters: Callable[[Callable[[Draft], None]], None],
    damage: Callable[[Draft], None],
    named: str,
) -> None:
    source = _source(tmp_path)
    dropping_converters(damage)
    out = tmp_path / "out"
    with pytest.raises(UnconvertibleCheckpointError, match=r"would lose \d+ tensor") as caught:
        compat.convert(source, out / "run.e00000007.pt")
    assert named in str(caught.value)
    assert not out.exists() or list(out.iterdir()) == []


def test_the_same_source_converts_when_nothing_is_dropped(tmp_path: Path) -> None:
    source = _source(tmp_path)
    info = compat.convert(source, tmp_path / "out" / "run.e00000007.pt")
    assert set(torch.load(info.path, weights_only=True)) == {"weight", "bias"}


def test_skip_passes_over_exactly_the_tensors_whose_key_it_holds() -> None:
    shared = torch.arange(6.0)
    graph = {
        "a": shared,
        "view": shared[2:],
        "nested": [{"b": torch.zeros(2)}, (shared,)],
        "array": np.ones(3),
        "scalar": 3,
    }
    everything = dict(tensors_in(graph))
    assert set(everything) == {"a", "view", "nested[0].b", "array"}  # `shared` found once
    keys = tensor_keys(graph)
    assert keys == {tensor_key(tensor) for tensor in everything.values()}
    skipped = {tensor_key(shared), tensor_key(graph["nested"][0]["b"])}  # type: ignore[index]
    assert dict(tensors_in(graph, skip=skipped)) == {
        path: tensor for path, tensor in everything.items() if tensor_key(tensor) not in skipped
    }
    assert set(dict(tensors_in(graph, skip=skipped))) == {"view", "array"}
