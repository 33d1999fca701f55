"""Ranking checkpoints by a metric, and retention as composable policies.

Ranking rules: a checkpoint without the metric, or with a NaN or non-numeric
value, ranks after every checkpoint that has one; ties go to the newer epoch.
A retention policy names the epochs it keeps; policies compose by union, so
"the last 3 and the best 2" is ``Union(KeepLast(3), KeepBest(2, ...))``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from ._info import CheckpointInfo

Mode = Literal["max", "min"]


def numeric(value: object) -> float | None:
    """``value`` as a float if it is a number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an int too large for a float
        return math.copysign(math.inf, value)


def metric_value(metadata: Mapping[str, Any], metric: str) -> float:
    """The metric as a float, NaN when absent or not a number.

    ``metric`` may be a dotted path into nested metrics (``"eval_scores.nav"``).
    """
    value: Any = metadata
    for part in metric.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return math.nan
        value = value[part]
    number = numeric(value)
    return math.nan if number is None else number


def has_metric(metadata: Mapping[str, Any], metric: str) -> bool:
    """Whether ``metric`` is recorded as a number (NaN counts: it was recorded)."""
    value: Any = metadata
    for part in metric.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return numeric(value) is not None


class Rankable(Protocol):
    """A checkpoint as ranking sees it: a ``CheckpointInfo``, or a remote listing's entry."""

    @property
    def epoch(self) -> int: ...
    @property
    def metadata(self) -> Mapping[str, Any]: ...


R = TypeVar("R", bound=Rankable)


def rank(infos: Iterable[R], metric: str, mode: Mode) -> list[R]:
    """Best first: NaN last, ties broken by the newer epoch."""
    sign = -1.0 if mode == "max" else 1.0

    def key(info: R) -> tuple[bool, float, int]:
        value = metric_value(info.metadata, metric)
        missing = math.isnan(value)
        return missing, 0.0 if missing else sign * value, -info.epoch

    return sorted(infos, key=key)


def newest_first(infos: Iterable[CheckpointInfo]) -> list[CheckpointInfo]:
    return sorted(infos, key=lambda info: info.epoch, reverse=True)


class RetentionPolicy(Protocol):
    def keep(self, infos: Sequence[CheckpointInfo]) -> set[int]:
        """The epochs to keep among ``infos`` (one run's committed checkpoints)."""
        ...


@dataclass(frozen=True, slots=True)
class KeepLast:
    n: int

    def keep(self, infos: Sequence[CheckpointInfo]) -> set[int]:
        return {info.epoch for info in newest_first(infos)[: self.n]}


@dataclass(frozen=True, slots=True)
class KeepBest:
    n: int
    metric: str
    mode: Mode

    def keep(self, infos: Sequence[CheckpointInfo]) -> set[int]:
        return {info.epoch for info in rank(infos, self.metric, self.mode)[: self.n]}


@dataclass(frozen=True, slots=True)
class Union:
    policies: tuple[RetentionPolicy, ...]

    def keep(self, infos: Sequence[CheckpointInfo]) -> set[int]:
        kept: set[int] = set()
        for policy in self.policies:
            kept |= policy.keep(infos)
        return kept


def retention_policy(
    keep_last: int | None, keep_best: int | None, metric: str, mode: Mode
) -> RetentionPolicy | None:
    """The manager's policy; ``None`` keeps everything.

    Whatever is asked, the newest and the best checkpoint are always kept.
    """
    policies: list[RetentionPolicy] = [
        *([KeepLast(keep_last)] if keep_last is not None else []),
        *([KeepBest(keep_best, metric, mode)] if keep_best is not None else []),
    ]
    if not policies:
        return None
    return Union((*policies, KeepLast(1), KeepBest(1, metric, mode)))
