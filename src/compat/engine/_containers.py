"""Recognise a checkpoint's container and find its main pickle, without unpickling anything.

torch writes three containers: the zip archive (torch >= 1.6 default), the legacy stream
(magic, protocol and sys_info pickles, the main pickle, a list of storage keys, then raw
storages) and, before torch 0.1.10, a tar archive. Next to them we meet bare pickles,
safetensors files and our own v1 checkpoints (a zip ``.pt`` with a ``.yaml`` sidecar).
"""

from __future__ import annotations

import io
import pickletools
import stat
import struct
import tarfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from checkpoint import read_sidecar
from checkpoint._boundedjson import loads
from checkpoint._storage import sha256_file
from checkpoint._ziparchive import ZIP_ERRORS, ZipLayout
from checkpoint.errors import CheckpointError, UnreadableCheckpointError
from compat.engine._scan import quiet_escapes

if TYPE_CHECKING:
    pass

__all__ = [
    "LEGACY_MAGIC",
    "Bounded",
    "Format",
    "MainPickle",
    "detect",
    "main_pickle",
    "read_pickle",
    "safetensors_header",
    "skip_pickle",
]

#: The first bytes of every legacy torch stream: ``pickle.dumps(0x1950A86A20F9469CFC6C, 2)``.
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
#: Pickles before the main one in a legacy stream: magic number, protocol version, sys_info.
LEGACY_PREAMBLE = 3
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_STARTS = frozenset(b"(]}cl")  # protocol 0/1 first opcodes: MARK, lists, dicts, GLOBAL
#: Bytes read to recognise a container; protocol 0/1 pickles must decode this many opcodes.
_HEAD = 256
_OPCODES_CHECKED = 4
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024


class Format(StrEnum):
    """The container a file uses."""

    TORCH_ZIP = "torch-zip"
    TORCH_LEGACY = "torch-legacy"
    TORCH_TAR = "torch-tar"
    PICKLE = "pickle"
    SAFETENSORS = "safetensors"
    V1 = "v1"
    #: Several files (a directory or a zip archive of them) of a known layout.
    BUNDLE = "bundle"
    NOT_A_CHECKPOINT = "not-a-checkpoint"


def is_zip(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == _ZIP_MAGIC


def detect(path: Path) -> Format:
    """The container of ``path``, from its first bytes (and its sidecar for v1).

    Raises ``UnreadableCheckpointError`` for anything but a regular file (a FIFO would
    block the read forever, a device never end it), following symbolic links.
    """
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        kind = (
            "a directory" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, device or socket)"
        )
        raise UnreadableCheckpointError(f"is {kind}; pass a checkpoint file", path)
    with path.open("rb") as file:
        head = file.read(_HEAD)
        size = file.seek(0, io.SEEK_END)
    if head.startswith(_ZIP_MAGIC):
        return (
            Format.V1 if _is_described(path, path.with_suffix(".yaml"), size) else Format.TORCH_ZIP
        )
    if head.startswith(LEGACY_MAGIC):
        return Format.TORCH_LEGACY
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return Format.PICKLE
    if len(head) >= 9 and head[8:9] == b"{":
        (length,) = struct.unpack("<Q", head[:8])
        if length <= min(size - 8, _MAX_SAFETENSORS_HEADER):
            return Format.SAFETENSORS
    if size >= tarfile.BLOCKSIZE and tarfile.is_tarfile(path):
        return Format.TORCH_TAR
    return Format.PICKLE if _starts_like_pickle(head) else Format.NOT_A_CHECKPOINT


def _is_described(weights: Path, sidecar: Path, size: int) -> bool:
    """Whether ``sidecar`` is the v1 sidecar of ``weights``: it records their size and sha256.

    A ``.yaml`` that happens to sit beside a legacy zip (or was forged to) does not make it a
    v1 checkpoint, nor lend it the provenance it claims.
    """
    if not sidecar.is_file():
        return False
    try:
        recorded = read_sidecar(sidecar)
    except (CheckpointError, OSError):
        return False
    return recorded.size == size and sha256_file(weights)[0] == recorded.sha256


def _starts_like_pickle(head: bytes) -> bool:
    """A protocol 0/1 pickle: a first opcode pickles start with, then opcodes that decode
    (text that happens to begin with ``(`` or ``c`` does not get far)."""
    if head[:1] == b"" or head[0] not in _PICKLE_STARTS:
        return False
    try:
        with quiet_escapes():
            for count, (opcode, _, _) in enumerate(pickletools.genops(io.BytesIO(head)), 1):
                if opcode.name == "STOP" or count == _OPCODES_CHECKED:
                    return True
    except (ValueError, EOFError, struct.error, UnicodeDecodeError):
        return False
    return False


