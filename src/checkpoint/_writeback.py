"""Start a file's write-out to disk while it is still being written.

Dirty pages normally stay in memory until ``fsync``, which then waits for the whole file
to reach the disk. Asking the kernel to start writing each few megabytes as soon as they
are written overlaps that I/O with serialisation, so the final ``fsync`` has little left to
do: the approach of PostgreSQL's ``*_flush_after`` settings and RocksDB's ``bytes_per_sync``.
Linux only (``sync_file_range``); elsewhere, and if the call is missing, nothing is done and
``fsync`` does all the work, as before. Durability never depends on it: ``fsync`` follows.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache

#: ``SYNC_FILE_RANGE_WRITE``: start write-out of the range's dirty pages, do not wait for it.
_START_WRITE = 2

Starter = Callable[[int, int, int], None]


@cache
def writeback_starter() -> Starter | None:
    """``start(fd, offset, length)``, or ``None`` where the platform has no such call."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        sync_file_range = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    sync_file_range.restype = ctypes.c_int

    def start(fd: int, offset: int, length: int) -> None:
        # A failure is not reported here: the fsync that always follows reports it.
        sync_file_range(fd, offset, length, _START_WRITE)

    return start
