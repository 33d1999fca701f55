"""Every tensor of an object graph, each once, with a path to it.

A conversion that reports success has lost nothing (SPEC §8, rule 3): every tensor the
source's graph holds must land in the v1 output. This module finds them all: it walks the
graph (containers, inert objects, attribute references, real objects' ``__dict__``) once
per object, so shared parts cost nothing twice, and names each tensor by a path. A tensor
is identified by the memory it views, so a ``detach()`` or a state_dict entry counts as
the tensor it came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from compat.engine._placeholder import AttributeRef, Placeholder, attributes

__all__ = ["TensorKey", "tensor_key", "tensors_in"]

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


def _name(key: object, position: int) -> str:
    """A dict key in a path: as written if it is plain, else its position (a tensor key)."""
    return str(key) if isinstance(key, str | int | float | bool | None) else f"<key {position}>"


def _children(obj: object) -> Iterator[tuple[str, object]]:
    if isinstance(obj, dict):
        for position, (key, value) in enumerate(obj.items()):
            yield f".{_name(key, position)}", value
        extra = getattr(obj, "__dict__", None)  # an OrderedDict's BUILD attributes
        if isinstance(extra, dict):
            yield from ((f".{name}", value) for name, value in extra.items())
    elif isinstance(obj, list | tuple):
        yield from ((f"[{index}]", value) for index, value in enumerate(obj))
    elif isinstance(obj, set | frozenset):
        yield from (("[*]", value) for value in obj)
    elif isinstance(obj, Placeholder):
        yield from ((f"({index})", value) for index, value in enumerate(obj.args))
        yield from ((f"({name}=)", value) for name, value in obj.kwargs.items())
        yield from ((f".{name}", value) for name, value in attributes(obj).items())
        if not isinstance(obj.state, dict | tuple):
            yield ".<state>", obj.state
        yield from ((f"[{_name(k, i)}]", v) for i, (k, v) in enumerate(obj.items.items()))
        yield from ((f"[{index}]", value) for index, value in enumerate(obj.listitems))
    elif isinstance(obj, AttributeRef):
        yield ".<owner>", obj.owner
    elif isinstance(obj, np.ndarray) and obj.dtype == object:
        yield from ((f"[{index}]", value) for index, value in enumerate(obj.ravel().tolist()))
    elif not isinstance(obj, type):
        state = getattr(obj, "__dict__", None)  # a real object (trust=True, a renamed class)
        if isinstance(state, dict):
            yield from ((f".{name}", value) for name, value in state.items())


def tensors_in(root: object) -> Iterator[tuple[str, Array]]:
    """``(path, tensor)`` for every tensor and numeric numpy array reachable from ``root``,
    each once (by identity), breadth-first, so the path given is a shortest one."""
    seen: set[int] = set()
    queue: list[tuple[str, object]] = [("", root)]
    for path, obj in queue:  # grows while iterated: a breadth-first walk without recursion
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | bool | type(None)):
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor) or (isinstance(obj, np.ndarray) and obj.dtype != object):
            yield path.lstrip(".") or "<root>", obj
            continue
        queue.extend((path + step, child) for step, child in _children(obj))
