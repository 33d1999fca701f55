"""``HashingWriter`` and ``WriteOutWriter``: the sha256 and the bytes match what was written,
however it was cut, and the write-out to disk is started on consecutive ranges."""

from __future__ import annotations

import errno
import hashlib
import io
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import checkpoint._storage as storage
from checkpoint import CheckpointManager
from checkpoint._writeback import writeback_starter


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunk, slice and in-line sizes a few bytes long, so every path runs on small data."""
    monkeypatch.setattr(storage, "_HASH_CHUNK", 16)
    monkeypatch.setattr(storage, "_INLINE_HASH", 8)
    monkeypatch.setattr(storage, "_WRITE_SLICE", 24)
    monkeypatch.setattr(storage, "_WRITEBACK_STEP", 32)


@given(st.lists(st.binary(max_size=60), max_size=12))
def test_digest_and_bytes_match_any_sequence_of_writes(pieces: list[bytes]) -> None:
    sink = io.BytesIO()
    writer = storage.HashingWriter(sink)
    try:
        for piece in pieces:
            assert writer.write(memoryview(piece)) == len(piece)
    finally:
        writer.close()
    joined = b"".join(pieces)
    assert sink.getvalue() == joined
    assert (writer.hexdigest(), writer.size) == (hashlib.sha256(joined).hexdigest(), len(joined))


@pytest.mark.parametrize("size", [4, 50], ids=["small", "large"])
def test_a_failing_sink_is_recorded_on_either_path(size: int) -> None:
    class Full(io.BytesIO):
        def write(self, data: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    writer = storage.HashingWriter(Full())
    with pytest.raises(OSError, match="No space"):
        writer.write(bytes(size))
    writer.close()
    assert writer.error is not None and writer.error.errno == errno.ENOSPC


@given(st.lists(st.binary(max_size=60), max_size=12))
def test_a_file_is_hashed_behind_the_writer(pieces: list[bytes]) -> None:
    """Past the in-line limit, a thread hashes what was written by reading it back."""
    with tempfile.TemporaryDirectory() as tmp:
        temp = storage.TempFile(Path(tmp) / "run.e00000001.pt")
        try:
            writer = storage.HashingWriter(temp.file)
            for piece in pieces:
                assert writer.write(memoryview(piece)) == len(piece)
            temp.sync()
            digest, size = writer.finish()
        finally:
            temp.discard()
            temp.close()
    joined = b"".join(pieces)
    assert (digest, size) == (hashlib.sha256(joined).hexdigest(), len(joined))
    assert (writer._thread is not None) == (len(joined) > storage._INLINE_HASH)


@given(st.lists(st.binary(max_size=60), max_size=12), st.booleans())
def test_write_out_is_started_on_consecutive_ranges_of_a_file(
    pieces: list[bytes], available: bool
) -> None:
    """Each ``_WRITEBACK_STEP`` written starts its write-out once, in order; where the
    platform has no such call, the file and its hash come out the same."""
    started: list[tuple[int, int]] = []

    def record(fd: int, offset: int, length: int) -> None:
        started.append((offset, length))

    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(storage, "writeback_starter", lambda: record if available else None)
        temp = storage.TempFile(Path(tmp) / "run.e00000001.pt")
        try:
            writer = storage.HashingWriter(temp.file)
            for piece in pieces:
                writer.write(memoryview(piece))
            temp.sync()
            digest, size = writer.finish()
            written = temp.path.read_bytes()
        finally:
            temp.discard()
            temp.close()
    joined = b"".join(pieces)
    assert (written, digest, size) == (joined, hashlib.sha256(joined).hexdigest(), len(joined))
    ends = [offset + length for offset, length in started]
    assert [offset for offset, _ in started] == [0, *ends][: len(started)]  # consecutive
    assert all(length >= storage._WRITEBACK_STEP for _, length in started)
    if available and len(joined) > storage._INLINE_HASH:
        assert len(joined) - (ends[-1] if ends else 0) < storage._WRITEBACK_STEP
    else:
        assert started == []


@given(st.lists(st.binary(max_size=60), max_size=12))
def test_a_plain_writer_starts_the_write_out_of_any_file_past_a_step(
    pieces: list[bytes],
) -> None:
    """Trainer states go through ``WriteOutWriter``: no hash, the same write-out."""
    started: list[tuple[int, int]] = []
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(storage, "writeback_starter", lambda: lambda fd, *span: started.append(span))
        path = Path(tmp) / "f"
        with path.open("wb") as file:
            writer = storage.WriteOutWriter(file)
            for piece in pieces:
                assert writer.write(memoryview(piece)) == len(piece)
        written = path.read_bytes()
    joined = b"".join(pieces)
    assert (written, writer.size) == (joined, len(joined))
    ends = [offset + length for offset, length in started]
    assert [offset for offset, _ in started] == [0, *ends][: len(started)]
    assert len(joined) - (ends[-1] if ends else 0) < storage._WRITEBACK_STEP


def test_a_trainer_state_is_written_out_as_it_is_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[int, int]] = []
    monkeypatch.setattr(
        storage, "writeback_starter", lambda: lambda fd, *span: started.append(span)
    )
    manager = CheckpointManager(tmp_path / "run", "run")
    extra = {"rng": torch.arange(1000, dtype=torch.int64)}
    path = manager.save_trainer_state(None, 1, agent_step=5, extra=extra)
    assert started and started[0][0] == 0
    assert sum(length for _, length in started) <= path.stat().st_size
    assert torch.equal(manager.load_trainer_state(1)["extra"]["rng"], extra["rng"])  # type: ignore[index]


def test_a_large_write_is_hashed_and_written_in_slices(tmp_path: Path) -> None:
    """One tensor of many slices: the hashing thread may start before it is all written."""
    temp = storage.TempFile(tmp_path / "run.e00000001.pt")
    published: list[int] = []
    try:
        writer = storage.HashingWriter(temp.file)
        publish = writer._publish

        def spy() -> None:
            published.append(writer.size)
            publish()

        writer._publish = spy  # type: ignore[method-assign]
        data = bytes(range(256)) * 2
        writer.write(memoryview(data))
        temp.sync()
        digest, size = writer.finish()
    finally:
        temp.discard()
        temp.close()
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert published == [*range(24, len(data), 24), len(data)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_the_platform_write_out_call_is_found_and_accepts_a_file(tmp_path: Path) -> None:
    start = writeback_starter()
    assert start is not None
    path = tmp_path / "f"
    path.write_bytes(bytes(4096))
    with path.open("rb+") as file:
        start(file.fileno(), 0, 4096)  # a bad signature or flag would crash or raise here
    assert path.read_bytes() == bytes(4096)


def test_the_hash_never_holds_the_callers_buffers(tmp_path: Path) -> None:
    """torch.save hands out views of memory it may free: the thread reads the file instead."""
    temp = storage.TempFile(tmp_path / "run.e00000001.pt")
    try:
        writer = storage.HashingWriter(temp.file)
        buffer = bytearray(b"x" * 100)
        writer.write(memoryview(buffer))
        buffer[:] = b"y" * 100  # the caller reuses its buffer at once
        writer.write(memoryview(buffer))
        digest, _ = writer.finish()
    finally:
        temp.discard()
        temp.close()
    assert digest == hashlib.sha256(b"x" * 100 + b"y" * 100).hexdigest()


def test_a_failing_read_back_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage.os, "preadv", lambda fd, buffers, offset: 0)  # file shrank
    temp = storage.TempFile(tmp_path / "run.e00000001.pt")
    try:
        writer = storage.HashingWriter(temp.file)
        writer.write(bytes(100))
        with pytest.raises(OSError, match="shrank"):
            writer.finish()
    finally:
        temp.discard()
        temp.close()
