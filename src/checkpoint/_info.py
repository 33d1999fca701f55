"""`CheckpointInfo`: what a listing knows about one checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """One checkpoint of a run, v1 or legacy.

    ``metadata`` holds the sidecar's figures (``epoch``, ``agent_step``,
    ``total_time``, ``score`` and every metric) as plain data; for a legacy
    entry it holds only what the file name tells.
    """

    run_name: str
    epoch: int
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    legacy: bool = False
    legacy_scheme: str | None = None
    url: str | None = None
    """For a checkpoint in object storage, the weights' URL (``s3://bucket/run/r.e00000005.pt``);
    ``path`` is then their path inside that filesystem (``bucket/run/r.e00000005.pt``)."""

    @property
    def uri(self) -> str:
        return self.url if self.url is not None else self.path.resolve().as_uri()

    @property
    def sidecar_path(self) -> Path | None:
        return None if self.legacy or self.url is not None else self.path.with_suffix(".yaml")

    def key_and_version(self) -> tuple[str, int]:
        """``(run_name, epoch)``: the identity a stats database keys results by."""
        return self.run_name, self.epoch
