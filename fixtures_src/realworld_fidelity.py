"""The README's fidelity table: what stock torch.load and compat.load recover of the corpus.

    .venv/bin/python fixtures_src/realworld_fidelity.py            # Markdown, to stdout

Run with the project's venv, where none of the libraries that wrote the corpus is installed.
The two ``torch.load`` columns come from ``tests/fixtures/realworld/baseline.json``
(``realworld_baseline.py``, which compares at the truth's paths). The ``compat.load`` column
is measured here, by content, because conversion moves things to new paths: a category is
``full`` when every tensor the writer recorded in it (dtype, shape and sha256 of the bytes)
is among the tensors ``compat.load`` returns, every plain value (a StepLR's counters, an
optimizer's ``lr``) is among its plain values under the same final key, every Python RNG
state is among them by the writer's digest rule and every numpy generator by its state;
``partial`` or ``none`` otherwise, ``n/a`` when the writer recorded nothing in it.

Metadata is not a column: the writer recorded an enum by its value or as ``{"enum": ...}``
and a config as ``{"omegaconf": ...}``, while the file (and so ``compat.load``) has the
member's name and the config's content. The corpus tests check those directly.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

import compat
from compat.engine._inventory import tensors_in

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "realworld"
CATEGORIES = ("weights", "optimizer", "scheduler", "rng")
SHORT = {"full": "✓", "partial": "partial", "none": "✗", "n/a": "\N{EN DASH}", "error": "error"}


def _identity(value: torch.Tensor | np.ndarray) -> tuple[str, tuple[int, ...], str]:
    if isinstance(value, np.ndarray):
        raw = np.ascontiguousarray(value).tobytes()
        return str(value.dtype), tuple(value.shape), hashlib.sha256(raw).hexdigest()
    dense = torch.empty(value.shape, dtype=value.dtype).copy_(value.detach()).reshape(-1)
    digest = hashlib.sha256(dense.view(torch.uint8).numpy().tobytes()).hexdigest()
    return str(value.dtype).removeprefix("torch."), tuple(value.shape), digest


def _last_key(path: str) -> str:
    """``"lr_schedulers[0].base_lrs[0]"`` -> ``"base_lrs"``: conversion moves the rest."""
    return re.sub(r"(\[\d+\])+$", "", path).rsplit(".", 1)[-1]


def _plain_leaves(value: object, path: str = "") -> Iterator[tuple[str, object]]:
    """(path, value) of every plain leaf, in the truth's path spelling."""
    if isinstance(value, dict):
        if not value or "bit_generator" in value:
            yield path, value  # whole, for a numpy generator's state
        for key, item in value.items():
            yield from _plain_leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        if all(
            isinstance(item, (bool, int, float, str, list, tuple)) or item is None for item in value
        ):
            yield path, value  # whole, for a Python RNG state
        for index, item in enumerate(value):
            yield from _plain_leaves(item, f"{path}[{index}]")
    elif value is None or isinstance(value, (bool, int, float, str)):
        yield path, value


def _python_random_digest(value: object) -> str | None:
    if not (isinstance(value, (list, tuple)) and len(value) == 3):
        return None
    version, state, gauss = value
    if not (isinstance(state, (list, tuple)) and len(state) == 625):
        return None
    text = json.dumps([version, list(state), gauss], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _documents(truth: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(member name, truth) of each file: a bundle's members, or the one file as ``""``."""
    return list(truth["files"].items()) if "files" in truth else [("", truth)]


def compat_column(source: Path, truth: dict[str, Any]) -> dict[str, str]:
    try:
        result = compat.load(source)
    except Exception as exc:  # the table reports it
        return dict.fromkeys(CATEGORIES, f"error: {type(exc).__name__}")
    everything = (result.state_dict, result.trainer_state, result.metadata)
    found: set[object] = {_identity(t) for _, t in tensors_in(everything)}
    for path, value in _plain_leaves([result.trainer_state, result.metadata]):
        found.add(("value", _last_key(path), json.dumps(value)))
        found.add(("python_random", _python_random_digest(value)))
        if isinstance(value, dict) and "bit_generator" in value:
            found.add(("numpy_generator", json.dumps(value, sort_keys=True)))
    column = {}
    for category in CATEGORIES:
        wanted: list[object] = []
        for member, document in _documents(truth):
            wanted += [
                (str(e["dtype"]).removeprefix("torch."), tuple(e["shape"]), e["sha256"])
                for e in document.get("tensors", [])
                if e["category"] == category
            ]
            categories = document.get("leaf_categories", {})
            wanted += [
                ("value", _last_key(path) or Path(member).stem, json.dumps(value))
                for path, value in document.get("leaves", {}).items()
                if categories.get(path) == category
            ]
            wanted += [
                ("numpy_generator", json.dumps(e["state"], sort_keys=True))
                for e in document.get("numpy_generators", [])
                if e["category"] == category
            ]
            wanted += [
                ("python_random", e["sha256"])
                for e in document.get("python_random_states", [])
                if e["category"] == category
            ]
        hits = sum(entry in found for entry in wanted)
        column[category] = (
            "n/a"
            if not wanted
            else "full"
            if hits == len(wanted)
            else "partial"
            if hits
            else "none"
        )
    return column


def torch_column(baseline: dict[str, object], key: str) -> dict[str, str]:
    """A baseline entry's statuses (for a folder or archive: its members' worst)."""
    members = [baseline] if key in baseline else list(baseline.values())
    column = {}
    for category in CATEGORIES:
        statuses = []
        for member in members:
            entry = member.get(key, {}) if isinstance(member, dict) else {}
            value = entry.get(category, {}) if isinstance(entry, dict) else {}
            statuses.append(value.get("status", "error") if isinstance(value, dict) else "error")
        relevant = [status for status in statuses if status != "n/a"] or ["n/a"]
        order = ("error", "none", "partial", "full", "n/a")
        column[category] = min(relevant, key=order.index)
    return column


def table() -> str:
    """The Markdown table, one row per file or folder with ground truth."""
    baseline = json.loads((CORPUS / "baseline.json").read_text())["results"]
    rows = ["| checkpoint | " + " | ".join(CATEGORIES) + " |", "|---|" + "---|" * len(CATEGORIES)]
    for truth_path in sorted(CORPUS.rglob("*.truth.json")):
        source = truth_path.with_name(truth_path.name.removesuffix(".truth.json"))
        name = str(source.relative_to(CORPUS))
        truth = json.loads(truth_path.read_text())
        columns = [compat_column(source, truth)]
        entry = baseline.get(name)
        if isinstance(entry, dict):
            columns = [
                torch_column(entry, "weights_only=True"),
                torch_column(entry, "weights_only=False"),
                columns[0],
            ]
        cells = [
            " / ".join(SHORT.get(column[c].split(":")[0], column[c]) for column in columns)
            for c in CATEGORIES
        ]
        rows.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def main() -> int:
    print(table(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
