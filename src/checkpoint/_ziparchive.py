"""torch's zip archive, read by ourselves: where each record lies, read whole, CRC-checked.

``torch.save`` writes a zip of stored (never compressed) records under one
``<archive>/`` prefix: ``data.pkl`` (the pickle), ``data/<key>`` (one per storage) and a
few small markers. torch 1.4 and 1.5 wrote the first version of the format, with each
storage under ``tensors/<key>`` instead (``version`` record ``1``), which torch >= 1.6
cannot read; this reader can. zipfile's own record stream reads in small chunks, several times
slower; these readers find a record's data once and read it in one call.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zlib_ng.zlib_ng import crc32

from ._budget import memory_budget
from .errors import UnreadableCheckpointError

if TYPE_CHECKING:
    import torch
    from _typeshed import WriteableBuffer

__all__ = ["ZIP_ERRORS", "ZipLayout", "ZipStorages"]

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

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
"""A zip local file header; its last two fields are the name and extra-field lengths."""
_CRC_CHUNK = 1 << 18


def _data_offset(file: io.BufferedIOBase, info: zipfile.ZipInfo, path: Path) -> int:
    """Where a record's data starts, once its local header agrees with the directory."""
    file.seek(info.header_offset)
    header = file.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise UnreadableCheckpointError(f"record {info.filename!r} has a broken zip header", path)
    _, _, flags, method, _, _, crc, compressed, size, name_length, extra_length = (
        _LOCAL_HEADER.unpack(header)
    )
    name = file.read(name_length)
    described = (crc, compressed, size) == (info.CRC, info.compress_size, info.file_size)
    deferred = flags & _DATA_DESCRIPTOR and {crc, compressed, size} <= _UNKNOWN
    if (
        name != info.orig_filename.encode()
        or method != info.compress_type
        or not (described or deferred or {compressed, size} <= _UNKNOWN)
    ):
        raise _refuse(f"record {info.filename!r}'s local header contradicts the directory", path)
    start: int = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    return start


def _check_crc(value: int, info: zipfile.ZipInfo, record: str, path: Path) -> None:
    """A stored CRC of 0 is torch's mark for "not computed" (``set_crc32_options``)."""
    if info.CRC and value != info.CRC:
        raise UnreadableCheckpointError(
            f"record {record!r} fails its CRC check: the file is corrupt", path
        )


_EOCD = struct.Struct("<4s4H2LH")
#: How far from the end a zip's end record can be: its size plus the longest comment.
_EOCD_SEARCH = _EOCD.size + 0xFFFF
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_DATA_DESCRIPTOR = 0x08  # general purpose flag bit 3: crc and sizes follow the data
_UNKNOWN = {0, 0xFFFFFFFF}  # a local header's crc or size left to the descriptor or zip64


def _refuse(reason: str, path: Path) -> UnreadableCheckpointError:
    return UnreadableCheckpointError(
        f"{reason}: zip readers could disagree on what it holds (torch's reader and Python's "
        "find different data in such archives), so it is not read; re-save it with torch.save",
        path,
    )


def _directory_span(file: io.BufferedIOBase, size: int, path: Path) -> tuple[int, int]:
    """Where the central directory starts and ends, from the end record torch writes last.

    The end record must close the file (no comment, nothing after it), and a zip64 end
    record, if present, must sit right before its locator and agree with it; the directory
    must end exactly where those records begin. Anything else (a second directory, data
    after the archive, a comment hiding a record) is refused.
    """
    if size < _EOCD.size:
        raise UnreadableCheckpointError("is too short to be a zip archive", path)
    file.seek(size - _EOCD.size)
    signature, *_, entries, cd_size, cd_offset, comment = _EOCD.unpack(file.read(_EOCD.size))
    if signature != b"PK\x05\x06" or comment:
        file.seek(max(0, size - _EOCD_SEARCH))
        if b"PK\x05\x06" not in file.read(_EOCD_SEARCH):
            raise UnreadableCheckpointError(
                "is truncated or damaged: it has no zip end-of-directory record (torch writes "
                "it last); restore the file from a backup or copy it again",
                path,
            )
        raise _refuse("it does not end with a plain end-of-directory record", path)
    end = size - _EOCD.size
    locator_at = end - _ZIP64_LOCATOR.size
    if locator_at >= 0:
        file.seek(locator_at)
        signature, _, zip64_at, _ = _ZIP64_LOCATOR.unpack(file.read(_ZIP64_LOCATOR.size))
        if signature == b"PK\x06\x07":
            if zip64_at != locator_at - _ZIP64_EOCD.size:
                raise _refuse("its zip64 end record is not where its locator says", path)
            file.seek(zip64_at)
            record = _ZIP64_EOCD.unpack(file.read(_ZIP64_EOCD.size))
            if record[0] != b"PK\x06\x06":
                raise _refuse("its zip64 locator points at no zip64 end record", path)
            entries64, cd_size64, cd_offset64 = record[7], record[8], record[9]
            for short, full in (
                (entries, entries64),
                (cd_size, cd_size64),
                (cd_offset, cd_offset64),
            ):
                if short not in (full, 0xFFFF, 0xFFFFFFFF):
                    raise _refuse("its end records disagree on the directory", path)
            cd_size, cd_offset, end = record[8], record[9], zip64_at
    if cd_offset + cd_size != end:
        raise _refuse("its central directory does not end where its end record begins", path)
    return cd_offset, end


