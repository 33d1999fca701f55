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
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, BinaryIO, cast

from ._writeback import writeback_starter
from .errors import CheckpointCompatError, CheckpointWriteError

TEMP_SUFFIX = ".tmp"
LOCK_NAME = ".ckpt.lock"
_HASH_CHUNK = 1024 * 1024
#: Files up to this size are hashed in line: starting the hashing thread costs more.
_INLINE_HASH = 1024 * 1024
#: A large file's write-out to disk is started every this many bytes (see ``_writeback``).
_WRITEBACK_STEP = 8 * 1024 * 1024
#: Large writes are split into slices of this size, each hashed and written out as it lands.
_WRITE_SLICE = 4 * 1024 * 1024
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
            # Read-write: the sha256 of a large file is computed by reading it back.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
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


class WriteOutWriter:
    """A write-only stream onto a file whose write-out to disk starts as it is written.

    The kernel is asked to start writing the file every ``_WRITEBACK_STEP`` bytes
    (``_writeback``), so that the fsync after finds little left to write. A large write (a
    tensor arrives in one call) is cut into ``_WRITE_SLICE`` slices, so that what follows
    each slice, its write-out (and a subclass's hash), starts on the first slice instead of
    after the last. Nothing is copied or kept of the caller's buffers: ``torch.save`` hands
    out views of memory that may be gone once ``write`` returns.
    """

    def __init__(self, sink: BinaryIO | IO[bytes]) -> None:
        self._sink = sink
        self._out_fd = _fd_of(sink)
        self._start_writeback = writeback_starter() if self._out_fd is not None else None
        self._submitted = 0  # bytes whose write-out to disk was started
        self.size = 0
        self.error: OSError | None = None
        """The first write failure; torch may re-raise it as a bare RuntimeError."""

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), _WRITE_SLICE):
            self._write_slice(view[start : start + _WRITE_SLICE])
        return len(view)

    def _write_slice(self, view: memoryview) -> None:
        try:
            self._write_all(view)
        except OSError as exc:
            self.error = self.error or exc
            raise
        self.size += len(view)
        self._landed(view)

    def _landed(self, view: memoryview) -> None:
        """Called with each slice once it is written."""
        self._start_write_out()

    def _start_write_out(self) -> None:
        """Have the kernel start writing to disk what was written since the last call."""
        if self._start_writeback is None or self._out_fd is None:
            return
        if self.size - self._submitted >= _WRITEBACK_STEP:
            self._start_writeback(self._out_fd, self._submitted, self.size - self._submitted)
            self._submitted = self.size

    def _write_all(self, chunk: memoryview) -> None:
        while chunk:
            written = self._sink.write(chunk)
            if written is None:  # pragma: no cover - only for non-blocking sinks
                raise BlockingIOError("sink would block")
            chunk = chunk[written:]

    def flush(self) -> None:
        self._sink.flush()


class HashingWriter(WriteOutWriter):
    """A :class:`WriteOutWriter` that computes the sha256 of what it writes, off the write
    path.

    Small files are hashed in line: a thread costs more than hashing them. Once a file
    passes ``_INLINE_HASH`` bytes, a worker thread hashes it by reading back, from the page
    cache and through a small reused buffer, what the writer has already written: the
    writer never waits for the hash, and the hash finishes while the file is fsynced
    (:meth:`finish`), which is I/O the CPU would otherwise sit out. Peak memory grows by the
    buffer only.

    A sink without a readable file descriptor (``io.BytesIO``) is hashed in line throughout.
    """

    def __init__(self, sink: BinaryIO | IO[bytes]) -> None:
        super().__init__(sink)
        self._digest = hashlib.sha256()
        self._fd = _readable_fd(sink)
        self._thread: threading.Thread | None = None
        self._progress = threading.Condition()
        self._written = 0  # bytes the hashing thread may read (guarded by _progress)
        self._hashed = 0  # bytes hashed, in line or by the thread
        self._closing = False
        self._hash_error: BaseException | None = None

    def _landed(self, view: memoryview) -> None:
        if self._thread is None and (self._fd is None or self.size <= _INLINE_HASH):
            self._digest.update(view)
            self._hashed = self.size
        else:
            self._publish()
        super()._landed(view)

    def _publish(self) -> None:
        """Let the hashing thread read up to ``size`` (starting it on first use)."""
        with self._progress:
            self._written = self.size
            self._progress.notify()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._hash_behind, name="ckpt-sha256", daemon=True
            )
            self._thread.start()

    def _hash_behind(self) -> None:
        assert self._fd is not None
        buffer = bytearray(_HASH_CHUNK)
        view = memoryview(buffer)
        try:
            while True:
                with self._progress:
                    while self._written == self._hashed and not self._closing:
                        self._progress.wait()
                    target, closing = self._written, self._closing
                while self._hashed < target:
                    wanted = min(_HASH_CHUNK, target - self._hashed)
                    got = os.preadv(self._fd, [view[:wanted]], self._hashed)
                    if got == 0:
                        raise OSError(errno.EIO, "the file shrank while it was being hashed")
                    self._digest.update(view[:got])
                    self._hashed += got
                if closing and self._hashed == self._written:
                    return
        except BaseException as exc:  # reported by finish()
            self._hash_error = exc

    def finish(self) -> tuple[str, int]:
        """Wait for the hash of everything written: (sha256 hex, size)."""
        self.close()
        if self._hash_error is not None:
            raise self._hash_error
        if self._hashed != self.size:  # pragma: no cover - the thread always catches up
            raise OSError(errno.EIO, "the written file could not be hashed whole")
        return self._digest.hexdigest(), self.size

    def hexdigest(self) -> str:
        return self.finish()[0]

    def close(self) -> None:
        """Stop the hashing thread (after it caught up with what was written)."""
        if self._thread is None:
            return
        with self._progress:
            self._closing = True
            self._progress.notify()
        self._thread.join()


