"""The state_dict digest rule of shared/fixtures/metta/MANIFEST.json, shared by the tests."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

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
