"""``metta.agent.policy_store``: find, select, load and save policy records.

Every call is a deprecated shim over ``checkpoint.CheckpointManager`` and the safe loading
engine (``compat.load``): a legacy pickle is opened without running any code from it.
"""

from __future__ import annotations

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
    POLICY_STORE_ADD_TO_WANDB_ARTIFACT,
    POLICY_STORE_ADD_TO_WANDB_RUN,
    POLICY_STORE_ADD_TO_WANDB_SWEEP,
    POLICY_STORE_CREATE,
    POLICY_STORE_LOAD_FROM_URI,
    POLICY_STORE_POLICY_RECORD,
    POLICY_STORE_POLICY_RECORDS,
    POLICY_STORE_RECORD_OR_MOCK,
    POLICY_STORE_SAVE,
)

from ._sources import sources_at
from .mocks.mock_policy_record import MockPolicyRecord
from .policy_cache import PolicyCache
from .policy_record import PolicyRecord, local_path_of

__all__ = ["PolicyMissingError", "PolicyStore"]

_SelectorType = Literal["all", "top", "latest", "rand"]
TOP_FALLBACK_FRACTION = 0.8
"""``top`` falls back to the latest record when fewer than this share have a score."""
_SCORE_SUFFIX = "_score"


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

    @compat.deprecated(POLICY_STORE_ADD_TO_WANDB_RUN)
    def add_to_wandb_run(
        self, run_id: str, pr: PolicyRecord, additional_files: list[str] | None = None
    ) -> str:
        """Upload ``pr``'s file as a ``"model"`` artifact named ``run_id``, through the plugin
        implementing ``compat_add_to_wandb_artifact``; returns the artifact's qualified name."""
        return self._add_to_wandb(run_id, "model", pr.metadata, pr.file_path, additional_files)

    @compat.deprecated(POLICY_STORE_ADD_TO_WANDB_SWEEP)
    def add_to_wandb_sweep(
        self, sweep_name: str, pr: PolicyRecord, additional_files: list[str] | None = None
    ) -> str:
        """Upload ``pr``'s file as a ``"sweep_model"`` artifact named ``sweep_name``."""
        return self._add_to_wandb(
            sweep_name, "sweep_model", pr.metadata, pr.file_path, additional_files
        )

    @compat.deprecated(POLICY_STORE_ADD_TO_WANDB_ARTIFACT)
    def add_to_wandb_artifact(
        self,
        name: str,
        type: str,  # the PolicyStore's own parameter name
        metadata: dict[str, Any],
        file_path: str,
        additional_files: list[str] | None = None,
    ) -> str:
        """Upload ``file_path`` as the artifact ``name`` of ``type``, with ``metadata``."""
        return self._add_to_wandb(name, type, metadata, file_path, additional_files)

    def _add_to_wandb(
        self,
        name: str,
        artifact_type: str,
        metadata: Mapping[str, Any],
        file_path: str | None,
        additional_files: list[str] | None,
    ) -> str:
        if file_path is None:
            raise ValueError(
                f"cannot upload artifact {name!r}: the policy record has no local file; "
                "pass a record loaded from a file:// URI or a path"
            )
        return compat.add_to_wandb_artifact(
            name,
            artifact_type,
            dict(metadata),
            file_path,
            additional_files or [],
            self.wandb_run,
        )

    @compat.deprecated(POLICY_STORE_RECORD_OR_MOCK)
    def policy_record_or_mock(
        self, policy_uri: str | None, run_name: str = "mock_run"
    ) -> PolicyRecord:
        if policy_uri is None:
            return MockPolicyRecord(run_name=run_name, uri=None)
        return self.policy_record(policy_uri)

    def _records_at(self, uri: str) -> list[PolicyRecord]:
        """Every record at ``uri``, newest first. ``file://X``, ``pytorch://X`` and a bare
        ``X`` name the path ``X`` as written (``file://./runs/a`` and ``file://runs/a`` are
        relative to the working directory); other schemes go to ``compat_resolve_uri``."""
        local = uri[len("pytorch://") :] if uri.startswith("pytorch://") else uri
        if not local.removeprefix("file://"):
            raise PolicyMissingError(f"no policies found at {uri!r}: it names no path")
        path = local_path_of(local)
        paths = [path] if path is not None else compat.resolve_uri(uri)
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


def _eval_scores(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    scores = metadata.get("eval_scores", {})
    return scores if isinstance(scores, Mapping) else {}


def _pr_scores(records: list[PolicyRecord], metric: str) -> list[tuple[PolicyRecord, Any]]:
    """Each record's score, found where the first (latest) record keeps ``metric``, as the
    PolicyStore's ``_get_pr_scores`` did: ``eval_scores[metric]``, then
    ``eval_scores[metric without "_score"]``, then ``metadata[metric]``; else no scores."""
    sample = records[0].metadata
    candidates = [metric]
    if metric.endswith(_SCORE_SUFFIX):
        candidates.append(metric[: -len(_SCORE_SUFFIX)])
    for key in candidates:
        if key in _eval_scores(sample):
            return [(record, _eval_scores(record.metadata).get(key)) for record in records]
    if metric in sample:
        return [(record, record.metadata.get(metric)) for record in records]
    return [(record, None) for record in records]


def _select_top(records: list[PolicyRecord], n: int, metric: str) -> list[PolicyRecord]:
    """The PolicyStore's ``_select_top_prs_by_metric``: the latest record alone when fewer
    than 80% of the records have a score (``None`` is no score), else the ``n`` best,
    **best first** (``sorted(..., reverse=True)[:n]``; equal scores keep their order,
    newest first)."""
    valid = [(record, score) for record, score in _pr_scores(records, metric) if score is not None]
    if not valid or len(valid) < len(records) * TOP_FALLBACK_FRACTION:
        return records[:1]
    try:
        ranked = sorted(valid, key=lambda pair: pair[1], reverse=True)
    except TypeError as exc:
        raise TypeError(
            f"cannot rank policy records by {metric!r}: their values do not compare ({exc}); "
            "record numbers under that metric"
        ) from exc
    return [record for record, _ in ranked[:n]]


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
    return _select_top(records, n, metric)


__getattr__ = compat.deprecated_attributes(
    __name__, {"PolicySelectorType": (POLICY_SELECTOR_TYPE, _SelectorType)}
)
