"""The Metta format fixtures (tests/fixtures/metta_formats) and their ground truth.

Every checkpoint there has a ``<name>.truth.json`` that ``fixtures_src/make_metta_formats.py``
wrote when it made the file, with the classes and libraries Metta used; tests compare what
the engine recovers with those files, never with values the code under test computed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

FORMATS = Path(__file__).resolve().parents[1] / "fixtures" / "metta_formats"

#: truth ``format`` -> the layout that reads it (``None``: a single torch file).
LAYOUT_OF_FORMAT: dict[str, str | None] = {
    "metta_epoch_names_pt": None,
    "metta_colon_v_pt": None,
    "metta_mpt_safetensors": "metta_mpt",
    "metta_mpt_pickled": "metta_mpt_pickled",
    "metta_bundle_dir": "metta_bundle",
    "metta_bundle_zip": "metta_bundle",
}
SAFETENSORS_FORMATS = frozenset({"metta_mpt_safetensors", "metta_bundle_dir", "metta_bundle_zip"})


def load_truth(path: Path) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads(path.read_text())
    return truth


def checkpoint_truths() -> dict[str, dict[str, Any]]:
    """``relative checkpoint path -> truth`` for every checkpoint (file, directory or zip)."""
    found = {}
    for path in sorted(FORMATS.rglob("*.truth.json")):
        if path.name != "trainer_state.truth.json":
            truth = load_truth(path)
            found[truth["file"]] = truth
    return found


def trainer_truths() -> dict[str, dict[str, Any]]:
    """``relative trainer_state.pt path -> truth``."""
    return {
        str(path.relative_to(FORMATS).with_name("trainer_state.pt")): load_truth(path)
        for path in sorted(FORMATS.rglob("trainer_state.truth.json"))
    }


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    dense = torch.empty(tensor.shape, dtype=tensor.dtype).copy_(tensor.detach())
    return bytes(dense.reshape(-1).view(torch.uint8).numpy().tobytes())


def tensor_info(tensor: torch.Tensor) -> dict[str, Any]:
    """A tensor as the truth files describe it: dtype, shape, sha256 of its bytes."""
    return {
        "dtype": str(tensor.dtype),
        "shape": list(tensor.shape),
        "sha256": hashlib.sha256(tensor_bytes(tensor)).hexdigest(),
    }


def walk_tensors(obj: object, path: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """``(dotted path, tensor)`` through nested mappings and sequences, as the truth names
    them (``optimizer.state.0.exp_avg``)."""
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from walk_tensors(value, f"{path}.{key}" if path else str(key))
    elif isinstance(obj, list | tuple):
        for index, value in enumerate(obj):
            yield from walk_tensors(value, f"{path}.{index}" if path else str(index))


def expected_order(truth: Mapping[str, Any]) -> tuple[list[str], str]:
    """The keys in the order a reader of the file gets them, and the digest in that order:
    the agent's ``state_dict()`` order for pickles; safetensors sorts names in its header."""
    if truth["format"] in SAFETENSORS_FORMATS:
        safetensors = truth["safetensors"]
        return list(safetensors["header_key_order"]), str(safetensors["sha256_in_header_order"])
    return list(truth["state_dict"]["keys"]), str(truth["state_dict"]["sha256"])


def trainer_file_tensors(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A v1 trainer file's tensors, named as in the source's trainer truth: the optimizer
    keeps its path, everything else was the source's top level (now under ``extra``)."""
    found = {path: tensor_info(t) for path, t in walk_tensors(state.get("optimizer"), "optimizer")}
    extra = {k: v for k, v in state["extra"].items() if k != "converted_from"}
    found.update((path, tensor_info(t)) for path, t in walk_tensors(extra))
    return found


def truth_tensors(trainer_truth: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        entry["path"]: {key: entry[key] for key in ("dtype", "shape", "sha256")}
        for entry in trainer_truth["tensors"]
    }
