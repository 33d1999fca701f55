"""The committed old-torch corpus is intact and its ground truth is self-consistent.

The safe loading engine is tested against this corpus; these checks make sure
a damaged or hand-edited fixture fails loudly here rather than misleading those
tests. Only the *truth* files are loaded (weights-only); the checkpoints
themselves are never unpickled here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from digest import state_dict_digest

CORPUS = Path(__file__).parent / "fixtures" / "legacy"
MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text())
TRUTHS = sorted(CORPUS.glob("torch-*/*.truth.json"))


@pytest.mark.parametrize("relative", sorted(MANIFEST["files"]))
def test_manifest_matches_files(relative: str) -> None:
    entry = MANIFEST["files"][relative]
    data = (CORPUS / relative).read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"])


def test_corpus_covers_required_versions_and_formats() -> None:
    versions = {path.parent.name for path in TRUTHS}
    assert {"torch-1.13.1", "torch-2.0.1"} <= versions
    formats = {json.loads(path.read_text())["format"] for path in TRUTHS}
    assert formats == {"zip", "legacy"}


@pytest.mark.parametrize("truth_json", TRUTHS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_truth_loads_weights_only_and_matches_its_json(truth_json: Path) -> None:
    expected = json.loads(truth_json.read_text())["state_dict"]
    truth = torch.load(truth_json.with_suffix(".pt"), weights_only=True)
    state = truth["state_dict"]
    assert list(state) == expected["keys"]
    assert {key: str(t.dtype) for key, t in state.items()} == expected["dtypes"]
    assert state_dict_digest(state) == expected["sha256"]
