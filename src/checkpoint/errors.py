"""Every exception raised by checkpoint-compat, in one place.

Each message names the file (or the name) at fault and the fix, so a user
reading a traceback knows what to do without opening the source.
"""

from __future__ import annotations

from pathlib import Path

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CheckpointCompatError",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointExistsError",
    "CheckpointNotFoundError",
    "CheckpointWriteError",
    "CompatDeprecationWarning",
    "CompatPluginWarning",
    "ConversionTargetError",
    "ConversionVerificationError",
    "DamagedSidecarWarning",
    "EssentialPluginError",
    "InvalidCheckpointRequestError",
    "InvalidStateError",
    "LedgerFileError",
    "LedgerMissingError",
    "LegacyCheckpointError",
    "MetricMissingWarning",
    "MigrationInterrupted",
    "MissingExtraError",
    "NothingToConvertError",
    "PluginError",
    "RemovedAPIError",
    "SidecarError",
    "StorageAccessError",
    "StorageError",
    "StorageNotFoundError",
    "UnconvertibleCheckpointError",
    "UnknownArchitectureError",
    "UnpublishableArtifactError",
    "UnreadableCheckpointError",
    "UnresolvableURIError",
    "UnsafeCheckpointError",
    "UntrustedLoadWarning",
    "UsageError",
    "WorkerDied",
]


class CheckpointCompatError(Exception):
    """Root of every error this distribution raises."""


class CheckpointError(CheckpointCompatError):
    """An error of the `checkpoint` manager, optionally tied to a file or an object's URL.

    A URL (``s3://bucket/key``) is kept whole in ``url``: a ``Path`` would fold its ``//``.
    """

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.url = path if isinstance(path, str) and "://" in path else None
        self.path = Path(path) if path is not None and self.url is None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


class InvalidCheckpointRequestError(CheckpointError, ValueError):
    """The caller asked for something invalid: a bad run name, a negative epoch..."""


class UsageError(InvalidCheckpointRequestError):
    """A command-line argument that cannot work as given (the CLI exits 2); the message
    says what to type instead."""


class InvalidStateError(CheckpointError, TypeError):
    """A value handed to a save is not storable in the weights-only v1 format."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No committed checkpoint matches the request."""


class CheckpointExistsError(InvalidCheckpointRequestError):
    """The epoch is already committed, or another writer committed it first (object storage:
    its sidecar was created before ours, and ours was not)."""


class CheckpointCorruptError(CheckpointError):
    """A committed checkpoint's bytes do not match what its sidecar recorded."""


class SidecarError(CheckpointError):
    """A `.yaml` sidecar is not valid YAML or does not match the v1 schema."""


class DamagedSidecarWarning(UserWarning):
    """A listing left out a checkpoint whose sidecar is damaged; the message names the file
    and the fix. Loading that epoch raises its `SidecarError`."""


class MetricMissingWarning(UserWarning):
    """Some checkpoints ranked by a metric do not have it; they rank last."""


class CheckpointWriteError(CheckpointError, OSError):
    """Writing a checkpoint failed; nothing half-written was left visible."""


class StorageError(CheckpointError, OSError):
    """Object storage refused or failed a request; the message names the URL and the fix."""


class StorageNotFoundError(StorageError, FileNotFoundError):
    """The bucket (or the filesystem's root) a URL names does not exist."""


class StorageAccessError(StorageError, PermissionError):
    """No credentials were found, or the ones found may not do what was asked."""


class MissingExtraError(CheckpointCompatError, ImportError):
    """A URL needs a package that is an optional extra (``checkpoint-compat[s3]``)."""


class LegacyCheckpointError(CheckpointError):
    """A legacy checkpoint was asked of the v1 manager, which never unpickles objects."""


class UnknownArchitectureError(CheckpointError, LookupError):
    """A sidecar names an agent class that was not registered for rebuilding."""


class UnsafeCheckpointError(CheckpointError):
    """A file references code that is never run (SPEC §8); it was refused, nothing executed."""


# -- compat: plugin host and deprecations -------------------------------------------------
# The two warning classes live here too, so every class a user may catch or filter is in one module.


