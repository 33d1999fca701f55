"""Reading the v1 figures (epoch, agent_step, total_time, score) out of legacy data.

Legacy metadata is whatever old code wrote: a figure is taken only when it has the
type and range the sidecar requires, else it stays in ``legacy_metadata`` alone.
"""

from __future__ import annotations

import math
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


def fill_missing(figures: Mapping[str, object], fallback: Mapping[str, object]) -> Figures:
    """``figures`` with each figure that is ``None`` taken from ``fallback``."""
    readers = {"epoch": count, "agent_step": count, "total_time": duration, "score": score}
    return {
        name: read(figures.get(name)) if figures.get(name) is not None else read(fallback.get(name))
        for name, read in readers.items()
    }
