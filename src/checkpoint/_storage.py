"""Crash-safe file primitives: atomic writes, a directory lock, hashing.

The commit protocol is the classic one: write to a temporary file in the
target directory, fsync it, ``os.replace`` it over the final name, fsync the
directory. A temporary file holds an exclusive ``flock`` for as long as its
writer lives, so a sweep can tell a crashed writer's leftovers (lock free)
from a concurrent writer's work in progress (lock held).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, BinaryIO, cast

from .errors import CheckpointCompatError, CheckpointWriteError

TEMP_SUFFIX = ".tmp"
LOCK_NAME = ".ckpt.lock"
_HASH_CHUNK = 8 * 1024 * 1024
#: Writes up to this size are hashed in line: a hand-off to the hashing thread costs more.
_INLINE_HASH = 256 * 1024
_FULL_DISK = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def temp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def _still_named(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the open file ``fd`` (a sweep may have unlinked it)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def is_temp_name(filename: str) -> bool:
    return filename.startswith(".") and filename.endswith(TEMP_SUFFIX)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def describe_os_error(exc: OSError, path: Path) -> CheckpointWriteError:
    """Turn a low-level write failure into an error that says what to do."""
    if exc.errno in _FULL_DISK:
        hint = "the disk (or quota, or file-size limit) is full; free space and save again"
    elif exc.errno in {errno.EACCES, errno.EPERM, errno.EROFS}:
        hint = "the directory is not writable; fix its permissions or choose another run_dir"
    else:
        hint = f"{exc.strerror or exc}; nothing was committed, retry once the cause is fixed"
    error = CheckpointWriteError(f"could not write checkpoint file: {hint}", path)
    error.errno = exc.errno
    return error


class TempFile:
    """An open, locked temporary file that becomes ``final`` on :meth:`commit`."""

    def __init__(self, final: Path) -> None:
        self.final = final
        while True:
            self.path = temp_name(final)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _still_named(fd, self.path):
                break
            # A sweep took the file between its creation and our lock: start afresh.
            os.close(fd)
        self.file: BinaryIO = os.fdopen(fd, "wb", buffering=0)

    def sync(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())

    def commit(self) -> None:
        """Rename over the final name; the caller fsyncs the directory after a batch."""
        os.replace(self.path, self.final)

    def discard(self) -> None:
        with suppress(FileNotFoundError):
            self.path.unlink()

    def close(self) -> None:
        self.file.close()


@contextmanager
def staged(final: Path) -> Iterator[TempFile]:
    """Yield a synced temp file for ``final``; remove it unless it was committed."""
    try:
        temp = TempFile(final)
    except OSError as exc:
        raise describe_os_error(exc, final) from exc
    try:
        yield temp
    except BaseException as exc:
        temp.discard()
        if isinstance(exc, OSError) and not isinstance(exc, CheckpointCompatError):
            raise describe_os_error(exc, final) from exc
        raise
    finally:
        temp.close()


class HashingWriter:
    """A write-only stream that hashes what it writes, in parallel with the write.

    ``torch.save`` hands each storage to ``write`` as one memoryview; hashing a
    chunk on a worker thread while the previous one is written (both release the
    GIL) keeps the sha256 off the critical path on two or more cores. Small writes
    (headers, small tensors) are hashed in line: handing them to a thread costs
    more than hashing them.
    """

    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink
        self._digest = hashlib.sha256()
        self._pool: ThreadPoolExecutor | None = None
        self.size = 0
        self.error: OSError | None = None
        """The first write failure; torch may re-raise it as a bare RuntimeError."""

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        try:
            if len(view) <= _INLINE_HASH:
                self._write_all(view)
                self._digest.update(view)
            else:
                self._write_pipelined(view)
        except OSError as exc:
            self.error = self.error or exc
            raise
        self.size += len(view)
        return len(view)

    def _write_pipelined(self, view: memoryview) -> None:
        """Hash each chunk on the worker while the main thread writes it."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ckpt-sha256")
        pending: Future[None] | None = None
        try:
            for start in range(0, len(view), _HASH_CHUNK):
                chunk = view[start : start + _HASH_CHUNK]
                if pending is not None:
                    pending.result()
                pending = self._pool.submit(self._digest.update, chunk)
                self._write_all(chunk)
        finally:
            if pending is not None:
                pending.result()

    def _write_all(self, chunk: memoryview) -> None:
        while chunk:
            written = self._sink.write(chunk)
            if written is None:  # pragma: no cover - only for non-blocking sinks
                raise BlockingIOError("sink would block")
            chunk = chunk[written:]

    def flush(self) -> None:
        self._sink.flush()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def save_hashed(obj: object, sink: BinaryIO) -> tuple[str, int]:
    """``torch.save`` into ``sink``; returns (sha256 hex, size) of the bytes written."""
    import torch

    writer = HashingWriter(sink)
    try:
        torch.save(obj, cast(IO[bytes], writer))
    except Exception as exc:
        if writer.error is not None and writer.error is not exc:
            raise writer.error from exc
        raise
    finally:
        writer.close()
    return writer.hexdigest(), writer.size


def sha256_file(path: Path) -> tuple[str, int]:
    """Hash a file in chunks; returns (hex digest, size)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Exclusive advisory lock on a run directory, held across commit and retention."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def sweep_stale_temp_files(directory: Path) -> None:
    """Remove temp files whose writer is gone (their flock is free)."""
    with os.scandir(directory) as entries:
        names = [entry.name for entry in entries if is_temp_name(entry.name)]
    for name in names:
        path = directory / name
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # committed or discarded meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live writer holds it
        else:
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
