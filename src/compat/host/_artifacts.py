"""Checkpoint uploads to W&B artifacts, done by whichever plugin implements them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from checkpoint.errors import UnpublishableArtifactError
from compat.host._pluginhost import get_host


def add_to_wandb_artifact(
    name: str,
    artifact_type: str,
    metadata: Mapping[str, object],
    file_path: str,
    additional_files: Sequence[str] = (),
    wandb_run: object = None,
) -> str:
    """Upload ``file_path`` (and ``additional_files``) as the W&B artifact ``name`` of type
    ``artifact_type``, through the first plugin implementing ``compat_add_to_wandb_artifact``.

    Returns the artifact's qualified name. With no such plugin enabled, raises
    ``UnpublishableArtifactError`` naming the hook; nothing is uploaded.
    """
    qualified = get_host().hook.compat_add_to_wandb_artifact(
        name=name,
        artifact_type=artifact_type,
        metadata=dict(metadata),
        file_path=file_path,
        additional_files=list(additional_files),
        wandb_run=wandb_run,
    )
    if qualified is None:
        raise UnpublishableArtifactError(
            f"no enabled compat plugin uploads checkpoints to W&B, so artifact {name!r} "
            f"({artifact_type}) was not created; install or enable one that implements the "
            "compat_add_to_wandb_artifact hook (see 'Write your own plugin' in the README), "
            "or upload the v1 files yourself: wandb.Artifact(...).add_file(path), then "
            "run.log_artifact(artifact)",
            file_path,
        )
    return str(qualified)
