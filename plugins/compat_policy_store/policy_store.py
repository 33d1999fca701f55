"""``metta.agent.policy_store``: find, select, load and save policy records.

Every call is a deprecated shim over ``checkpoint.CheckpointManager`` and the safe loading
engine (``compat.load``): a legacy pickle is opened without running any code from it.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import compat
from checkpoint import CheckpointManager, CheckpointNotFoundError
from compat.deprecations import (
    POLICY_MISSING_ERROR,
    POLICY_SELECTOR_TYPE,
    POLICY_STORE,
    POLICY_STORE_CREATE,
    POLICY_STORE_LOAD_FROM_URI,
    POLICY_STORE_POLICY_RECORD,
    POLICY_STORE_POLICY_RECORDS,
    POLICY_STORE_RECORD_OR_MOCK,
    POLICY_STORE_SAVE,
)

from ._sources import epoch_of, sources_at
from .mocks.mock_policy_record import MockPolicyRecord
from .policy_cache import PolicyCache
from .policy_record import PolicyRecord, local_path_of

__all__ = ["PolicyMissingError", "PolicyStore"]

_SelectorType = Literal["all", "top", "latest", "rand"]
TOP_FALLBACK_FRACTION = 0.8
"""``top`` falls back to the latest record when fewer than this share have a score."""


@compat.deprecated(POLICY_MISSING_ERROR)
class PolicyMissingError(ValueError):
    """No policy matches a URI."""


@compat.deprecated(POLICY_STORE)
class PolicyStore:
    """Resolves policy URIs to records; ``wandb_*`` and ``pytorch_cfg`` are kept, unused."""

    def __init__(
        self,
        device: str | None = None,
        wandb_run: Any = None,
        data_dir: str | None = None,
        wandb_entity: str | None = None,
        wandb_project: str | None = None,
        pytorch_cfg: Any = None,
        policy_cache_size: int = 10,
    ) -> None:
        self.device = device or "cpu"
        self.wandb_run = wandb_run
        self.data_dir = data_dir or "./train_dir"
        self.wandb_entity = wandb_entity
        self.wandb_project = wandb_project
        self.pytorch_cfg = pytorch_cfg
        self._cached_prs = PolicyCache(max_size=policy_cache_size)

    @compat.deprecated(POLICY_STORE_CREATE)
    @classmethod
    def create(
        cls, device: str, data_dir: str, wandb_config: Any, wandb_run: Any = None
    ) -> PolicyStore:
        entity = getattr(wandb_config, "entity", None)
        project = getattr(wandb_config, "project", None)
        return cls(device, wandb_run, data_dir, entity, project)

    @compat.deprecated(POLICY_STORE_POLICY_RECORD)
    def policy_record(
        self,
        uri_or_config: Any,
        selector_type: _SelectorType = "top",
        metric: str = "score",
        stats_client: Any = None,
        eval_name: str | None = None,
    ) -> PolicyRecord:
        records = self.policy_records(
            uri_or_config, selector_type, 1, metric, stats_client, eval_name
        )
        if len(records) != 1:
            raise PolicyMissingError(f"expected 1 policy record, got {len(records)}")
        return records[0]

    @compat.deprecated(POLICY_STORE_POLICY_RECORDS)
    def policy_records(
        self,
        uri_or_config: Any,
        selector_type: _SelectorType = "top",
        n: int = 1,
        metric: str = "score",
        stats_client: Any = None,
        eval_name: str | None = None,
    ) -> list[PolicyRecord]:
        if stats_client is not None:
            raise ValueError(
                "selecting by a stats database (stats_client) is not supported by the compat "
                "shim; record the scores in checkpoint metadata and use "
                "CheckpointManager.select(strategy='best', metric=...)"
            )
        uri = _uri_of(uri_or_config)
        return _select(self._records_at(uri), selector_type, n, metric)

    @compat.deprecated(POLICY_STORE_LOAD_FROM_URI)
    def load_from_uri(self, uri: str) -> PolicyRecord:
        """The record of one checkpoint file (the newest, if the URI names a directory)."""
        return self._records_at(uri)[0]

    @compat.deprecated(POLICY_STORE_SAVE)
    def save(self, pr: PolicyRecord, path: str | None = None) -> PolicyRecord:
        """Write ``pr`` as a v1 checkpoint (never a pickle) and return its new record.

        The checkpoint goes into ``path``'s directory if ``path`` names a ``.pt`` file (the v1
        scheme names the file itself), into ``path`` otherwise, else beside ``pr``'s own file,
        else into ``data_dir/<run_name>``.
        """
        directory = self._save_directory(pr, path)
        metadata = dict(pr.metadata)
        epoch = int(metadata.pop("epoch", 0))
        figures: dict[str, Any] = {
            key: metadata.pop(key) for key in ("agent_step", "score") if key in metadata
        }
        figures["total_time"] = float(metadata.pop("train_time", 0.0))
        metadata = {key: value for key, value in metadata.items() if _is_plain(value)}
        manager = CheckpointManager(directory, pr.run_name)
        info = manager.save_agent(pr._agent_or_weights(), epoch, {**metadata, **figures})
        [source] = sources_at(info.path)
        saved = PolicyRecord._from_source(self, source)
        saved._cached_policy = pr._cached_policy
        self._cached_prs.put(str(info.path), saved)
        return saved

    @compat.deprecated(POLICY_STORE_RECORD_OR_MOCK)
    def policy_record_or_mock(
        self, policy_uri: str | None, run_name: str = "mock_run"
    ) -> PolicyRecord:
        if policy_uri is None:
            return MockPolicyRecord(run_name=run_name, uri=None)
        return self.policy_record(policy_uri)

    def _records_at(self, uri: str) -> list[PolicyRecord]:
        if uri.startswith(("file://", "pytorch://")) or "://" not in uri:
            path = local_path_of(uri.replace("pytorch://", "", 1)) or Path(uri)
            paths = [path]
        else:
            paths = compat.resolve_uri(uri)
        try:
            records = [self._record(source) for path in paths for source in sources_at(path)]
        except CheckpointNotFoundError as exc:
            raise PolicyMissingError(f"no policies found at {uri}: {exc}") from exc
        if not records:
            raise PolicyMissingError(f"no policies found at {uri}")
        return records

    def _record(self, source: Any) -> PolicyRecord:
        key = str(source.path)
        cached = self._cached_prs.get(key)
        if cached is None:
            cached = PolicyRecord._from_source(self, source)
            self._cached_prs.put(key, cached)
        return cached

    def _save_directory(self, pr: PolicyRecord, path: str | None) -> Path:
        if path is not None:
            target = Path(path)
            return target.parent if target.suffix == ".pt" else target
        own = local_path_of(pr.uri)
        return own.parent if own is not None else Path(self.data_dir) / pr.run_name


def _uri_of(uri_or_config: Any) -> str:
    if isinstance(uri_or_config, str | os.PathLike):
        return os.fspath(uri_or_config)
    if isinstance(uri_or_config, Mapping) and isinstance(uri_or_config.get("uri"), str):
        return str(uri_or_config["uri"])
    uri = getattr(uri_or_config, "uri", None)
    if isinstance(uri, str):
        return uri
    raise TypeError(f"expected a policy URI or a config with a .uri, got {uri_or_config!r}")


def _is_plain(value: Any) -> bool:
    """Metadata that fits a YAML sidecar (legacy records carry tensors and objects too)."""
    if isinstance(value, str | int | float | bool | type(None)):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(item) for item in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _score(record: PolicyRecord, metric: str, in_eval_scores: bool) -> float | None:
    source = record.metadata.get("eval_scores") if in_eval_scores else record.metadata
    value = source.get(metric) if isinstance(source, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _select(
    records: list[PolicyRecord], selector_type: str, n: int, metric: str
) -> list[PolicyRecord]:
    """The PolicyStore selectors; ``records`` come newest first."""
    if selector_type == "all":
        return records
    if selector_type == "latest":
        return records[:1]
    if selector_type == "rand":
        return [random.choice(records)]  # noqa: S311 - picking an opponent, not a secret
    if selector_type != "top":
        raise ValueError(f"invalid selector type {selector_type!r}: use all, top, latest or rand")
    first = records[0].metadata
    in_eval_scores = (
        isinstance(first.get("eval_scores"), Mapping) and metric in first["eval_scores"]
    )
    scored = [(record, _score(record, metric, in_eval_scores)) for record in records]
    with_scores = [(record, score) for record, score in scored if score is not None]
    if len(with_scores) < len(records) * TOP_FALLBACK_FRACTION:
        return records[:1]
    ranked = sorted(with_scores, key=lambda pair: (pair[1], _epoch_of_record(pair[0])))
    return [record for record, _ in ranked[-n:]]  # best last, as the PolicyStore returned them


def _epoch_of_record(record: PolicyRecord) -> int:
    if record._source is not None:
        return epoch_of(record._source, record.metadata)
    return int(record.metadata.get("epoch", 0))


__getattr__ = compat.deprecated_attributes(
    __name__, {"PolicySelectorType": (POLICY_SELECTOR_TYPE, _SelectorType)}
)
