"""Checkpoint identity for stats databases: ``(key, version)`` from any era's object."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import compat
from checkpoint import CheckpointManager, CheckpointNotFoundError
from compat.deprecations import SIMPLE_CHECKPOINT_INFO

__all__ = ["SimpleCheckpointInfo", "checkpoint_identity"]


class _Identified(Protocol):
    def key_and_version(self) -> tuple[str, int]: ...


@compat.deprecated(SIMPLE_CHECKPOINT_INFO)
class SimpleCheckpointInfo:
    """The seed's lightweight stand-in for a PolicyRecord in the stats database."""

    def __init__(
        self, run_name: str, epoch: int, metadata: Mapping[str, Any] | None = None
    ) -> None:
        self.run_name = run_name
        self.epoch = epoch
        self.metadata = dict(metadata or {})

    def key_and_version(self) -> tuple[str, int]:
        return self.run_name, self.epoch

    @classmethod
    def from_checkpoint_manager(
        cls, checkpoint_manager: CheckpointManager, checkpoint_path: str | None = None
    ) -> SimpleCheckpointInfo:
        """The manager's latest checkpoint, or the one at ``checkpoint_path``."""
        infos = checkpoint_manager.select("all")
        if checkpoint_path is not None:
            wanted = Path(checkpoint_path).resolve()
            infos = [info for info in infos if info.path.resolve() == wanted]
        if not infos:
            raise CheckpointNotFoundError(
                f"run {checkpoint_manager.run_name!r} has no such committed checkpoint",
                checkpoint_path or checkpoint_manager.run_dir,
            )
        info = infos[-1]
        return cls(info.run_name, info.epoch, info.metadata)


def checkpoint_identity(checkpoint: _Identified | tuple[str, int]) -> tuple[str, int]:
    """``(key, version)`` of a CheckpointInfo, SimpleCheckpointInfo, PolicyRecord or tuple.

    What ``SimulationStatsDB.from_shards_and_context`` needs, whichever era's object it gets.
    """
    if isinstance(checkpoint, tuple):
        if (
            len(checkpoint) == 2
            and isinstance(checkpoint[0], str)
            and isinstance(checkpoint[1], int)
            and not isinstance(checkpoint[1], bool)
        ):
            return checkpoint[0], checkpoint[1]
        raise TypeError(f"expected a (key: str, version: int) tuple, got {checkpoint!r}")
    key_and_version = getattr(checkpoint, "key_and_version", None)
    if not callable(key_and_version):
        raise TypeError(
            f"{type(checkpoint).__name__} has no key_and_version(); pass a CheckpointInfo, "
            "SimpleCheckpointInfo, PolicyRecord or (key, version) tuple"
        )
    key, version = key_and_version()
    return str(key), int(version)
