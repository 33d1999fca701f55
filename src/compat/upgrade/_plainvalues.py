"""Making recovered legacy values storable in the v1 files, with nothing executable left.

Legacy metadata goes to the YAML sidecar (plain data only) and trainer state to a file
``torch.load(weights_only=True)`` must read back. Values that fit neither (numpy arrays
in metadata, inert views of unknown objects, devices) are kept in the closest plain form.
Nesting is bounded by the engine's plain-data views (``_plaindata.MAX_DEPTH``), and a sidecar
keeps at most ``MAX_SIDECAR_DEPTH`` levels: deeper metadata fails the conversion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import numpy as np
import torch

from checkpoint._sidecar import MAX_SIDECAR_DEPTH

#: Arrays up to this many elements are kept in metadata as lists; larger ones are summarised.
MAX_LISTED_ELEMENTS = 256

_WEIGHTS_ONLY_SCALARS = (str, int, float, bool, type(None), torch.Size, torch.dtype, torch.device)

Array: TypeAlias = torch.Tensor | np.ndarray


def _array_as_data(array: Array) -> object:
    shape = tuple(array.shape)
    if not shape:
        return array.item()
    # empty dimensions still make nested lists: a (2**40, 0) array lists 2**40 of them
    if math.prod(max(size, 1) for size in shape) <= MAX_LISTED_ELEMENTS:
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


def yaml_plain(*values: object) -> tuple[object, ...]:
    """``values`` as YAML plain data: mappings with string keys, lists and scalars.

    Every occurrence is written out (a sidecar has no aliases), so a graph that shares one
    part many times would grow without bound: past ``MAX_SIDECAR_VALUES`` values in all,
    raises ``ValueError`` saying so (nothing is cut: a sidecar keeps all of it or fails).
    """
    view = _YamlView()
    return tuple(view.view(value) for value in values)


#: The most plain values one sidecar's metrics and legacy metadata hold together.
MAX_SIDECAR_VALUES = 100_000
#: How deep the metrics and the legacy metadata sit in a sidecar (root, then their key).
_TOP_DEPTH = 2


class _YamlView:
    def __init__(self) -> None:
        self.left = MAX_SIDECAR_VALUES

    def view(self, value: object, depth: int = _TOP_DEPTH) -> object:
        self.left -= 1
        if self.left < 0:
            raise ValueError(
                f"its metadata holds more than {MAX_SIDECAR_VALUES} plain values (a part "
                "shared through the pickle's memo counts each time it occurs), more than a "
                "sidecar keeps"
            )
        if isinstance(value, np.ndarray) and value.dtype == object:
            value = value.tolist()
        if (
            isinstance(value, Mapping | list | tuple | set | frozenset)
            and depth > MAX_SIDECAR_DEPTH
        ):
            raise ValueError(
                f"its metadata is nested more than {MAX_SIDECAR_DEPTH} levels deep, more than "
                "a sidecar keeps"
            )
        if isinstance(value, Mapping):
            return {str(key): self.view(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.view(item, depth + 1) for item in value]
        return _yaml_leaf(value)


def weights_only_plain(value: object) -> object:
    """``value`` as what ``torch.load(weights_only=True)`` reads: tensors in plain containers.

    A part shared in ``value`` stays one object (``torch.save`` writes it once).
    """
    return _WeightsOnlyView().view(value)


class _WeightsOnlyView:
    def __init__(self) -> None:
        self._done: dict[int, object] = {}

    def view(self, value: object) -> object:
        if isinstance(value, np.generic):
            value = value.item()
        if type(value) in _WEIGHTS_ONLY_SCALARS or isinstance(value, torch.Tensor):
            return value
        if id(value) in self._done:
            return self._done[id(value)]
        result = self._convert(value)
        self._done[id(value)] = result
        return result

    def _convert(self, value: object) -> object:
        if isinstance(value, np.ndarray) and value.dtype != object:
            return torch.from_numpy(np.ascontiguousarray(value).copy())
        if isinstance(value, Mapping):
            return {
                (key if type(key) in (str, int) else str(key)): self.view(item)
                for key, item in value.items()
            }
        if isinstance(value, tuple):
            return tuple(self.view(item) for item in value)
        if isinstance(value, list | set | frozenset | np.ndarray):
            return [self.view(item) for item in value]
        return yaml_plain(value)
