"""``metta.agent.policy_record``: a checkpoint's identity, metadata and lazily loaded policy."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

import compat
from checkpoint import LegacyCheckpointError, UnknownArchitectureError
from compat.deprecations import (
    POLICY_RECORD,
    POLICY_RECORD_NUM_PARAMS,
    POLICY_RECORD_POLICY,
    POLICY_RECORD_WANDB_INFO,
)

from ._sources import LegacySource, Source, sources_at
from .policy_metadata import PolicyMetadata

__all__ = ["PolicyRecord", "local_path_of"]

_FILE = "file://"


def local_path_of(uri: str | None) -> Path | None:
    """The local path a ``file://`` URI or bare path names; ``None`` for other schemes.

    As the PolicyStore read it, everything after ``file://`` is the path as written:
    ``file:///abs/run`` is absolute, ``file://./runs/a`` and ``file://runs/a`` are relative
    to the working directory. Nothing is percent-decoded.
    """
    if not uri:
        return None
    if uri.startswith(_FILE):
        return Path(uri[len(_FILE) :])
    if "://" in uri:
        return None
    return Path(uri)


def file_uri(path: Path) -> str:
    """``file://`` and the absolute path, unencoded: what ``local_path_of`` reads back."""
    return f"{_FILE}{path.resolve()}"


@compat.deprecated(POLICY_RECORD)
class PolicyRecord:
    """One checkpoint as the PolicyStore era saw it."""

    def __init__(
        self, policy_store: Any, run_name: str, uri: str | None, metadata: Mapping[str, Any]
    ) -> None:
        self._policy_store = policy_store
        self.run_name = run_name
        self.uri = uri
        self._metadata: PolicyMetadata | None = PolicyMetadata(**dict(metadata))
        self._cached_policy: nn.Module | None = None
        self._source: Source | None = None

    @classmethod
    def _from_source(cls, policy_store: Any, source: Source) -> PolicyRecord:
        """A record whose metadata is read from ``source`` only when first needed."""
        record = cls(policy_store, source.run_name, file_uri(source.path), {})
        record._metadata = None
        record._source = source
        return record

    @property
    def metadata(self) -> PolicyMetadata:
        if self._metadata is None:
            self._metadata = PolicyMetadata(**self._resolved_source().metadata())
        return self._metadata

    @metadata.setter
    def metadata(self, value: Mapping[str, Any]) -> None:
        self._metadata = value if isinstance(value, PolicyMetadata) else PolicyMetadata(**value)

    @property
    def file_path(self) -> str | None:
        path = local_path_of(self.uri)
        return str(path) if path is not None else None

    def _resolved_source(self) -> Source:
        if self._source is None:
            path = local_path_of(self.uri)
            if path is None:
                raise ValueError(
                    f"PolicyRecord {self.run_name!r} has no local file (uri={self.uri!r}); "
                    "resolve remote URIs through PolicyStore.policy_record"
                )
            [self._source] = sources_at(path)
        return self._source

    def _device(self) -> str:
        return str(getattr(self._policy_store, "device", None) or "cpu")

    def _load_policy(self) -> nn.Module:
        """The agent, loaded on first access without running code from the file."""
        if self._cached_policy is None:
            self._cached_policy = self._resolved_source().agent(self._device())
        return self._cached_policy

    def _set_policy(self, value: nn.Module) -> None:
        self._cached_policy = value

    policy = compat.deprecated(POLICY_RECORD_POLICY)(property(_load_policy, _set_policy))

    def _agent_or_weights(self) -> nn.Module | dict[str, torch.Tensor]:
        """The agent if it can be rebuilt (so a re-save keeps its architecture), else weights."""
        try:
            return self._load_policy()
        except (UnknownArchitectureError, LegacyCheckpointError):
            return self.state_dict()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The weights: the loaded policy's, or those recovered from the file."""
        if self._cached_policy is not None:
            return self._cached_policy.state_dict()
        return self._resolved_source().state_dict()

    @compat.deprecated(POLICY_RECORD_NUM_PARAMS)
    def num_params(self) -> int:
        """The trainable parameters: ``sum(p.numel() for p in policy.parameters() if
        p.requires_grad)``. A legacy file's are counted from its inert object graph, which
        keeps each ``nn.Parameter`` and its ``requires_grad``, so no class mapping is needed."""
        local = self._source is not None or local_path_of(self.uri) is not None
        if self._cached_policy is None and local:
            source = self._resolved_source()
            if isinstance(source, LegacySource):
                return source.num_params()
        return sum(p.numel() for p in self._load_policy().parameters() if p.requires_grad)

    @compat.deprecated(POLICY_RECORD_WANDB_INFO)
    def extract_wandb_run_info(self) -> tuple[str, str, str, str | None]:
        """``(entity, project, name, version)`` of a ``wandb://entity/project/name:vN`` URI."""
        if not self.uri or not self.uri.startswith("wandb://"):
            raise ValueError(f"cannot get wandb info from URI {self.uri!r}: not a wandb:// URI")
        parts = self.uri.removeprefix("wandb://").split("/")
        if len(parts) != 3:
            raise ValueError(
                f"cannot get wandb info from URI {self.uri!r}: expected "
                "wandb://entity/project/name[:version]"
            )
        entity, project, name = parts
        name, _, version = name.partition(":")
        return entity, project, name, version or None

    def key_and_version(self) -> tuple[str, int]:
        """``(run_name, epoch)``: the same identity ``CheckpointInfo.key_and_version`` gives."""
        return self.run_name, int(self.metadata.get("epoch", 0))

    def __repr__(self) -> str:
        return f"PolicyRecord(run_name={self.run_name!r}, uri={self.uri!r})"
