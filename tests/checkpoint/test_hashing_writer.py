"""``HashingWriter``: the sha256 and the bytes match what was written, however it was cut."""

from __future__ import annotations

import errno
import hashlib
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

import checkpoint._storage as storage


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunk and in-line sizes a few bytes long, so both write paths run on small data."""
    monkeypatch.setattr(storage, "_HASH_CHUNK", 16)
    monkeypatch.setattr(storage, "_INLINE_HASH", 8)


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


@pytest.mark.parametrize("size", [4, 50], ids=["in-line", "pipelined"])
def test_a_failing_sink_is_recorded_on_either_path(size: int) -> None:
    class Full(io.BytesIO):
        def write(self, data: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    writer = storage.HashingWriter(Full())
    with pytest.raises(OSError, match="No space"):
        writer.write(bytes(size))
    writer.close()
    assert writer.error is not None and writer.error.errno == errno.ENOSPC
