"""The draft a converter chain starts from: what the safe engine recovered, as plain data.

Legacy files start at ``(<detected format>, "0")``; a v1 checkpoint starts at the chain's
end, ``("v1", "1")``, with its sidecar's figures, so converting it again changes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections import OrderedDict
from pathlib import Path

import torch

from checkpoint import ConvertedFrom
from checkpoint._naming import parse_legacy_name
from compat.engine._containers import Format
from compat.engine._safe import LoadResult

#: The engine's ``Kind`` -> the format name converters are keyed by.
_FORMAT_OF_KIND = {"record": "policy_record", "module": "agent"}
_FIGURES = ("epoch", "agent_step", "total_time", "score")


def sha256_of(path: Path) -> str:
    """The sha256 of a file; of a checkpoint directory, over each visible regular file's
    name and sha256 in name order, so a copy of the directory has the same digest."""
    if not path.is_dir():
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    digest = hashlib.sha256()
    with os.scandir(path) as entries:
        files = sorted(
            entry.name
            for entry in entries
            if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False)
        )
    for name in files:
        digest.update(f"{name}\0{sha256_of(path / name)}\n".encode())
    return digest.hexdigest()


#: A top-level key that names the library that wrote a raw dict -> the format it is.
_WRITERS = {"pytorch-lightning_version": "lightning"}


def detected_format(result: LoadResult) -> str:
    if result.source_format is Format.V1:
        return "v1"
    if result.layout is not None:
        return result.layout
    kind = str(result.kind)
    if kind == "raw_dict":
        kind = next((fmt for key, fmt in _WRITERS.items() if key in result.metadata), kind)
    return _FORMAT_OF_KIND.get(kind, kind)


def _weights(result: LoadResult) -> OrderedDict[str, torch.Tensor]:
    return OrderedDict((key, tensor.detach()) for key, tensor in result.state_dict.items())


def initial_draft(result: LoadResult) -> dict[str, object]:
    """The chain's input for ``result``; see ``compat.Converter`` for its keys."""
    if result.source_format is Format.V1:
        sidecar = result.metadata
        return {
            "format": "v1",
            "version": "1",
            "state_dict": _weights(result),
            "figures": {key: sidecar.get(key) for key in _FIGURES},
            "metrics": sidecar.get("metrics") or {},
            "legacy_metadata": sidecar.get("legacy_metadata"),
            "trainer_state": None,
        }
    name = parse_legacy_name(result.path.name)
    return {
        "format": detected_format(result),
        "version": "0",
        "state_dict": _weights(result),
        "metadata": dict(result.metadata),
        "trainer_state": result.trainer_state,
        "file_name": dataclasses.asdict(name) if name is not None else None,
        "legacy_classes": list(result.legacy_classes),
    }


def provenance(
    result: LoadResult, sha256: str, migrations: list[str], *, label: str | None = None
) -> ConvertedFrom:
    """Where a conversion's output came from (``label``: the URL of a staged copy); a v1
    source passes its own provenance on."""
    earlier = result.metadata.get("converted_from") if result.source_format is Format.V1 else None
    if earlier is not None:
        return ConvertedFrom.model_validate(earlier)
    return ConvertedFrom(
        path=label or str(result.path.resolve()),
        sha256=sha256,
        format=f"{detected_format(result)}/{result.source_format}",
        legacy_classes=sorted(result.legacy_classes),
        migrations=migrations,
    )
