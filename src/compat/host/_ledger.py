"""The usage ledger: which legacy API was called from which line, and how often.

Counts live in the process (thread-safe). With ``COMPAT_LEDGER=path`` the process appends
its counts to that JSONL file when it exits, one line per API and call site in a single
``O_APPEND`` write, so the processes of a whole test-suite run can share one file and
``ckpt deprecations --ledger path`` sums them.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypedDict, cast

from compat.host._config import ENV_LEDGER

if TYPE_CHECKING:
    from compat.deprecations import Deprecation


class CallSite(NamedTuple):
    """The line that used a legacy API."""

    filename: str
    lineno: int

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}"


class UsageRecord(TypedDict):
    """One API used at one call site, as printed by ``ckpt deprecations --json``."""

    api: str
    site: str
    count: int
    removed_in: str
    replacement: str


Listener = Callable[["Deprecation", CallSite], None]


class UsageLedger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._apis: dict[str, Deprecation] = {}
        self._listeners: list[Listener] = []
        self._exit_hook_armed = False

    def record(self, deprecation: Deprecation, site: CallSite) -> None:
        with self._lock:
            self._counts[deprecation.name, str(site)] += 1
            self._apis[deprecation.name] = deprecation
            listeners = tuple(self._listeners)
            arm_exit_hook, self._exit_hook_armed = not self._exit_hook_armed, True
        if arm_exit_hook and (path := os.environ.get(ENV_LEDGER)):
            atexit.register(self.append_to, Path(path))
        for listener in listeners:
            listener(deprecation, site)

    def records(self) -> list[UsageRecord]:
        """Every (API, call site) seen so far, most used first."""
        with self._lock:
            return _sorted(
                UsageRecord(
                    api=api,
                    site=site,
                    count=count,
                    removed_in=self._apis[api].removed_in,
                    replacement=self._apis[api].replacement,
                )
                for (api, site), count in self._counts.items()
            )

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self._apis.clear()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` after each recorded use; returns the function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.remove(listener)

        return unsubscribe

    def append_to(self, path: Path) -> None:
        records = self.records()
        if not records:
            return
        data = "".join(json.dumps(record) + "\n" for record in records).encode()
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)


#: The process's ledger; every deprecation shim records into it.
LEDGER = UsageLedger()


def read_jsonl(path: Path) -> list[UsageRecord]:
    """Sum the records of a ledger file written by one or more processes."""
    totals: dict[tuple[str, str], UsageRecord] = {}
    with path.open(encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            record = _parse_record(path, lineno, line)
            key = record["api"], record["site"]
            if key in totals:
                record["count"] += totals[key]["count"]
            totals[key] = record
    return _sorted(totals.values())


def _parse_record(path: Path, lineno: int, line: str) -> UsageRecord:
    from checkpoint.errors import LedgerFileError

    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LedgerFileError(path, lineno, f"invalid JSON: {exc.msg}") from exc
    fields = UsageRecord.__annotations__
    if not isinstance(data, dict) or data.keys() != fields.keys():
        raise LedgerFileError(path, lineno, f"expected the keys {', '.join(fields)}")
    if not isinstance(data["count"], int) or not all(
        isinstance(data[key], str) for key in fields if key != "count"
    ):
        raise LedgerFileError(path, lineno, "count must be an integer, the rest strings")
    return cast(UsageRecord, data)


def _sorted(records: Iterable[UsageRecord]) -> list[UsageRecord]:
    return sorted(records, key=lambda record: (-record["count"], record["api"], record["site"]))
