"""Recognise a checkpoint's container and find its main pickle, without unpickling anything.

torch writes three containers: the zip archive (torch >= 1.6 default), the legacy stream
(magic, protocol and sys_info pickles, the main pickle, a list of storage keys, then raw
storages) and, before torch 0.1.10, a tar archive. Next to them we meet bare pickles,
safetensors files and our own v1 checkpoints (a zip ``.pt`` with a ``.yaml`` sidecar).
"""

from __future__ import annotations

import io
import json
import pickletools
import struct
import tarfile
import zipfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from zlib_ng.zlib_ng import crc32

from checkpoint.errors import UnreadableCheckpointError

from ._scan import quiet_escapes

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "LEGACY_MAGIC",
    "ZIP_ERRORS",
    "Bounded",
    "Format",
    "MainPickle",
    "ZipLayout",
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
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
#: What ``zipfile`` raises on a damaged archive (bad names, sizes, headers, methods).
ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    ValueError,
    KeyError,
    OverflowError,
    NotImplementedError,
    RuntimeError,
    struct.error,
)


class Format(StrEnum):
    """The container a file uses."""

    TORCH_ZIP = "torch-zip"
    TORCH_LEGACY = "torch-legacy"
    TORCH_TAR = "torch-tar"
    PICKLE = "pickle"
    SAFETENSORS = "safetensors"
    V1 = "v1"
    NOT_A_CHECKPOINT = "not-a-checkpoint"


def detect(path: Path) -> Format:
    """The container of ``path``, from its first bytes (and its sidecar for v1)."""
    with path.open("rb") as file:
        head = file.read(16)
        size = file.seek(0, io.SEEK_END)
    if head.startswith(_ZIP_MAGIC):
        return Format.V1 if path.with_suffix(".yaml").is_file() else Format.TORCH_ZIP
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
    protocol_0_or_1 = head[:1] != b"" and head[0] in _PICKLE_STARTS
    return Format.PICKLE if protocol_0_or_1 else Format.NOT_A_CHECKPOINT


_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
"""A zip local file header; its last two fields are the name and extra-field lengths."""
_CRC_CHUNK = 1 << 18


def _check_crc(value: int, info: zipfile.ZipInfo, record: str, path: Path) -> None:
    """A stored CRC of 0 is torch's mark for "not computed" (``set_crc32_options``)."""
    if info.CRC and value != info.CRC:
        raise UnreadableCheckpointError(
            f"record {record!r} fails its CRC check: the file is corrupt", path
        )


@dataclass(frozen=True)
class ZipLayout:
    """The records of a torch zip archive, all under one ``<archive>/`` prefix."""

    prefix: str
    infos: dict[str, zipfile.ZipInfo]

    @classmethod
    def of(cls, archive: zipfile.ZipFile, path: Path) -> ZipLayout:
        pickles = [name for name in archive.namelist() if name.endswith("data.pkl")]
        if len(pickles) != 1 or pickles[0].count("/") > 1:
            raise UnreadableCheckpointError(
                f"a torch zip archive holds exactly one <archive>/data.pkl, found {pickles}; "
                "this zip is not a torch checkpoint",
                path,
            )
        prefix = pickles[0].removesuffix("data.pkl")
        infos = {
            info.filename.removeprefix(prefix): info
            for info in archive.infolist()
            if info.filename.startswith(prefix)
        }
        for info in infos.values():
            if info.compress_type != zipfile.ZIP_STORED:
                raise UnreadableCheckpointError(
                    f"record {info.filename} is compressed, which torch never writes; "
                    "re-save the checkpoint with torch.save",
                    path,
                )
        return cls(prefix, infos)

    def size(self, record: str, limit: int, path: Path) -> int:
        """The size of one record, checked against ``limit`` so a caller can allocate it."""
        info = self.infos.get(record)
        if info is None:
            raise UnreadableCheckpointError(f"the archive has no record {record!r}", path)
        if info.file_size > limit:
            raise UnreadableCheckpointError(
                f"record {record!r} claims {info.file_size} bytes, more than the file holds",
                path,
            )
        return info.file_size

    def _seek_data(self, file: io.BufferedIOBase, record: str, path: Path) -> zipfile.ZipInfo:
        """Move ``file`` to the first byte of ``record``'s data, past its local header."""
        info = self.infos[record]
        file.seek(info.header_offset)
        header = file.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
            raise UnreadableCheckpointError(f"record {record!r} has a broken zip header", path)
        name_length, extra_length = _LOCAL_HEADER.unpack(header)[-2:]
        file.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
        return info

    def read_into(
        self,
        file: io.BufferedIOBase,
        record: str,
        buffer: WriteableBuffer,
        path: Path,
        *,
        check_crc: bool = True,
    ) -> None:
        """Fill ``buffer`` (sized by ``size``) with one record, in one read.

        zipfile's own stream reads in small chunks, several times slower; records are
        stored, never compressed, so the bytes are read as they are.
        """
        info = self._seek_data(file, record, path)
        if file.readinto(buffer) != info.file_size:
            raise UnreadableCheckpointError(f"record {record!r} is truncated", path)
        if check_crc:
            _check_crc(crc32(buffer), info, record, path)

    def read(self, file: io.BufferedIOBase, record: str, limit: int, path: Path) -> bytearray:
        """The bytes of one record, its size checked against ``limit`` before allocating."""
        buffer = bytearray(self.size(record, limit, path))
        self.read_into(file, record, buffer, path)
        return buffer

    def check_crcs(self, file: io.BufferedIOBase, path: Path) -> None:
        """Check every record's CRC, reading each in cache-sized pieces."""
        chunk = bytearray(_CRC_CHUNK)
        for record in self.infos:
            info = self._seek_data(file, record, path)
            value, left = 0, info.file_size
            while left:
                view = memoryview(chunk)[: min(left, _CRC_CHUNK)]
                if not file.readinto(view):
                    raise UnreadableCheckpointError(f"record {record!r} is truncated", path)
                value = crc32(view, value)
                left -= len(view)
            _check_crc(value, info, record, path)

    def hints(self, file: io.BufferedIOBase, path: Path) -> list[str]:
        """What the records tell about the torch that wrote the archive."""
        version = self.read(file, "version", 64, path) if "version" in self.infos else b"?"
        found = [f"zip serialization version {version.decode(errors='replace').strip()}"]
        if ".format_version" in self.infos:
            found.append("written by torch >= 2.6 (.format_version record)")
        elif "byteorder" in self.infos:
            found.append("written by torch 2.1-2.5 (byteorder record, no .format_version)")
        else:
            found.append("written by torch 1.6-2.0 (zip without a byteorder record)")
        if "byteorder" in self.infos:
            order = self.read(file, "byteorder", 16, path).decode(errors="replace")
            found.append(f"byteorder {order}")
        return found


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
                with zipfile.ZipFile(stream) as archive:
                    layout = ZipLayout.of(archive, path)
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
        header = json.loads(file.read(length))
    if not isinstance(header, dict):
        raise UnreadableCheckpointError("the safetensors header is not a JSON object", path)
    return header, 8 + length