@dataclass(frozen=True)
class MainPickle:
    """The pickle holding a checkpoint's object graph, and what its container says."""

    data: bytes
    hints: list[str] = field(default_factory=list)
    #: Legacy streams: the magic number, protocol and sys_info pickles before ``data``.
    preamble: tuple[bytes, ...] = ()
    #: Legacy streams: the offset just past ``data`` (where the storage key list starts).
    end: int = 0
    #: Zip archives: where each record lies.
    layout: ZipLayout | None = None


class Bounded:
    """A file whose ``read(n)`` never asks for more than the file has left.

    ``pickletools`` reads an operand by its declared length; on a real file a forged
    length of 2**62 would allocate before failing.
    """

    def __init__(self, file: io.BufferedIOBase, size: int) -> None:
        self._file = file
        self._size = size

    def read(self, n: int = -1) -> bytes:
        left = self._size - self._file.tell()
        return self._file.read(left if n < 0 else min(n, left))

    def readline(self) -> bytes:
        return self._file.readline()

    def tell(self) -> int:
        return self._file.tell()

    def seek(self, offset: int) -> int:
        return self._file.seek(offset)


def skip_pickle(stream: Bounded | io.BytesIO, path: Path) -> None:
    """Move ``stream`` past one pickle without building anything."""
    try:
        with quiet_escapes():
            for opcode, _, _ in pickletools.genops(cast(IO[bytes], stream)):
                if opcode.name == "STOP":
                    return
    except (ValueError, EOFError, struct.error) as exc:
        raise UnreadableCheckpointError(f"a pickle in the stream is corrupt ({exc})", path) from exc
    raise UnreadableCheckpointError("a pickle in the stream is truncated", path)


def read_pickle(stream: Bounded | io.BytesIO, path: Path) -> bytes:
    """The bytes of the next pickle in ``stream`` (found statically), leaving it past them."""
    start = stream.tell()
    skip_pickle(stream, path)
    end = stream.tell()
    stream.seek(start)
    return stream.read(end - start)


def main_pickle(path: Path, fmt: Format) -> MainPickle:
    """Read the main pickle of ``path`` (only the pickle, never the tensor data)."""
    size = path.stat().st_size
    if fmt in (Format.TORCH_ZIP, Format.V1):
        try:
            with path.open("rb") as stream:
                layout = ZipLayout.of_file(stream, path)
                record = layout.read(stream, "data.pkl", size, path)
                return MainPickle(bytes(record), layout.hints(stream, path), layout=layout)
        except UnreadableCheckpointError:
            raise
        except ZIP_ERRORS as exc:
            raise UnreadableCheckpointError(f"not a readable zip archive ({exc})", path) from exc
    if fmt is Format.TORCH_LEGACY:
        with path.open("rb") as raw:
            file = Bounded(raw, size)
            preamble = tuple(read_pickle(file, path) for _ in range(LEGACY_PREAMBLE))
            data = read_pickle(file, path)
            hint = "legacy stream: torch < 1.6, or _use_new_zipfile_serialization=False"
            return MainPickle(data, [hint], preamble, file.tell())
    if fmt is Format.TORCH_TAR:
        return _tar_pickle(path, size)
    if fmt is Format.PICKLE:
        return MainPickle(path.read_bytes())
    raise UnreadableCheckpointError(f"a {fmt} file holds no pickle", path)


def _tar_pickle(path: Path, size: int) -> MainPickle:
    try:
        with tarfile.open(path) as archive:
            member = archive.getmember("pickle")
            stream = archive.extractfile(member)
            if stream is None or member.size > size:
                raise UnreadableCheckpointError("the tar member 'pickle' is not a file", path)
            return MainPickle(stream.read(), ["tar archive: written by torch < 0.1.10"])
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise UnreadableCheckpointError(
            f"not a torch tar archive ({exc}); it needs a 'pickle' member", path
        ) from exc


def safetensors_header(path: Path) -> tuple[dict[str, object], int]:
    """The JSON header of a safetensors file and the offset where its tensor data starts."""
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        if length > min(path.stat().st_size - 8, _MAX_SAFETENSORS_HEADER):
            raise UnreadableCheckpointError("the safetensors header overruns the file", path)
        try:
            header = loads(file.read(length))
        except ValueError as exc:
            raise UnreadableCheckpointError(
                f"the safetensors header is malformed ({exc})", path
            ) from exc
    if not isinstance(header, dict):
        raise UnreadableCheckpointError("the safetensors header is not a JSON object", path)
    return header, 8 + length
