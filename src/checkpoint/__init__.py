"""A small, fast, crash-safe checkpoint manager for PyTorch (the v1 format).

Weights are a plain ``state_dict`` that ``torch.load(weights_only=True)``
reads with no dependency on this package; a YAML sidecar, committed last,
describes and vouches for them.
"""

from ._architecture import register_agent_class, unregister_agent_class
from ._catalog import run_name_of_directory, scan, walk_checkpoint_dirs
from ._info import CheckpointInfo
from ._integrity import verify_checkpoint
from ._manager import CheckpointManager, CheckpointOptions
from ._selection import KeepBest, KeepLast, RetentionPolicy, Union
from ._sidecar import Architecture, ConvertedFrom, Sidecar, read_sidecar
from .errors import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointWriteError,
    InvalidCheckpointRequestError,
    InvalidStateError,
    LegacyCheckpointError,
    SidecarError,
    UnknownArchitectureError,
)

__all__ = [
    "Architecture",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointInfo",
    "CheckpointManager",
    "CheckpointNotFoundError",
    "CheckpointOptions",
    "CheckpointWriteError",
    "ConvertedFrom",
    "InvalidCheckpointRequestError",
    "InvalidStateError",
    "KeepBest",
    "KeepLast",
    "LegacyCheckpointError",
    "RetentionPolicy",
    "Sidecar",
    "SidecarError",
    "Union",
    "UnknownArchitectureError",
    "read_sidecar",
    "register_agent_class",
    "run_name_of_directory",
    "scan",
    "unregister_agent_class",
    "verify_checkpoint",
    "walk_checkpoint_dirs",
]