@dataclass(frozen=True)
class ZipLayout:
    """The records of a torch zip archive, all under one ``<archive>/`` prefix.

    Built only from an archive two readers cannot read differently: one central directory
    that ends where the end record begins, records that start at byte 0, names unique and
    all under the prefix, each local header agreeing with the directory, and data spans
    that do not overlap. ``data_offsets`` says where each record's bytes start.
    """

    prefix: str
    infos: dict[str, zipfile.ZipInfo]
    data_offsets: dict[str, int]

    @classmethod
    def of_file(cls, file: io.BufferedIOBase, path: Path) -> ZipLayout:
        """The layout of the archive ``file`` (left open); a damaged archive names ``path``."""
        try:
            size = file.seek(0, io.SEEK_END)
            directory_start, _ = _directory_span(file, size, path)
            with zipfile.ZipFile(file) as archive:
                infos = archive.infolist()
            return cls._checked(file, infos, directory_start, path)
        except UnreadableCheckpointError:
            raise
        except ZIP_ERRORS as exc:
            raise UnreadableCheckpointError(f"not a readable zip archive ({exc})", path) from exc

    @classmethod
    def _checked(
        cls, file: io.BufferedIOBase, infos: list[zipfile.ZipInfo], directory_start: int, path: Path
    ) -> ZipLayout:
        names = [info.filename for info in infos]
        pickles = [name for name in names if name.endswith("data.pkl")]
        if len(pickles) != 1 or pickles[0].count("/") > 1:
            raise UnreadableCheckpointError(
                f"a torch zip archive holds exactly one <archive>/data.pkl, found {pickles}; "
                "this zip is not a torch checkpoint",
                path,
            )
        prefix = pickles[0].removesuffix("data.pkl")
        if len(set(names)) != len(names):
            raise _refuse("it holds two records of the same name", path)
        outside = [name for name in names if not name.startswith(prefix)]
        if outside:
            raise _refuse(f"it holds records outside {prefix!r} ({outside[:3]})", path)
        offsets = {info.filename: _data_offset(file, info, path) for info in infos}
        spans = sorted(
            (info.header_offset, offsets[info.filename] + info.compress_size) for info in infos
        )
        if spans and spans[0][0] != 0:
            raise _refuse("it has data before its first record", path)
        for (_, end), (start, _) in zip(spans, [*spans[1:], (directory_start, 0)], strict=True):
            if end > start:
                raise _refuse("its records overlap", path)
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED:
                raise UnreadableCheckpointError(
                    f"record {info.filename} is compressed, which torch never writes; "
                    "re-save the checkpoint with torch.save",
                    path,
                )
        return cls(
            prefix,
            {name.removeprefix(prefix): info for name, info in zip(names, infos, strict=True)},
            {name.removeprefix(prefix): offsets[name] for name in names},
        )

    @property
    def storage_folder(self) -> str:
        """Where storages lie: ``data``, or ``tensors`` in torch 1.4/1.5's first zip format."""
        folders = {name.partition("/")[0] for name in self.infos if "/" in name}
        return "tensors" if "tensors" in folders and "data" not in folders else "data"

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
        """Move ``file`` to the first byte of ``record``'s data."""
        file.seek(self.data_offsets[record])
        return self.infos[record]

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
        elif self.storage_folder == "tensors":
            found.append("written by torch 1.4-1.5 (first zip format: tensors/ records)")
        elif "byteorder" in self.infos:
            found.append("written by torch 2.1-2.5 (byteorder record, no .format_version)")
        else:
            found.append("written by torch 1.6-2.0 (zip without a byteorder record)")
        if "byteorder" in self.infos:
            order = self.read(file, "byteorder", 16, path).decode(errors="replace")
            found.append(f"byteorder {order}")
        return found


class ZipStorages:
    """Storages of a zip archive: record ``<archive>/data/<key>`` (``tensors/<key>`` in
    torch 1.4 and 1.5's first zip format), shared by key.

    Their CRCs are not checked here (nor by ``torch.load``): ``compat.load(check_crc=True)``
    checks every record before reading any.
    """

    def __init__(self, file: io.BufferedIOBase, layout: ZipLayout, path: Path, limit: int) -> None:
        self._file = file
        self._limit = limit
        self._layout = layout
        self._path = path
        self._cache: dict[str, torch.UntypedStorage] = {}
        self._folder = layout.storage_folder
        self.budget = memory_budget(limit)

    def get(self, key: str, dtype: torch.dtype, numel: int) -> torch.UntypedStorage:
        import torch  # here: listing and verifying v1 files reads zip layouts without torch

        nbytes = numel * dtype.itemsize
        storage = self._cache.get(key)
        if storage is None:
            record = f"{self._folder}/{key}"
            # torch's allocator, not a bytearray: it leaves the pages unzeroed, so each is
            # touched once, by the read.
            buffer = torch.empty(
                self._layout.size(record, self._limit, self._path), dtype=torch.uint8
            )
            self._layout.read_into(
                self._file, record, buffer.numpy().data, self._path, check_crc=False
            )
            storage = self._cache[key] = buffer.untyped_storage()
        if storage.nbytes() < nbytes:
            raise UnreadableCheckpointError(
                f"storage {key!r} holds {storage.nbytes()} bytes, the pickle expects {nbytes}",
                self._path,
            )
        return storage
