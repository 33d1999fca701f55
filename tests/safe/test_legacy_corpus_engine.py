"""The inert engine matches the ground truth of checkpoints written by real old torch releases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safe_paths import CORPUS

import compat.engine._safe as safe
from compat.engine._placeholder import Placeholder, attributes
from compat.engine._plaindata import plain
from digest import as_resolved, flatten_optimizer_state, state_dict_digest

TRUTHS = sorted(CORPUS.glob("torch-*/*.truth.json"))
_OPTIMIZER_KINDS = {"optimizer", "trainer_state", "trainer_state_object"}


def _truth(truth_json: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    return json.loads(truth_json.read_text()), torch.load(
        truth_json.with_suffix(".pt"), weights_only=True
    )


def _bits(tensor: torch.Tensor) -> bytes:
    dense = torch.empty(tensor.shape, dtype=tensor.dtype).copy_(tensor).reshape(-1)
    return dense.view(torch.uint8).numpy().tobytes()


def _assert_same(actual: object, expected: object) -> None:
    """Equal as data, tensors compared bit for bit (with dtype, shape and stride)."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor)
        assert (actual.dtype, actual.shape, actual.stride()) == (
            expected.dtype,
            expected.shape,
            expected.stride(),
        )
        assert actual.storage_offset() == expected.storage_offset()
        assert _bits(actual) == _bits(expected)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict)
        assert list(actual) == list(expected)
        for key, value in expected.items():
            _assert_same(actual[key], value)
    elif isinstance(expected, list | tuple):
        assert isinstance(actual, list | tuple)
        assert len(actual) == len(expected)
        for left, right in zip(actual, expected, strict=True):
            _assert_same(left, right)
    else:
        assert actual == expected


@pytest.mark.parametrize("truth_json", TRUTHS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_engine_matches_ground_truth(truth_json: Path) -> None:
    meta, truth = _truth(truth_json)
    result = safe.load(truth_json.parent / meta["file"])
    assert result.source_format == ("torch-zip" if meta["format"] == "zip" else "torch-legacy")
    assert set(meta["legacy_classes"]) <= set(result.legacy_classes)
    if meta["kind"] in _OPTIMIZER_KINDS:
        assert result.trainer_state is not None
        optimizer = result.trainer_state["optimizer"]
        _assert_same(optimizer, truth["optimizer_state_dict"])
        state = flatten_optimizer_state(optimizer)
    else:
        state = result.state_dict
        _assert_same(state, truth["state_dict"])
        for group in meta["state_dict"]["shared_storage_groups"]:
            pointers = {state[key].untyped_storage().data_ptr() for key in group}
            assert len(pointers) == 1, group
    assert list(state) == meta["state_dict"]["keys"]
    assert state_dict_digest(state) == meta["state_dict"]["sha256"]
    if "metadata" in truth:
        _assert_same(result.metadata, truth["metadata"])
    if "object" in truth:
        _assert_same(result.metadata, truth["object"])
    if meta["kind"] == "state_dict":
        _assert_same(getattr(result.root, "_metadata", None), truth["state_dict_metadata"])
    if "agent_attributes" in truth:
        _assert_agent_attributes(result.root, meta, truth)


def _assert_agent_attributes(root: object, meta: dict[str, Any], truth: dict[str, Any]) -> None:
    """The agent's plain attributes, and the record's own fields, survive as inert data."""
    assert isinstance(root, Placeholder)
    agent = attributes(root)["_cached_policy"] if meta["kind"] == "record" else root
    assert isinstance(agent, Placeholder)
    assert agent.qualified_name() == truth["agent_class"]
    view = plain(attributes(agent))
    assert isinstance(view, dict)
    _assert_same(view["config"], truth["agent_attributes"]["config"])
    # a numpy array on the agent; the truth file holds it as a tensor
    _assert_same(torch.from_numpy(view["obs_scale"]), truth["agent_attributes"]["obs_scale"])
    if meta["kind"] == "record":
        record = attributes(root)
        assert (record["run_name"], record["uri"]) == (truth["run_name"], truth["uri"])
        metadata = record["metadata"]
        assert isinstance(metadata, Placeholder)
        assert metadata.qualified_name() == truth["metadata_class"]


@pytest.mark.parametrize("truth_json", TRUTHS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_inspect_matches_the_static_scan_of_the_generator(truth_json: Path) -> None:
    meta = json.loads(truth_json.read_text())
    report = safe.inspect(truth_json.parent / meta["file"])
    assert {info.name for info in report.globals} == as_resolved(meta["pickle_globals"])
    assert report.protocol == 2
    assert report.verdict in (safe.Verdict.WEIGHTS_ONLY, safe.Verdict.INERT)
    if meta["format"] == "legacy":
        assert any("legacy stream" in hint for hint in report.torch_version_hints)
    elif meta["torch_version"].startswith(("1.", "2.0")):
        assert any("1.6-2.0" in hint for hint in report.torch_version_hints)


def test_tied_weights_stay_one_tensor() -> None:
    result = safe.load(CORPUS / "torch-2.0.1" / "record_legacy.pt")
    tied = result.state_dict["action_embeds.weight"], result.state_dict["actor.weight"]
    assert tied[0].untyped_storage().data_ptr() == tied[1].untyped_storage().data_ptr()
    assert "scratch" not in result.state_dict
