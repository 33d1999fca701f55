"""pytest plugin (entry point ``pytest11``, name ``compat``): ``--compat-strict`` and a summary.

pytest loads it wherever checkpoint-compat is installed, so it imports nothing heavy;
``-p no:compat`` turns it off. At the end of a session that used legacy APIs it prints the
most used ones; ``COMPAT_LEDGER=PATH`` plus ``ckpt deprecations --ledger PATH`` give all.
"""

from __future__ import annotations

import os

import pytest

from compat.host._config import ENV_LEDGER, ENV_STRICT
from compat.host._ledger import LEDGER

_SHOWN = 20
_PREVIOUS_STRICT = pytest.StashKey[str | None]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("compat").addoption(
        "--compat-strict",
        action="store_true",
        default=False,
        help=f"make each use of a deprecated checkpoint-compat API an error ({ENV_STRICT}=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("compat_strict"):
        config.stash[_PREVIOUS_STRICT] = os.environ.get(ENV_STRICT)
        os.environ[ENV_STRICT] = "1"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PREVIOUS_STRICT not in config.stash:
        return
    previous = config.stash[_PREVIOUS_STRICT]
    if previous is None:
        os.environ.pop(ENV_STRICT, None)
    else:
        os.environ[ENV_STRICT] = previous


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    records = LEDGER.records()
    if not records:
        return
    calls = sum(record["count"] for record in records)
    terminalreporter.section(f"compat: {calls} legacy API call(s) at {len(records)} site(s)")
    for record in records[:_SHOWN]:
        terminalreporter.line(
            f"{record['count']:>6}  {record['api']} (removed in {record['removed_in']}; "
            f"use {record['replacement']})  {record['site']}"
        )
    if len(records) > _SHOWN:
        terminalreporter.line(
            f"... and {len(records) - _SHOWN} more: run with {ENV_LEDGER}=ledger.jsonl, then "
            "`ckpt deprecations --ledger ledger.jsonl`"
        )
