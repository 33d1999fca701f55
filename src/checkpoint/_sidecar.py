"""The v1 sidecar: a small YAML file that describes and vouches for a `.pt`.

It is parsed by YAML's safe loader only and validated by a pydantic model, so a hand-edited
or hostile sidecar is a clear error, never executed code. libyaml's ``CSafeLoader`` (in the
PyYAML wheel) reads it when present, about ten times faster than the pure-Python
``SafeLoader``, which is the fallback and gives the same results.

Before the loader builds anything, the document is bounded: our writer never emits anchors
or aliases, so a sidecar that uses them is refused (a few hundred bytes of nested aliases
expand to billions of nodes for whoever walks the result), and so is one nested deeper than
``MAX_SIDECAR_DEPTH`` or holding more than ``MAX_SIDECAR_NODES`` nodes (libyaml's composer
recurses in C, the constructor in Python). Both limits are checked on the parser's events,
which libyaml produces without recursion; a sidecar too small to exceed them is not parsed
twice.
"""

from __future__ import annotations

import errno
import math
import os
import stat
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import SidecarError

try:  # libyaml, shipped in the PyYAML wheel
    from yaml import CSafeDumper as _BaseDumper
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - a PyYAML built without libyaml
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

# ``yaml.safe_load`` is ``yaml.load`` with the pure-Python ``SafeLoader``; ``_safe_load`` is the
# same with libyaml's parser. Either way the constructor must be the safe one, which builds
# plain data only (a ``!!python/...`` tag is a ConstructorError), never the full one.
if not issubclass(_SafeLoader, yaml.constructor.SafeConstructor) or issubclass(
    _SafeLoader, yaml.constructor.FullConstructor
):  # pragma: no cover - a guard against a PyYAML whose loaders changed
    raise ImportError(f"{_SafeLoader.__name__} is not a safe YAML loader")


def _safe_load(raw: bytes) -> Any:
    """``yaml.safe_load(raw)``, about ten times faster where libyaml is present."""
    return yaml.load(raw, Loader=_SafeLoader)  # a safe loader: checked above


FORMAT_VERSION: Literal[1] = 1
MAX_SIDECAR_BYTES = 16 * 1024 * 1024
"""Sidecars are read whole; anything larger than this is not one of ours."""
MAX_SIDECAR_DEPTH = 48
"""Collections nested deeper than this are refused. The index stores a sidecar's metrics in
JSON lines, which must stay within ``MAX_JSON_DEPTH`` (64) with room for the record."""
MAX_SIDECAR_NODES = 200_000
"""Scalars plus collections; enough for a large legacy config kept as ``legacy_metadata``."""
#: A node of YAML needs one of these bytes (a collection its bracket or indicator, an entry
#: its separator), so a document with few of them needs no count of its events.
_STRUCTURE_BYTES = bytes(code for code in range(256) if code not in b"[{-:?,")
_FEW_STRUCTURE_BYTES = MAX_SIDECAR_DEPTH

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


class _Dumper(_BaseDumper):
    """The safe dumper, never writing an anchor or alias (readers refuse them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_sidecar(sidecar: Sidecar) -> bytes:
    """The sidecar as YAML (check it with :func:`sidecar_problem` first)."""
    data = sidecar.model_dump(mode="json", exclude_none=True)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True).encode("utf-8")


def sidecar_problem(sidecar: Sidecar) -> str | None:
    """Why a reader would refuse ``sidecar`` once written (too deep, too many values), or
    ``None``. Walks the free-form fields, as the YAML will nest them, without dumping."""
    top_fields = len(Sidecar.model_fields) + len(ConvertedFrom.model_fields)
    pending: list[tuple[object, int]] = [
        (sidecar.metrics, 2),
        (sidecar.legacy_metadata, 2),
        (sidecar.architecture.config if sidecar.architecture else None, 3),
        (sidecar.converted_from.legacy_classes if sidecar.converted_from else None, 3),
        (sidecar.converted_from.migrations if sidecar.converted_from else None, 3),
    ]
    nodes = 2 * top_fields
    while pending:
        value, depth = pending.pop()
        nodes += 1
        if isinstance(value, dict | list | tuple):
            if depth > MAX_SIDECAR_DEPTH:
                return f"is nested more than {MAX_SIDECAR_DEPTH} levels deep"
            if isinstance(value, dict):
                nodes += len(value)  # the keys
                pending.extend((item, depth + 1) for item in value.values())
            else:
                pending.extend((item, depth + 1) for item in value)
        if nodes > MAX_SIDECAR_NODES:
            return f"holds more than {MAX_SIDECAR_NODES} values"
    return None


def structure_problem(raw: bytes) -> str | None:
    """Why ``raw`` is not a YAML document our reader takes, before anything is built from
    it: anchors or aliases, too deep, too many nodes. ``None`` if it is fine (or not YAML:
    the loader then says why)."""
    if (
        b"&" not in raw
        and b"*" not in raw
        and len(raw.translate(None, _STRUCTURE_BYTES)) <= _FEW_STRUCTURE_BYTES
    ):
        return None  # depth and node count are bounded by those bytes
    depth = nodes = 0
    try:
        for event in yaml.parse(raw, Loader=_SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                return "uses YAML anchors or aliases, which v1 sidecars never contain"
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_SIDECAR_DEPTH:
                    return f"is nested more than {MAX_SIDECAR_DEPTH} levels deep"
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            if isinstance(event, yaml.NodeEvent):
                nodes += 1
                if nodes > MAX_SIDECAR_NODES:
                    return f"holds more than {MAX_SIDECAR_NODES} values"
    except yaml.YAMLError:
        return None  # not YAML: the loader reports it
    return None


def parse_sidecar(raw: bytes, path: Path) -> Sidecar:
    """Validate sidecar bytes read from ``path``; every failure names the file."""
    if len(raw) > MAX_SIDECAR_BYTES:
        raise SidecarError(
            f"sidecar is {len(raw)} bytes, over the {MAX_SIDECAR_BYTES} byte limit; "
            "it is not a v1 sidecar",
            path,
        )
    problem = structure_problem(raw)
    if problem is not None:
        raise SidecarError(
            f"{problem}; it was not read. Restore the file or delete the checkpoint pair", path
        )
    try:
        data = _safe_load(raw)
    except yaml.YAMLError as exc:
        raise SidecarError(
            f"not valid YAML ({exc}); restore the file or delete the checkpoint pair", path
        ) from exc
    except (RecursionError, MemoryError) as exc:  # pragma: no cover - bounded above
        raise SidecarError(
            f"cannot be read ({type(exc).__name__}); restore the file or delete the "
            "checkpoint pair",
            path,
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
    return parse_sidecar(read_sidecar_bytes(path)[0], path)


def read_sidecar_bytes(
    path: Path, *, dir_fd: int | None = None, follow_symlinks: bool = True
) -> tuple[bytes, os.stat_result]:
    """The bytes of a sidecar (at most one more than the limit) and the stat of the very
    file they were read from. A FIFO, device or directory is refused without blocking, and
    with ``follow_symlinks=False`` so is a symbolic link."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    name = path.name if dir_fd is not None else path
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise SidecarError(
                "is a symbolic link; a run's sidecars must be regular files: replace the link "
                "by the file it points to",
                path,
            ) from exc
        raise
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise SidecarError(
                "is not a regular file, so it is not a sidecar; remove it from the run directory",
                path,
            )
        chunks = []
        remaining = MAX_SIDECAR_BYTES + 1
        while remaining > 0 and (chunk := os.read(fd, min(remaining, 1 << 20))):
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks), status
