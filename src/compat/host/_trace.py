"""``COMPAT_TRACE=1``: one stderr line per hook call, naming the plugins that ran and the time.

Built on pluggy's call monitoring, which sees every hook, historic replays included.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import pluggy

_MAX_REPR = 200


def trace_hook_calls(pm: pluggy.PluginManager) -> Callable[[], None]:
    """Start tracing the hook calls of `pm`; returns the function that stops it."""
    local = threading.local()

    def before(name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
        local.__dict__.setdefault("started", []).append(time.perf_counter())

    def after(
        outcome: pluggy.Result[object],
        name: str,
        impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, object],
    ) -> None:
        elapsed_ms = (time.perf_counter() - local.started.pop()) * 1000
        arguments = ", ".join(f"{key}={_short(value)}" for key, value in kwargs.items())
        plugins = ", ".join(impl.plugin_name for impl in impls)
        result = (
            f"raised {outcome.exception!r}"
            if outcome.exception is not None
            else f"-> {_short(outcome.get_result())}"
        )
        sys.stderr.write(
            f"compat trace: {name}({arguments}) [{plugins}] {result} ({elapsed_ms:.3f} ms)\n"
        )

    return pm.add_hookcall_monitoring(before, after)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REPR else f"{text[: _MAX_REPR - 3]}..."
