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

    @classmethod
    def of_file(cls, file: io.BufferedIOBase, path: Path) -> ZipLayout:
        """The layout of the archive ``file`` (left open); a damaged archive names ``path``."""
        try:
            with zipfile.ZipFile(file) as archive:
                return cls.of(archive, path)
        except UnreadableCheckpointError:
            raise
        except ZIP_ERRORS as exc:
            raise UnreadableCheckpointError(f"not a readable zip archive ({exc})", path) from exc

    @property
    def storage_folder(self) -> str:
        """Where storages lie: ``data``, or ``tensors`` in torch 1.4/1.5's first zip format."""
        first_format = any(name.startswith("tensors/") for name in self.infos)
        return (
            "tensors"
            if first_format and not any(n.startswith("data/") for n in self.infos)
            else "data"
        )

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
