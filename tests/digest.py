"""How tests compare with ground truth: the MANIFEST digest rule and the corpus layouts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import torch


def state_dict_digest(state: Mapping[str, torch.Tensor]) -> str:
    """The digest rule of shared/fixtures/metta/MANIFEST.json."""
    digest = hashlib.sha256()
    for key, tensor in state.items():
        digest.update(key.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(str(tuple(tensor.shape)).encode())
        dense = torch.empty(tensor.shape, dtype=tensor.dtype).copy_(tensor).reshape(-1)
        digest.update(dense.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def flatten_optimizer_state(optimizer: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """An optimizer state_dict in the legacy corpus truth files' layout: ``state.<i>.<name>``."""
    return {
        f"state.{index}.{name}": value
        for index, entry in optimizer["state"].items()
        for name, value in entry.items()
        if isinstance(value, torch.Tensor)
    }


def as_resolved(names: Iterable[str]) -> set[str]:
    """Globals as written in a file (``__builtin__.set``, what ``pickletools`` shows), named
    as the engine reports them: resolved as the unpickler resolves them (``builtins.set``)."""
    from checkpoint._picklenames import resolve_global

    return {resolve_global(*name.rsplit(".", 1)) for name in names}
