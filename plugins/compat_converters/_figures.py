"""Reading the v1 figures (epoch, agent_step, total_time, score) out of legacy data.

Legacy metadata is whatever old code wrote: a figure is taken only when it has the
type and range the sidecar requires, else it stays in ``legacy_metadata`` alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

Figures = dict[str, int | float | None]

FIGURE_NAMES = ("epoch", "agent_step", "total_time", "score")


def count(value: object) -> int | None:
    """A non-negative integer counter (epochs, steps), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def duration(value: object) -> float | None:
    """A non-negative finite number of seconds, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def score(value: object) -> float | None:
    """A finite score, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def from_mapping(data: Mapping[str, object], *, time_keys: tuple[str, ...]) -> Figures:
    """The figures a legacy metadata mapping holds; ``time_keys`` in order of preference."""
    total_time = next(
        (seconds for key in time_keys if (seconds := duration(data.get(key))) is not None),
        None,
    )
    return {
        "epoch": count(data.get("epoch")),
        "agent_step": count(data.get("agent_step")),
        "total_time": total_time,
        "score": score(data.get("score")),
    }


#: Sidecar fields that metrics may not shadow (``CheckpointInfo.metadata`` lays the fixed
#: figures over the metrics, and a save refuses an ``epoch`` or ``run_name`` that disagrees).
SIDECAR_FIELDS = frozenset(
    {"run_name", "epoch", "agent_step", "total_time", "score", "size", "sha256", "created_at"}
)
#: How deep nested scores are lifted (``eval_scores.navigation`` is depth 2).
_MAX_METRIC_DEPTH = 4
#: Mappings lifted whole: scores, rewards, metrics and stats by name (``eval_scores``,
#: ``rewards``). Other mappings of numbers are lookup tables (``original_feature_mapping``).
_SCORE_MAPPINGS = re.compile(r"score|reward|metric|return|stat", re.IGNORECASE)


def _lifted(value: object, depth: int) -> object | None:
    """``value`` if it is a finite number, or a mapping holding some at string keys (only
    those kept); ``None`` for anything a ranking could not use."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping) and depth < _MAX_METRIC_DEPTH:
        kept = {
            key: lifted
            for key, item in value.items()
            if isinstance(key, str) and (lifted := _lifted(item, depth + 1)) is not None
        }
        return kept or None
    return None


def selectable_metrics(metadata: Mapping[str, object]) -> dict[str, object]:
    """The numbers of a legacy record's metadata, for the sidecar's ``metrics``.

    Every finite number at the top level (``reward``, ``generation``, ``train_time``...),
    and the numbers of each mapping named for scores, rewards, metrics or stats
    (``eval_scores``, kept under its key so ``select(metric="eval_scores.navigation")``
    reaches them). The sidecar's own fields (``epoch``, ``agent_step``, ``score``...) are
    figures, not metrics; strings, flags, lookup tables and objects stay in
    ``legacy_metadata`` alone.
    """
    lifted: dict[str, object] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or key in SIDECAR_FIELDS:
            continue
        if isinstance(value, Mapping) and not _SCORE_MAPPINGS.search(key):
            continue
        number = _lifted(value, 1)
        if number is not None:
            lifted[key] = number
    return lifted


def fill_missing(figures: Mapping[str, object], fallback: Mapping[str, object]) -> Figures:
    """``figures`` with each figure that is ``None`` taken from ``fallback``."""
    readers = {"epoch": count, "agent_step": count, "total_time": duration, "score": score}
    return {
        name: read(figures.get(name)) if figures.get(name) is not None else read(fallback.get(name))
        for name, read in readers.items()
    }
