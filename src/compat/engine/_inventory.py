"""Every tensor of an object graph, each once, with a path to it.

A conversion that reports success has lost nothing (SPEC §8, rule 3): every tensor the
source's graph holds must land in the v1 output. This module finds them all: it walks the
graph (containers, inert objects, attribute references, real objects' ``__dict__``) once
per object, so shared parts cost nothing twice, and names each tensor by a path. A tensor
is identified by the memory it views, so a ``detach()`` or a state_dict entry counts as
the tensor it came from.
"""

from __future__ import annotations

from collections.abc import Iterator, Set
from typing import Any

import numpy as np
import torch

from compat.engine._placeholder import AttributeRef, Placeholder, attributes

__all__ = ["TensorKey", "tensor_key", "tensor_keys", "tensors_in"]

TensorKey = tuple[Any, ...]
Array = torch.Tensor | np.ndarray


def tensor_key(value: Array) -> TensorKey:
    """What a tensor views: the same for a tensor, its ``detach()`` and a state_dict entry."""
    if isinstance(value, np.ndarray):
        return ("ndarray", id(value))
    return (
        value.untyped_storage().data_ptr(),
        value.storage_offset(),
        tuple(value.shape),
        value.stride(),
        value.dtype,
    )


#: Values that hold nothing: never queued.
_LEAVES = (str, bytes, int, float, bool, type(None))
_PLAIN_KEYS = (str, int, float, bool, type(None))

#: How a child is reached, spelled only when a tensor's path is asked for:
#: ``(template, name, position)``; a dict key that is not plain is named by its position.
Step = tuple[str, object, int]
_NO_NAME = "<key {}>"


def _spell(step: Step) -> str:
    template, name, position = step
    if not isinstance(name, _PLAIN_KEYS):
        name = _NO_NAME.format(position)
    return template.format(name)


def _children(obj: object) -> list[tuple[Step, object]]:
    """``(step, child)`` of each child of ``obj`` that may hold a tensor (no scalars)."""
    if isinstance(obj, dict):
        found = _named(".{}", obj)
        extra = getattr(obj, "__dict__", None)  # an OrderedDict's BUILD attributes
        return found + _named(".{}", extra) if isinstance(extra, dict) and extra else found
    if isinstance(obj, (list, tuple)):
        return [(("[{}]", i, i), item) for i, item in enumerate(obj) if not _leaf(item)]
    if isinstance(obj, (set, frozenset)):
        return [(("[*]", "", 0), item) for item in obj if not _leaf(item)]
    return _object_children(obj)


def _object_children(obj: object) -> list[tuple[Step, object]]:
    found: list[tuple[Step, object]] = []
    if isinstance(obj, Placeholder):
        found += [(("({})", i, i), value) for i, value in enumerate(obj.args)]
        found += _named("({}=)", obj.kwargs)
        found += _named(".{}", attributes(obj))
        if not isinstance(obj.state, (dict, tuple)):
            found.append(((".<state>", "", 0), obj.state))
        found += _named("[{}]", obj.items)
        found += [(("[{}]", i, i), value) for i, value in enumerate(obj.listitems)]
    elif isinstance(obj, AttributeRef):
        found.append(((".<owner>", "", 0), obj.owner))
    elif isinstance(obj, np.ndarray) and obj.dtype == object:
        found += [(("[{}]", i, i), value) for i, value in enumerate(obj.ravel().tolist())]
    elif not isinstance(obj, type):
        state = getattr(obj, "__dict__", None)  # a real object (trust=True, a renamed class)
        if isinstance(state, dict):
            found += _named(".{}", state)
    return [(step, child) for step, child in found if not _leaf(child)]


def _named(template: str, mapping: dict[Any, object]) -> list[tuple[Step, object]]:
    return [
        ((template, name, i), value)
        for i, (name, value) in enumerate(mapping.items())
        if not isinstance(value, _LEAVES)
    ]


def _leaf(value: object) -> bool:
    return isinstance(value, _LEAVES)


def tensors_in(root: object, skip: Set[TensorKey] = frozenset()) -> Iterator[tuple[str, Array]]:
    """``(path, tensor)`` for every tensor and numeric numpy array reachable from ``root``,
    each once (by identity), breadth-first, so the path given is a shortest one; those whose
    :func:`tensor_key` is in ``skip`` are passed over.

    A conversion walks the whole source graph, so the walk queues no scalar and spells a
    path only for the tensors it yields."""
    for links, index, tensor in _walk(root):
        if not skip or tensor_key(tensor) not in skip:
            yield _path(links, index), tensor


def tensor_keys(root: object) -> set[TensorKey]:
    """The :func:`tensor_key` of every tensor reachable from ``root`` (no path spelled)."""
    return {tensor_key(tensor) for _, _, tensor in _walk(root)}


def _walk(root: object) -> Iterator[tuple[list[tuple[int, Step]], int, Array]]:
    """``(links, index, tensor)`` for each tensor: ``_path(links, index)`` spells its path."""
    seen: set[int] = set()
    nodes: list[object] = [root]
    links: list[tuple[int, Step]] = [(-1, ("", "", 0))]  # (parent's index, step from it)
    for index, obj in enumerate(nodes):  # grows while iterated: breadth-first, no recursion
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor) or (isinstance(obj, np.ndarray) and obj.dtype != object):
            yield links, index, obj
            continue
        for step, child in _children(obj):
            nodes.append(child)
            links.append((index, step))


def _path(links: list[tuple[int, Step]], index: int) -> str:
    parts = []
    while index > 0:
        index, step = links[index]
        parts.append(_spell(step))
    return "".join(reversed(parts)).lstrip(".") or "<root>"
