"""Making recovered legacy values storable in the v1 files, with nothing executable left.

Legacy metadata goes to the YAML sidecar (plain data only) and trainer state to a file
``torch.load(weights_only=True)`` must read back. Values that fit neither (numpy arrays
in metadata, inert views of unknown objects, devices) are kept in the closest plain form.
Nesting is already bounded by the engine's plain-data views (``_plaindata.MAX_DEPTH``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import numpy as np
import torch

#: Arrays up to this many elements are kept in metadata as lists; larger ones are summarised.
MAX_LISTED_ELEMENTS = 256

_WEIGHTS_ONLY_SCALARS = (str, int, float, bool, type(None), torch.Size, torch.dtype, torch.device)

Array: TypeAlias = torch.Tensor | np.ndarray


def _array_as_data(array: Array) -> object:
    shape = tuple(array.shape)
    if not shape:
        return array.item()
    if math.prod(shape) <= MAX_LISTED_ELEMENTS:
        return array.tolist()
    return f"<{type(array).__name__} of {array.dtype}, shape {tuple(array.shape)}: not kept>"


#: Leaf type -> its YAML form, first match wins; scalar subclasses (IntEnum...) lose the subclass.
_YAML_LEAVES: tuple[tuple[type | tuple[type, ...], Callable[[Any], object]], ...] = (
    (type(None), lambda _: None),
    (bool, bool),
    (int, int),
    (float, float),
    (str, str),
    (np.generic, lambda value: value.item()),
    ((torch.Tensor, np.ndarray), _array_as_data),
    ((bytes, bytearray), lambda value: f"<{len(value)} bytes>"),
    ((torch.device, torch.dtype), str),
)


def _yaml_leaf(value: object) -> object:
    for kinds, as_data in _YAML_LEAVES:
        if isinstance(value, kinds):
            return as_data(value)
    return f"<{type(value).__module__}.{type(value).__qualname__}>"  # no id(): reproducible


def yaml_plain(value: object) -> object:
    """``value`` as YAML plain data: mappings with string keys, lists and scalars."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(key): yaml_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [yaml_plain(item) for item in value]
    return _yaml_leaf(value)


def weights_only_plain(value: object) -> object:
    """``value`` as what ``torch.load(weights_only=True)`` reads: tensors in plain containers."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray) and value.dtype != object:
        value = torch.from_numpy(np.ascontiguousarray(value).copy())
    if type(value) in _WEIGHTS_ONLY_SCALARS or isinstance(value, torch.Tensor):
        return value
    if isinstance(value, Mapping):
        return {
            (key if type(key) in (str, int) else str(key)): weights_only_plain(item)
            for key, item in value.items()
        }
    if isinstance(value, tuple):
        return tuple(weights_only_plain(item) for item in value)
    if isinstance(value, list | set | frozenset | np.ndarray):
        return [weights_only_plain(item) for item in value]
    return yaml_plain(value)
