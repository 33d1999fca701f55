"""Ctrl-C during an import of torch: held until the import is over, then handled as usual.

``import torch`` swallows a KeyboardInterrupt raised in part of its import, after which
CPython ends the process by SIGINT at exit whatever the command returned (seen in CI: exit
-2 instead of 130). Timing a real Ctrl-C into that window is luck, so these tests check the
mechanism itself; tests/converters/test_migrate_workers.py sends real ones at several moments.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from compat.cli._interrupt import interrupts_held


def test_a_ctrl_c_inside_is_raised_after_the_block() -> None:
    finished = False
    with pytest.raises(KeyboardInterrupt), interrupts_held():
        signal.raise_signal(signal.SIGINT)
        finished = True  # not interrupted half-way
    assert finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_it_goes_to_the_handler_in_place_before() -> None:
    calls: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        with interrupts_held():
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
            assert calls == []
        assert calls == [signal.SIGINT], "handed on once, after the block"
    finally:
        signal.signal(signal.SIGINT, previous)


def test_no_ctrl_c_no_interrupt() -> None:
    with interrupts_held():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_ctrl_c_stays_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    finished = False
    try:
        with interrupts_held():
            signal.raise_signal(signal.SIGINT)
        finished = True  # no KeyboardInterrupt after the block either
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert finished


_CTRL_C_WHILE_THE_VERBS_IMPORT = """
import sys

class CtrlC:  # a Ctrl-C that lands while the verbs import, every time
    def find_spec(self, name, path=None, target=None):
        if name == "compat.cli._ls":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, CtrlC())
from compat.cli import main

sys.exit(main(["ls", "."]))
"""


def test_a_ctrl_c_while_the_cli_imports_is_one_line_and_130() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CTRL_C_WHILE_THE_VERBS_IMPORT],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr == "ckpt: error: interrupted before it started\n"
