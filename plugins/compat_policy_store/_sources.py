"""Where a policy record's metadata and weights come from: a v1 checkpoint or a legacy file.

Both kinds are read lazily and without running any code from the file: v1 checkpoints
through ``checkpoint.CheckpointManager``, legacy pickles through ``compat.load``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

import compat
from checkpoint import (
    CheckpointInfo,
    CheckpointManager,
    LegacyCheckpointError,
    read_sidecar,
    run_name_of_directory,
    scan,
)
from checkpoint.errors import CheckpointNotFoundError, UnreadableCheckpointError


class V1Source:
    """A committed v1 checkpoint: cheap metadata from its sidecar."""

    def __init__(self, info: CheckpointInfo) -> None:
        self.info = info
        self.path = info.path
        self.run_name = info.run_name

    def metadata(self) -> dict[str, Any]:
        assert self.info.sidecar_path is not None
        sidecar = read_sidecar(self.info.sidecar_path)
        legacy = sidecar.legacy_metadata if isinstance(sidecar.legacy_metadata, dict) else {}
        return {
            **legacy,
            **self.info.metadata,
            "train_time": sidecar.total_time,
            "generation": legacy.get("generation", sidecar.metrics.get("generation", 0)),
        }

    def _manager(self) -> CheckpointManager:
        return CheckpointManager(self.path.parent, self.run_name)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self._manager().load_state_dict(self.info.epoch)

    def agent(self, device: str) -> nn.Module:
        return self._manager().load_agent(self.info.epoch, device=device)


#: Where a PolicyRecord keeps its policy (``_cached_policy_value``, behind a property, in a
#: 2025 branch of metta.agent.policy_record: Metta-AI/metta 07f8ec9c4a).
_POLICY_ATTRIBUTES = ("_cached_policy", "_cached_policy_value", "policy")


class LegacySource:
    """A legacy file opened by the safe engine on first use (no code from it runs)."""

    def __init__(self, path: Path, run_name: str, named: Mapping[str, Any] | None = None) -> None:
        self.path = path
        self.run_name = run_name
        #: What the file's legacy name tells (``<run>__e5__s1000__t12__sc9000.pt``: epoch,
        #: agent_step, total_time, score); the content wins where it says otherwise.
        self.named = dict(named or {})

    @functools.cached_property
    def _loaded(self) -> Any:
        return compat.load(self.path)

    def metadata(self) -> dict[str, Any]:
        return {**self.named, **(self._loaded.metadata or {})}

    def num_params(self) -> int:
        """``sum(p.numel() for p in policy.parameters() if p.requires_grad)``, counted on
        the inert object graph: each ``nn.Parameter`` is rebuilt there with its
        ``requires_grad``, whether or not the policy's class could be rebuilt."""
        loaded = self._loaded
        policy = loaded.agent if loaded.agent is not None else _policy_in(loaded.root)
        if policy is None:
            raise LegacyCheckpointError(
                "holds no pickled policy (only its weights), so which tensors were trainable "
                "parameters is not recorded; build the agent, load compat.load(path).state_dict "
                "into it and count sum(p.numel() for p in agent.parameters() if p.requires_grad)",
                self.path,
            )
        return sum(p.numel() for p in _parameters(policy) if p.requires_grad)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self._loaded.state_dict)

    def agent(self, device: str) -> nn.Module:
        agent: nn.Module | None = self._loaded.agent
        if agent is not None:
            return agent.to(device)
        classes = ", ".join(self._loaded.legacy_classes) or "unknown classes"
        raise LegacyCheckpointError(
            f"the agent in this legacy checkpoint ({classes}) has no current class to rebuild it "
            "as. Map the old class path to yours (a compat_safe_globals 'renames' entry), or load "
            "the recovered weights into a model you build: model.load_state_dict("
            "compat.load(path).state_dict); `ckpt convert` writes them as a v1 checkpoint",
            self.path,
        )


Source = V1Source | LegacySource


def _attributes(obj: object) -> Mapping[str, Any]:
    """An object's attributes: a real object's ``__dict__``, or what the pickle's BUILD gave
    an inert one (``compat.InertObject.state``: a dict, or a ``(dict, slots)`` pair)."""
    if isinstance(obj, nn.Module):
        return vars(obj)
    state = getattr(obj, "state", None) if callable(getattr(obj, "qualified_name", None)) else None
    if isinstance(state, tuple) and len(state) == 2:
        merged: dict[str, Any] = {}
        for part in state:
            if isinstance(part, Mapping):
                merged.update((str(key), value) for key, value in part.items())
        return merged
    return {str(key): value for key, value in state.items()} if isinstance(state, Mapping) else {}


def _is_module(obj: object) -> bool:
    """A real ``nn.Module``, or an inert object pickled from one."""
    attrs = _attributes(obj)
    return isinstance(attrs.get("_parameters"), Mapping) and isinstance(
        attrs.get("_modules"), Mapping
    )


def _policy_in(root: object) -> object | None:
    """The policy of a loaded graph: a record's ``_cached_policy``, a pickled agent itself,
    or the pickled policy of a checkpoint of several files (a ``.mpt`` with ``policy.pt``)."""
    if _is_module(root):
        return root
    if isinstance(root, Mapping):
        return root.get("state_dict") if _is_module(root.get("state_dict")) else None
    attrs = _attributes(root)
    return next((attrs[n] for n in _POLICY_ATTRIBUTES if _is_module(attrs.get(n))), None)


def _parameters(policy: object) -> Iterator[torch.Tensor]:
    """What ``policy.parameters()`` yields: each module's ``_parameters`` (``None`` entries
    skipped), every module and every parameter once, in ``named_modules`` order."""
    seen_modules: set[int] = set()
    seen_parameters: set[int] = set()
    pending = [policy]
    while pending:
        module = pending.pop()
        if id(module) in seen_modules:
            continue
        seen_modules.add(id(module))
        attrs = _attributes(module)
        for parameter in attrs["_parameters"].values():
            if isinstance(parameter, torch.Tensor) and id(parameter) not in seen_parameters:
                seen_parameters.add(id(parameter))
                yield parameter
        children = [child for child in attrs["_modules"].values() if _is_module(child)]
        pending.extend(reversed(children))


def sources_at(path: Path) -> list[Source]:
    """Every checkpoint at ``path`` (a file, or a directory of them), newest epoch first."""
    if path.is_file():
        return [_source_of_file(path)]
    if path.exists() and not path.is_dir():
        raise UnreadableCheckpointError(
            "is not a regular file (a device, FIFO or socket); point the URI at the "
            "checkpoint file itself",
            path,
        )
    if not path.is_dir():
        raise CheckpointNotFoundError("no such file or directory", path)
    infos = [
        info
        for info in scan(path, run_name_of_directory(path))
        if not (info.legacy and info.legacy_scheme == "trainer_state")
    ]
    infos.sort(key=lambda info: info.epoch, reverse=True)
    return [
        V1Source(info) if not info.legacy else LegacySource(info.path, info.run_name, info.metadata)
        for info in infos
    ]


def _source_of_file(path: Path) -> Source:
    listed = {
        info.path.name: info for info in scan(path.parent, run_name_of_directory(path.parent))
    }
    info = listed.get(path.name)
    if info is not None and not info.legacy:
        return V1Source(info)
    if info is None:
        return LegacySource(path, path.stem)
    return LegacySource(path, info.run_name, info.metadata)