class CompatDeprecationWarning(DeprecationWarning):
    """A legacy API was used: shown by default outside the library, an error if COMPAT_STRICT=1."""


class CompatPluginWarning(UserWarning):
    """A compat plugin was skipped or part of what it contributed was dropped; the host goes on."""


class RemovedAPIError(CheckpointCompatError):
    """A deprecated API reached its `removed_in` version: the shim refuses and names the fix."""

    def __init__(
        self, name: str, distribution: str, removed_in: str, replacement: str, hint: str
    ) -> None:
        self.name = name
        self.removed_in = removed_in
        self.replacement = replacement
        super().__init__(
            f"{name} was removed in {distribution} {removed_in}: use {replacement} instead. {hint}"
        )


class PluginError(CheckpointCompatError):
    """A compat plugin could not be loaded, named or configured; the message says which and how."""


class EssentialPluginError(PluginError):
    """Someone tried to disable a plugin the host cannot run without."""

    def __init__(self, name: str, asked_by: str, remedy: str) -> None:
        self.name = name
        super().__init__(
            f"compat plugin {name!r} is essential and cannot be disabled ({asked_by}); {remedy}"
        )


class LedgerFileError(CheckpointCompatError):
    """A usage-ledger file (COMPAT_LEDGER) holds a line that is not a usage record."""

    def __init__(self, path: Path | str, lineno: int, reason: str) -> None:
        self.path = Path(path)
        super().__init__(
            f"{path}:{lineno}: not a usage-ledger record ({reason}); "
            "delete the file and re-run the program that writes it"
        )


class LedgerMissingError(CheckpointCompatError, FileNotFoundError):
    """No usage ledger where one was asked for."""

    def __init__(self, path: Path | str, env_name: str) -> None:
        self.path = Path(path)
        super().__init__(
            f"{path}: no ledger there; run your program or tests with {env_name}={path} first"
        )


# -- compat: safe loading engine -------------------------------------------------------------


class UnreadableCheckpointError(CheckpointCorruptError, ValueError):
    """A file is not a checkpoint the safe engine can read: truncated, corrupt or out of range.

    Raised for empty files, random bytes, broken archives, storage offsets or sizes past the
    end of their record, absurd lengths and hostile nesting; nothing was executed.
    """


class UntrustedLoadWarning(UserWarning):
    """``compat.load(..., trust=True)`` really unpickled a file: its code may have run."""


class UnresolvableURIError(CheckpointNotFoundError):
    """No enabled plugin can turn a remote URI (``wandb://``...) into local files."""


class UnpublishableArtifactError(CheckpointError, ValueError):
    """No enabled plugin uploads checkpoints to W&B (hook ``compat_add_to_wandb_artifact``);
    nothing was uploaded. A ``ValueError``, as the PolicyStore's own refusal was."""


# -- compat: converters and migration --------------------------------------------------------


class UnconvertibleCheckpointError(CheckpointError):
    """No converter chain leads from a file's detected format to v1 (or a converter broke)."""


class NothingToConvertError(UnconvertibleCheckpointError):
    """A file holds no tensor and no training state (a config, arguments): there is no v1
    checkpoint to make of it. ``ckpt migrate`` passes such files over."""


class ConversionTargetError(InvalidCheckpointRequestError):
    """A conversion's destination is not a v1 name, or is taken by another checkpoint."""


class ConversionVerificationError(CheckpointCorruptError):
    """A converted checkpoint read back differs from what was recovered; nothing was committed."""


class MigrationInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a migration once the files in flight were done: ``ckpt migrate``
    reports what finished, exits 130 and says to re-run the same command to resume."""

    def __init__(self, outcomes: list[Any], done: int, not_started: int) -> None:
        super().__init__(f"interrupted with {not_started} file(s) not started")
        self.outcomes = outcomes  # of every file found, the conversions that finished included
        self.done = done  # conversions that finished (converted, already done, failed...)
        self.not_started = not_started


class WorkerDied(CheckpointCompatError):
    """A ``ckpt migrate`` worker process ended while it held a file (killed, or out of
    memory): that file is reported failed, the others go on, and a re-run converts it."""
