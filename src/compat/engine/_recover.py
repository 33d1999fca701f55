"""Recover what users need from an object graph: weights, metadata and training state.

Works on the inert graph (placeholders) and, for ``trust=True``, on real objects: an
``nn.Module``-shaped object gives the state_dict ``Module.state_dict()`` would give, a
record wrapper its policy's weights and its metadata, an optimizer object the standard
``optimizer.state_dict()`` shape, and dict checkpoints their parts.

Nothing with a tensor is left behind: whatever the weights do not hold (optimizer and
scheduler states, RNG states, metric states, a module's non-persistent buffers, the
tensors of a trainer pickled along with its module) goes to the training state, keyed as
in the file. ``compat.convert`` checks that promise against every tensor of the graph.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import torch

from checkpoint._tensorpickle import MalformedError
from compat.engine._inventory import tensor_keys, tensors_in
from compat.engine._placeholder import Placeholder, attributes
from compat.engine._plaindata import MAX_DEPTH, is_inert_optimizer, is_optimizer_state, plain

__all__ = ["Kind", "Recovered", "recover"]

_MODEL_KEYS = ("model_state_dict", "state_dict", "model", "policy", "agent")
#: Where a PolicyRecord keeps its policy; ``_cached_policy_value`` (behind a property) is a
#: 2025 branch of metta.agent.policy_record (Metta-AI/metta 07f8ec9c4a).
_POLICY_ATTRIBUTES = ("_cached_policy", "_cached_policy_value", "policy")
_METADATA_ATTRIBUTES = ("metadata", "_metadata")
#: Keys of training state that holds no tensor of its own (a StepLR's state is numbers).
_TRAINING_STATE_KEYS = ("optim", "sched", "rng", "random", "scaler", "lr_")
#: A shared submodule is listed under each of its names, as ``state_dict()`` does; a graph
#: whose modules are reached this many times more often than there are modules (a DAG
#: built to double at every level) is refused instead of walked.
_SHARED_MODULE_VISITS = 100_000
_SHARED_MODULE_RATIO = 64
#: The key under which tensors of a pickled object that its state_dict leaves out are kept.
NOT_IN_STATE_DICT = "not_in_state_dict"

StateDict = OrderedDict[str, torch.Tensor]


class Kind(StrEnum):
    """What a checkpoint turned out to hold."""

    RECORD = "record"
    MODULE = "module"
    STATE_DICT = "state_dict"
    RAW_DICT = "raw_dict"
    OPTIMIZER = "optimizer"
    SCHEDULER = "scheduler"
    RNG_STATE = "rng_state"
    TRAINER_STATE = "trainer_state"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Recovered:
    kind: Kind
    state_dict: StateDict
    metadata: dict[str, object]
    #: Everything beside the weights that holds tensors or is training state, as plain data
    #: (tensors kept), keyed as in the file; ``None`` when there is nothing.
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
    distinct: set[int] = set()
    visits = 0
    while pending:
        prefix, module, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise MalformedError(f"modules are nested deeper than {MAX_DEPTH} levels")
        visits += 1
        distinct.add(id(module))
        if visits > _SHARED_MODULE_VISITS and visits > _SHARED_MODULE_RATIO * len(distinct):
            raise MalformedError(
                f"its {len(distinct)} modules share submodules so often that the state_dict "
                f"would list them more than {visits} times"
            )
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


def is_optimizer(obj: object) -> bool:
    return isinstance(obj, torch.optim.Optimizer) or is_inert_optimizer(obj)


def optimizer_state_dict(optimizer: object) -> dict[str, object]:
    """``optimizer.state_dict()``: parameters replaced by their index across all groups."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return dict(optimizer.state_dict())
    view = plain(optimizer)  # an inert optimizer's view is its state_dict
    assert isinstance(view, dict)
    return view


def _is_state_dict(obj: object) -> bool:
    return isinstance(obj, dict) and all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in obj.items()
    )


def _is_scheduler_state(obj: object) -> bool:
    """An ``LRScheduler.state_dict()``: ``last_epoch`` with ``base_lrs`` or ``_step_count``."""
    return (
        isinstance(obj, dict)
        and "last_epoch" in obj
        and bool({"base_lrs", "_step_count"} & obj.keys())
    )


def _is_rng_state(obj: object) -> bool:
    """A dict of RNG states (transformers' ``rng_state.pth``): torch's CPU state and kin."""
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("cpu"), torch.Tensor)
        and set(obj) <= {"python", "numpy", "cpu", "cuda", "mps", "xla", "npu", "xpu"}
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


