"""A caller's check of a written file, run on a thread beside the fsyncs that follow it.

A converter reads every tensor back before a checkpoint is committed. That read needs the
page cache, not the disk, so it need not wait for the fsync: it runs (in Python, holding
the GIL) while the saving thread waits in system calls that release it, the fsync of the
weights and the creation, write and fsync of the sidecar. The check is always waited for
before the commit it guards, and before the file it reads can be discarded.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

__all__ = ["BackgroundCheck"]


class BackgroundCheck:
    """``check(path)`` on a thread from :meth:`start`; :meth:`result` waits and re-raises.

    Used as a context manager, it is waited for on leaving (without raising: an error
    already leaving the block wins), so no check outlives the file it reads."""

    def __init__(self, check: Callable[[Path], None] | None, path: Path) -> None:
        self._check = check
        self._path = path
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        if self._check is None or self._thread is not None:
            return
        context = contextvars.copy_context()  # the check sees the caller's context
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name="ckpt-check", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        assert self._check is not None
        try:
            self._check(self._path)
        except BaseException as exc:  # re-raised in the saving thread by result()
            self._error = exc

    def result(self) -> None:
        """Wait for the check (starting it, if it was not yet); raise what it raised."""
        self.start()
        self._join()
        if self._error is not None:
            raise self._error

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> BackgroundCheck:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._join()
