"""Ctrl-C during an import of torch: held until the import is over, then handled as usual.

``import torch`` swallows a KeyboardInterrupt raised in part of its import, after which
CPython ends the process by SIGINT at exit whatever the command returned (seen in CI: exit
-2 instead of 130). Timing a real Ctrl-C into that window is luck, so these tests check the
mechanism itself; tests/converters/test_migrate_workers.py sends real ones at several moments.
"""

from __future__ import annotations

import signal

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
    try:
        with interrupts_held():
            signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
