"""Where a policy record's metadata and weights come from: a v1 checkpoint or a legacy file.

Both kinds are read lazily and without running any code from the file: v1 checkpoints
through ``checkpoint.CheckpointManager``, legacy pickles through ``compat.load``.
"""

from __future__ import annotations

import functools
import math
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
from checkpoint.errors import CheckpointNotFoundError


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


class LegacySource:
    """A legacy file opened by the safe engine on first use (no code from it runs)."""

    def __init__(self, path: Path, run_name: str) -> None:
        self.path = path
        self.run_name = run_name

    @functools.cached_property
    def _loaded(self) -> Any:
        return compat.load(self.path)

    def metadata(self) -> dict[str, Any]:
        return dict(self._loaded.metadata or {})

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


def epoch_of(source: Source, metadata: dict[str, Any] | None = None) -> int:
    """The epoch a listing tells, else the metadata's, else 0."""
    if isinstance(source, V1Source):
        return source.info.epoch
    value = (metadata or {}).get("epoch", 0)
    return int(value) if isinstance(value, int | float) and not math.isnan(value) else 0


def sources_at(path: Path) -> list[Source]:
    """Every checkpoint at ``path`` (a file, or a directory of them), newest epoch first."""
    if path.is_file():
        return [_source_of_file(path)]
    if not path.is_dir():
        raise CheckpointNotFoundError("no such file or directory", path)
    infos = [
        info
        for info in scan(path, run_name_of_directory(path))
        if not (info.legacy and info.legacy_scheme == "trainer_state")
    ]
    infos.sort(key=lambda info: info.epoch, reverse=True)
    return [
        V1Source(info) if not info.legacy else LegacySource(info.path, info.run_name)
        for info in infos
    ]


def _source_of_file(path: Path) -> Source:
    listed = {
        info.path.name: info for info in scan(path.parent, run_name_of_directory(path.parent))
    }
    info = listed.get(path.name)
    if info is not None and not info.legacy:
        return V1Source(info)
    run_name = info.run_name if info is not None else path.stem
    return LegacySource(path, run_name)
