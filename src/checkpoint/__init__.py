"""A small, fast, crash-safe checkpoint manager for PyTorch (the v1 format).

Weights are a plain ``state_dict`` that ``torch.load(weights_only=True)``
reads with no dependency on this package; a YAML sidecar, committed last,
describes and vouches for them.
"""

from checkpoint._lazy import lazy_attributes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from checkpoint._architecture import register_agent_class, unregister_agent_class
    from checkpoint._catalog import run_name_of_directory, scan, walk_checkpoint_dirs
    from checkpoint._info import CheckpointInfo
    from checkpoint._integrity import verify_checkpoint
    from checkpoint._manager import CheckpointManager, CheckpointOptions
    from checkpoint._selection import KeepBest, KeepLast, RetentionPolicy, Union
    from checkpoint._sidecar import Architecture, ConvertedFrom, Sidecar, read_sidecar
    from checkpoint.errors import (
        CheckpointCorruptError,
        CheckpointError,
        CheckpointExistsError,
        CheckpointNotFoundError,
        CheckpointWriteError,
        DamagedSidecarWarning,
        InvalidCheckpointRequestError,
        InvalidStateError,
        LegacyCheckpointError,
        MetricMissingWarning,
        MissingExtraError,
        SidecarError,
        StorageAccessError,
        StorageError,
        StorageNotFoundError,
        UnknownArchitectureError,
    )

#: Public name -> the module that defines it; loaded on first access (PEP 562), so that
#: ``import checkpoint.errors`` or ``checkpoint.scan`` does not import torch.
_LAZY: dict[str, str] = {
    "register_agent_class": "checkpoint._architecture",
    "unregister_agent_class": "checkpoint._architecture",
    "run_name_of_directory": "checkpoint._catalog",
    "scan": "checkpoint._catalog",
    "walk_checkpoint_dirs": "checkpoint._catalog",
    "CheckpointInfo": "checkpoint._info",
    "verify_checkpoint": "checkpoint._integrity",
    "CheckpointManager": "checkpoint._manager",
    "CheckpointOptions": "checkpoint._manager",
    "KeepBest": "checkpoint._selection",
    "KeepLast": "checkpoint._selection",
    "RetentionPolicy": "checkpoint._selection",
    "Union": "checkpoint._selection",
    "Architecture": "checkpoint._sidecar",
    "ConvertedFrom": "checkpoint._sidecar",
    "Sidecar": "checkpoint._sidecar",
    "read_sidecar": "checkpoint._sidecar",
    "CheckpointCorruptError": "checkpoint.errors",
    "CheckpointError": "checkpoint.errors",
    "CheckpointExistsError": "checkpoint.errors",
    "CheckpointNotFoundError": "checkpoint.errors",
    "CheckpointWriteError": "checkpoint.errors",
    "DamagedSidecarWarning": "checkpoint.errors",
    "InvalidCheckpointRequestError": "checkpoint.errors",
    "InvalidStateError": "checkpoint.errors",
    "LegacyCheckpointError": "checkpoint.errors",
    "MetricMissingWarning": "checkpoint.errors",
    "MissingExtraError": "checkpoint.errors",
    "SidecarError": "checkpoint.errors",
    "StorageAccessError": "checkpoint.errors",
    "StorageError": "checkpoint.errors",
    "StorageNotFoundError": "checkpoint.errors",
    "UnknownArchitectureError": "checkpoint.errors",
}

__all__ = [
    "Architecture",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointExistsError",
    "CheckpointInfo",
    "CheckpointManager",
    "CheckpointNotFoundError",
    "CheckpointOptions",
    "CheckpointWriteError",
    "ConvertedFrom",
    "DamagedSidecarWarning",
    "InvalidCheckpointRequestError",
    "InvalidStateError",
    "KeepBest",
    "KeepLast",
    "LegacyCheckpointError",
    "MetricMissingWarning",
    "MissingExtraError",
    "RetentionPolicy",
    "Sidecar",
    "SidecarError",
    "StorageAccessError",
    "StorageError",
    "StorageNotFoundError",
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

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
