"""Bit-for-bit comparison of what was recovered with what a conversion wrote.

Tensors are equal when dtype, shape and every byte agree (so NaN payloads and -0.0 count);
containers when their keys or lengths and every item agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch


def _raw(tensor: torch.Tensor) -> torch.Tensor:
    """The elements as bytes, row-major; copied only when the layout needs it (a stride-0
    or strided view cannot be reinterpreted as bytes in place)."""
    flat = tensor.detach().reshape(-1)
    if flat.stride(0) != 1:
        flat = torch.empty(flat.shape, dtype=flat.dtype).copy_(flat)
    return flat.view(torch.uint8)


def same_tensor(left: torch.Tensor, right: torch.Tensor) -> bool:
    if left.dtype != right.dtype or left.shape != right.shape:
        return False
    return torch.equal(_raw(left), _raw(right))


def _pairs(expected: object, actual: object) -> list[tuple[str, object, object]] | None:
    """The items to compare below two containers, or ``None`` if their shapes differ."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping) or list(expected) != list(actual):
            return None
        return [(f".{key}", expected[key], actual[key]) for key in expected]
    assert isinstance(expected, list | tuple)
    if not isinstance(actual, list | tuple) or len(expected) != len(actual):
        return None
    return [
        (f"[{i}]", left, right)
        for i, (left, right) in enumerate(zip(expected, actual, strict=True))
    ]


def _both_nan(expected: object, actual: object) -> bool:
    return (
        isinstance(expected, float)
        and isinstance(actual, float)
        and math.isnan(expected)
        and math.isnan(actual)
    )


def differences(expected: object, actual: object, where: str = "") -> list[str]:
    """Where ``actual`` differs from ``expected``, as readable paths (empty: identical).

    A pair of objects met again (a part shared on both sides) is compared once.
    """
    return _differences(expected, actual, where, set())


def _differences(
    expected: object, actual: object, where: str, seen: set[tuple[int, int]]
) -> list[str]:
    here = where.lstrip(".") or "<root>"
    if isinstance(expected, torch.Tensor):
        same = isinstance(actual, torch.Tensor) and same_tensor(expected, actual)
        return [] if same else [f"{here}: tensor differs"]
    if isinstance(expected, Mapping | list | tuple):
        if (id(expected), id(actual)) in seen:
            return []
        seen.add((id(expected), id(actual)))
        pairs = _pairs(expected, actual)
        if pairs is None:
            return [f"{here}: keys or length differ"]
        return [
            found
            for suffix, left, right in pairs
            for found in _differences(left, right, f"{where}{suffix}", seen)
        ]
    if expected == actual or _both_nan(expected, actual):
        return []
    return [f"{here}: {actual!r} != {expected!r}"]
