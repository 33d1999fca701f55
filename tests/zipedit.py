"""Damage one byte of a torch zip archive in place, for the corruption tests."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path


def flip_record_byte(path: Path, record: str, offset: int) -> None:
    """Flip the byte at ``offset`` in the data of the record whose name ends with ``record``.

    The data starts after the record's local header, whose extra field (torch pads it to
    align tensors) can differ from the central directory's copy.
    """
    with zipfile.ZipFile(path) as archive:
        [info] = [i for i in archive.infolist() if i.filename.endswith(record)]
    data = bytearray(path.read_bytes())
    names, extras = struct.unpack_from("<HH", data, info.header_offset + 26)
    data[info.header_offset + 30 + names + extras + offset] ^= 0xFF
    path.write_bytes(bytes(data))