def _fd_of(sink: BinaryIO | IO[bytes]) -> int | None:
    """``sink``'s file descriptor, if it is a file (not an upload, not ``io.BytesIO``)."""
    try:
        return sink.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _readable_fd(sink: BinaryIO | IO[bytes]) -> int | None:
    """The file descriptor a hashing thread can ``pread`` what ``sink`` wrote from."""
    fd = _fd_of(sink)
    if fd is None:
        return None
    return fd if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDWR else None


def save_hashed(
    obj: object, temp: TempFile, before_sync: Callable[[], None] | None = None
) -> tuple[str, int]:
    """``torch.save`` into ``temp`` and fsync it; returns (sha256 hex, size) of the bytes
    written. The hash of a large file completes while the fsync runs; ``before_sync`` is
    called once every byte is written, before the fsync."""

    def sync() -> None:
        if before_sync is not None:
            before_sync()
        temp.sync()

    return stream_hashed(obj, temp.file, then=sync)


def stream_hashed(
    obj: object, sink: BinaryIO | IO[bytes], then: Callable[[], None] | None = None
) -> tuple[str, int]:
    """``torch.save`` into ``sink`` (a file, or an upload that keeps no copy), calling
    ``then`` once all is written; returns (sha256 hex, size) of the bytes written."""
    writer = HashingWriter(sink)
    try:
        save_into(obj, writer)
        if then is not None:
            then()
        return writer.finish()
    finally:
        writer.close()


def save_into(obj: object, writer: WriteOutWriter) -> None:
    """``torch.save`` through ``writer``; a write failure is raised as the ``OSError`` it
    was, not as the ``RuntimeError`` torch may turn it into."""
    import torch

    try:
        torch.save(obj, cast(IO[bytes], writer))
    except Exception as exc:
        if writer.error is not None and writer.error is not exc:
            raise writer.error from exc
        raise


def sha256_file(path: Path) -> tuple[str, int]:
    """Hash a file in chunks; returns (hex digest, size)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


_held = threading.local()
"""Per thread: (st_dev, st_ino) of each lock file this thread holds -> nesting depth."""


@contextmanager
def directory_lock(directory: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Exclusive advisory lock on a run directory, held across commit, index update and
    retention. Yields whether it is held: always with ``blocking``; without, ``False``
    when another process (or thread) holds it. A thread that holds it may take it again
    (the index update inside a commit does)."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        status = os.fstat(fd)
        key = (status.st_dev, status.st_ino)
        held: dict[tuple[int, int], int] = _held.__dict__.setdefault("locks", {})
        if held.get(key):
            held[key] += 1
            try:
                yield True
            finally:
                held[key] -= 1
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            acquired = True
        except BlockingIOError:
            acquired = False
        if not acquired:
            yield False
            return
        held[key] = 1
        try:
            yield True
        finally:
            del held[key]
    finally:
        os.close(fd)


def sweep_stale_temp_files(directory: Path) -> None:
    """Remove temp files whose writer is gone (their flock is free)."""
    names = [name for name in os.listdir(directory) if name.endswith(TEMP_SUFFIX)]
    for name in filter(is_temp_name, names):
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