def _holds_tensors(obj: object) -> bool:
    return next(tensors_in(obj), None) is not None


def _complete(root: object, recovered: Recovered) -> Recovered:
    """``recovered`` with every tensor of ``root`` it does not hold yet added to its trainer
    state, by path under ``NOT_IN_STATE_DICT``: a pickled module's non-persistent buffers,
    a trainer pickled along with its module, an optimizer object's parameters."""
    placed = tensor_keys((recovered.state_dict, recovered.trainer_state))
    rest: dict[str, object] = {}
    for path, tensor in tensors_in(root, skip=placed):
        name = path
        while name in rest:  # keys that print alike (1 and "1") give one path
            name += "#"
        rest[name] = tensor
    if not rest:
        return recovered
    trainer = {**(recovered.trainer_state or {}), NOT_IN_STATE_DICT: rest}
    return dataclasses.replace(recovered, trainer_state=trainer)


def _record(obj: object) -> Recovered | None:
    attrs = _attributes(obj)
    policy = next((attrs[n] for n in _POLICY_ATTRIBUTES if is_module(attrs.get(n))), None)
    metadata = next((attrs[n] for n in _METADATA_ATTRIBUTES if n in attrs), None)
    if policy is None and metadata is None:
        return None
    weights = module_state_dict(policy) if policy is not None else OrderedDict()
    agent = policy if isinstance(policy, torch.nn.Module) else None
    return Recovered(Kind.RECORD, weights, _as_mapping(plain(metadata)), None, agent)


def _is_any_optimizer(value: object) -> bool:
    return is_optimizer(value) or is_optimizer_state(value)


def _training_value(value: object) -> object:
    if is_optimizer(value):
        return optimizer_state_dict(value)
    return plain(value)


def _is_training_state(key: object, value: object) -> bool:
    """Optimizer, scheduler or RNG state by shape or name, or anything holding a tensor."""
    name = str(key).lower()
    return (
        _is_any_optimizer(value)
        or _is_scheduler_state(value)
        or name.startswith(_TRAINING_STATE_KEYS)
        or _holds_tensors(value)
    )


def _dict_checkpoint(obj: dict[object, object]) -> Recovered:
    weights: StateDict | None = None
    model_key: object = None
    for key in _MODEL_KEYS:
        weights = _weights(obj.get(key))
        if weights is not None:
            model_key = key
            break
    rest = {key: value for key, value in obj.items() if key != model_key}
    trainer = {
        str(key): _training_value(value)
        for key, value in rest.items()
        if _is_training_state(key, value)
    }
    metadata = _as_mapping(
        plain({key: value for key, value in rest.items() if not _is_any_optimizer(value)})
    )
    if weights is not None:
        return Recovered(Kind.RAW_DICT, weights, metadata, trainer or None)
    if is_optimizer_state(obj):
        return Recovered(Kind.OPTIMIZER, OrderedDict(), {}, {"optimizer": plain(obj)})
    if _is_scheduler_state(obj):
        return Recovered(Kind.SCHEDULER, OrderedDict(), {}, {"lr_scheduler": plain(obj)})
    if _is_rng_state(obj):
        return Recovered(Kind.RNG_STATE, OrderedDict(), {}, {"rng": plain(obj)})
    if trainer:  # a trainer-state file: all of it, counters included, in the file's order
        whole = {str(key): _training_value(value) for key, value in obj.items()}
        return Recovered(Kind.TRAINER_STATE, OrderedDict(), metadata, whole)
    return Recovered(Kind.UNKNOWN, OrderedDict(), metadata, None)


def recover(root: object) -> Recovered:
    """Classify ``root`` and pull out its weights, metadata and training state; every
    tensor of the graph ends up in the weights or the training state."""
    return _complete(root, _classify(root))


def _classify(root: object) -> Recovered:
    if is_module(root):
        agent = root if isinstance(root, torch.nn.Module) else None
        optimizers: dict[str, object] = {  # an optimizer it keeps (SB3 policies), standard shape
            name: optimizer_state_dict(value)
            for name, value in _attributes(root).items()
            if is_optimizer(value)
        }
        return Recovered(Kind.MODULE, module_state_dict(root), {}, optimizers or None, agent)
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
    return record or Recovered(Kind.UNKNOWN, OrderedDict(), _as_mapping(plain(root)), None)
