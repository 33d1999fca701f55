"""The v1 sidecar: a small YAML file that describes and vouches for a `.pt`.

It is parsed with ``yaml.safe_load`` only and validated by a pydantic model,
so a hand-edited or hostile sidecar is a clear error, never executed code.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import SidecarError

FORMAT_VERSION: Literal[1] = 1
MAX_SIDECAR_BYTES = 16 * 1024 * 1024
"""Sidecars are read whole; anything larger than this is not one of ours."""

RECOMPUTED_METADATA_KEYS = frozenset({"size", "sha256", "created_at"})
"""Figures every save computes afresh; in caller metadata they are ignored, not stored."""

NonNegativeInt = Annotated[int, Field(ge=0, strict=True)]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Architecture(BaseModel):
    """How to rebuild the agent: an importable class path and its constructor config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    class_path: str = Field(pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
    config: dict[str, Any] = Field(default_factory=dict)


class ConvertedFrom(BaseModel):
    """Provenance of a checkpoint produced by a converter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    sha256: Sha256Hex
    format: str
    legacy_classes: list[str] = Field(default_factory=list)
    migrations: list[str] = Field(default_factory=list)


class Sidecar(BaseModel):
    """Schema of ``<stem>.yaml`` (SPEC §3)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: Literal[1] = FORMAT_VERSION
    run_name: str
    epoch: NonNegativeInt
    agent_step: NonNegativeInt = 0
    total_time: float = Field(default=0.0, ge=0)
    score: float | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    architecture: Architecture | None = None
    torch_version: str
    created_at: datetime
    sha256: Sha256Hex
    size: NonNegativeInt
    converted_from: ConvertedFrom | None = None
    legacy_metadata: Any = None

    def flat_metadata(self) -> dict[str, Any]:
        """Metrics, then the fixed figures over them: what ``CheckpointInfo.metadata`` holds."""
        metadata: dict[str, Any] = dict(self.metrics)
        metadata.update(
            run_name=self.run_name,
            epoch=self.epoch,
            agent_step=self.agent_step,
            total_time=self.total_time,
            score=self.score,
            size=self.size,
            sha256=self.sha256,
            created_at=self.created_at.isoformat(),
        )
        return metadata

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("created_at must carry a timezone")
        return value

    @field_validator("score")
    @classmethod
    def _finite_or_nan(cls, value: float | None) -> float | None:
        if value is not None and math.isinf(value):
            raise ValueError("score must be finite or NaN")
        return value


def dump_sidecar(sidecar: Sidecar) -> bytes:
    data = sidecar.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")


def parse_sidecar(raw: bytes, path: Path) -> Sidecar:
    """Validate sidecar bytes read from ``path``; every failure names the file."""
    if len(raw) > MAX_SIDECAR_BYTES:
        raise SidecarError(
            f"sidecar is {len(raw)} bytes, over the {MAX_SIDECAR_BYTES} byte limit; "
            "it is not a v1 sidecar",
            path,
        )
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise SidecarError(
            f"not valid YAML ({exc}); restore the file or delete the checkpoint pair", path
        ) from exc
    try:
        return Sidecar.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise SidecarError(
            f"does not match the v1 sidecar schema ({problems}); "
            "restore the file or delete the checkpoint pair",
            path,
        ) from exc


def read_sidecar(path: Path) -> Sidecar:
    with path.open("rb") as file:
        raw = file.read(MAX_SIDECAR_BYTES + 1)
    return parse_sidecar(raw, path)
