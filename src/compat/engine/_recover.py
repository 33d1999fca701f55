"""Recover what users need from an object graph: weights, metadata, optimizer state.

Works on the inert graph (placeholders) and, for ``trust=True``, on real objects: an
``nn.Module``-shaped object gives the state_dict ``Module.state_dict()`` would give, a
record wrapper its policy's weights and its metadata, an optimizer object the standard
``optimizer.state_dict()`` shape, and dict checkpoints their parts.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import torch

from checkpoint._tensorpickle import MalformedError
from compat.engine._placeholder import Placeholder, attributes
from compat.engine._plaindata import MAX_DEPTH, plain

__all__ = ["Kind", "Recovered", "recover"]

_MODEL_KEYS = ("model_state_dict", "state_dict", "model", "policy", "agent")
_POLICY_ATTRIBUTES = ("_cached_policy", "policy")
_METADATA_ATTRIBUTES = ("metadata", "_metadata")

StateDict = OrderedDict[str, torch.Tensor]


class Kind(StrEnum):
    """What a checkpoint turned out to hold."""

    RECORD = "record"
    MODULE = "module"
    STATE_DICT = "state_dict"
    RAW_DICT = "raw_dict"
    OPTIMIZER = "optimizer"
    TRAINER_STATE = "trainer_state"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Recovered:
    kind: Kind
    state_dict: StateDict
    metadata: dict[str, object]
    trainer_state: dict[str, object] | None
    #: The agent as a real module: only when a rename (or trust) rebuilt its class.
    agent: torch.nn.Module | None = None


def _attributes(obj: object) -> dict[str, object]:
    if isinstance(obj, Placeholder):
        return attributes(obj)
    found = getattr(obj, "__dict__", None)
    return dict(found) if isinstance(found, dict) else {}


def is_module(obj: object) -> bool:
    if isinstance(obj, torch.nn.Module):
        return True
    attrs = _attributes(obj) if isinstance(obj, Placeholder) else {}
    return isinstance(attrs.get("_parameters"), dict) and isinstance(attrs.get("_modules"), dict)


def module_state_dict(root: object) -> StateDict:
    """``root.state_dict()``, read from attributes: parameters, persistent buffers, children."""
    if isinstance(root, torch.nn.Module):
        return OrderedDict(root.state_dict())
    found: StateDict = OrderedDict()
    pending: list[tuple[str, object, int]] = [("", root, 0)]
    while pending:
        prefix, module, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise MalformedError(f"modules are nested deeper than {MAX_DEPTH} levels")
        attrs = _attributes(module)
        skipped = attrs.get("_non_persistent_buffers_set")
        skipped = skipped if isinstance(skipped, set) else set()
        for group in ("_parameters", "_buffers"):
            tensors = attrs.get(group)
            for name, tensor in tensors.items() if isinstance(tensors, dict) else ():
                if isinstance(tensor, torch.Tensor) and name not in skipped:
                    found[f"{prefix}{name}"] = tensor.detach()
        children = attrs.get("_modules")
        pending.extend(
            reversed(
                [
                    (f"{prefix}{name}.", child, depth + 1)
                    for name, child in (children.items() if isinstance(children, dict) else ())
                    if is_module(child)
                ]
            )
        )
    return found


def _is_optimizer_state(obj: object) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("param_groups"), list) and "state" in obj


def is_optimizer(obj: object) -> bool:
    if isinstance(obj, torch.optim.Optimizer):
        return True
    return isinstance(obj, Placeholder) and _is_optimizer_state(attributes(obj))


def optimizer_state_dict(optimizer: object) -> dict[str, object]:
    """``optimizer.state_dict()``: parameters replaced by their index across all groups."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return dict(optimizer.state_dict())
    attrs = _attributes(optimizer)
    indices: dict[int, int] = {}
    groups: list[dict[str, object]] = []
    start = 0
    for group in attrs["param_groups"]:  # type: ignore[attr-defined]
        params = group.get("params", []) if isinstance(group, dict) else None
        if not isinstance(params, list):
            raise MalformedError("an optimizer parameter group is not a dict with a params list")
        for index, param in enumerate(params, start):
            indices.setdefault(id(param), index)
        packed = {key: plain(value) for key, value in group.items() if key != "params"}
        packed["params"] = [indices[id(param)] for param in params]
        groups.append(packed)
        start += len(params)
    state = attrs["state"]
    if not isinstance(state, dict):
        raise MalformedError("an optimizer's state is not a mapping")
    packed_state = {
        (indices.get(id(key), -1) if isinstance(key, torch.Tensor) else key): plain(value)
        for key, value in state.items()
    }
    return {"state": packed_state, "param_groups": groups}


def _is_state_dict(obj: object) -> bool:
    return isinstance(obj, dict) and all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in obj.items()
    )


def _weights(obj: object) -> StateDict | None:
    if is_module(obj):
        return module_state_dict(obj)
    if _is_state_dict(obj):
        assert isinstance(obj, dict)
        return OrderedDict(obj)
    return None


def _as_mapping(data: object) -> dict[str, object]:
    if isinstance(data, Mapping):
        return {str(key): value for key, value in data.items()}
    return {} if data is None else {"value": data}


def _record(obj: object) -> Recovered | None:
    attrs = _attributes(obj)
    policy = next((attrs[n] for n in _POLICY_ATTRIBUTES if is_module(attrs.get(n))), None)
    metadata = next((attrs[n] for n in _METADATA_ATTRIBUTES if n in attrs), None)
    if policy is None and metadata is None:
        return None
    weights = module_state_dict(policy) if policy is not None else OrderedDict()
    agent = policy if isinstance(policy, torch.nn.Module) else None
    return Recovered(Kind.RECORD, weights, _as_mapping(plain(metadata)), None, agent)


def _dict_checkpoint(obj: dict[object, object]) -> Recovered:
    weights: StateDict | None = None
    model_key: object = None
    for key in _MODEL_KEYS:
        weights = _weights(obj.get(key))
        if weights is not None:
            model_key = key
            break
    optimizers = {
        key: optimizer_state_dict(value) if is_optimizer(value) else plain(value)
        for key, value in obj.items()
        if is_optimizer(value) or _is_optimizer_state(value)
    }
    rest = {key: value for key, value in obj.items() if key != model_key and key not in optimizers}
    metadata = _as_mapping(plain(rest))
    if weights is not None:
        trainer = {str(key): value for key, value in optimizers.items()} or None
        return Recovered(Kind.RAW_DICT, weights, metadata, trainer)
    if optimizers:
        trainer = {str(key): optimizers.get(key, value) for key, value in obj.items()}
        return Recovered(Kind.TRAINER_STATE, OrderedDict(), metadata, _as_mapping(plain(trainer)))
    return Recovered(Kind.UNKNOWN, OrderedDict(), metadata, None)


def recover(root: object) -> Recovered:
    """Classify ``root`` and pull out its weights, metadata and trainer state."""
    if is_module(root):
        agent = root if isinstance(root, torch.nn.Module) else None
        return Recovered(Kind.MODULE, module_state_dict(root), {}, None, agent)
    if is_optimizer(root):
        return Recovered(
            Kind.OPTIMIZER, OrderedDict(), {}, {"optimizer": optimizer_state_dict(root)}
        )
    if _is_state_dict(root):
        assert isinstance(root, dict)
        return Recovered(Kind.STATE_DICT, OrderedDict(root), {}, None)
    if isinstance(root, dict):
        return _dict_checkpoint(root)
    record = _record(root)
    return record or Recovered(Kind.UNKNOWN, OrderedDict(), {}, None)
