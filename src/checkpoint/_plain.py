"""Checks that what goes into a v1 file is plain data, before anything is written.

A v1 file must load with ``torch.load(weights_only=True)`` and a sidecar with
``yaml.safe_load``; rejecting other values at save time names the offending
key instead of failing some later, unrelated reader.
"""

from __future__ import annotations

import functools
import io
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch

from .errors import InvalidStateError

_SCALARS = (str, int, float, bool, type(None))


@functools.cache
def torch_can_save(dtype: torch.dtype) -> bool:
    """Whether the running torch's own ``torch.save`` writes ``dtype``.

    uint16/32/64 exist from torch 2.3, but the ``torch.save`` of 2.3 to 2.5 fails on them
    with a bare ``KeyError: dtype torch.uint16 is not recognized``.
    """
    try:
        torch.save(torch.empty(0, dtype=dtype), io.BytesIO())
    except (KeyError, RuntimeError, TypeError):
        return False
    return True


def _require_savable(tensor: torch.Tensor, where: str) -> None:
    if not torch_can_save(tensor.dtype):
        raise InvalidStateError(
            f"{where} is a {tensor.dtype} tensor, which torch {torch.__version__} cannot "
            "save; cast it to a wider signed type (e.g. .to(torch.int64)) or save with a "
            "newer torch"
        )


def require_tensors(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """A state_dict whose every value is a tensor torch can save, keyed by strings."""
    if not isinstance(state, Mapping):
        raise InvalidStateError(
            f"expected an nn.Module or a mapping of name -> tensor, got {type(state).__name__}"
        )
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise InvalidStateError(
                f"state_dict entry {key!r} is a {type(value).__name__}, not a tensor; "
                "v1 weights hold tensors only: move other values to metadata or trainer state"
            )
        _require_savable(value, f"state_dict entry {key!r}")
    return dict(state)


def plain_data(value: Any, where: str) -> Any:
    """``value`` as YAML-safe plain data; 0-d tensors and numpy scalars become numbers."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidStateError(f"{where} has a non-string key {key!r}; use strings")
            result[key] = plain_data(item, f"{where}[{key!r}]")
        return result
    if isinstance(value, list | tuple):
        return [plain_data(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if getattr(value, "shape", None) in ((), torch.Size([])) and callable(
        getattr(value, "item", None)
    ):
        return plain_data(value.item(), where)
    raise InvalidStateError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}; "
        "sidecars hold plain data only (numbers, strings, booleans, lists, mappings)"
    )


_WEIGHTS_ONLY_LEAVES = (str, int, float, bool, type(None), torch.Size, torch.dtype, torch.device)
_WEIGHTS_ONLY_CONTAINERS = (list, tuple, set)


def require_weights_only_storable(value: Any, where: str = "trainer state") -> None:
    """Raise unless ``torch.load(weights_only=True)`` could read ``value`` back.

    Exact types are required: subclasses (enums, namedtuples, dict subclasses)
    are globals the weights-only unpickler refuses.
    """
    if isinstance(value, torch.Tensor):
        _require_savable(value, where)
        return
    if type(value) in _WEIGHTS_ONLY_LEAVES:
        return
    if type(value) in (dict, OrderedDict):
        for key, item in value.items():
            require_weights_only_storable(key, f"{where} key")
            require_weights_only_storable(item, f"{where}[{key!r}]")
        return
    if type(value) in _WEIGHTS_ONLY_CONTAINERS:
        for index, item in enumerate(value):
            require_weights_only_storable(item, f"{where}[{index}]")
        return
    raise InvalidStateError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which "
        "torch.load(weights_only=True) refuses; store tensors, numbers, strings "
        "and plain containers of those (e.g. call .state_dict() on objects)"
    )
