"""Checkpoints stored as several files: finding their layout, reading their members.

A directory, or a zip archive that is not a torch file, is one checkpoint when a layout
(``compat_checkpoint_layouts``) accepts its file names. Members of an archive are copied
to a private temporary directory first, each within a size budget checked before and
while it inflates, so a compressed bomb is stopped; members of a directory must be
regular files. ``_safe`` reads each member and combines them into one result.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from checkpoint._boundedjson import loads
from checkpoint._budget import memory_budget
from checkpoint._ziparchive import ZIP_ERRORS
from checkpoint.errors import UnreadableCheckpointError
from compat.host._hookspecs import BundleMember, Layout
from compat.host._pluginhost import get_host

__all__ = [
    "Bundle",
    "archive_names",
    "enabled_layouts",
    "find_bundle",
    "member_files",
    "read_member",
]

#: JSON and text members are metadata: larger ones are not what a layout described.
MAX_TEXT_MEMBER = 64 << 20
_CHUNK = 1 << 20
SERIALIZED = ":serialized:"


@dataclass(frozen=True)
class Bundle:
    """One checkpoint made of several files."""

    path: Path
    layout: str
    #: File name (in the directory or archive) -> how it is read.
    members: Mapping[str, BundleMember]
    archive: bool


def _directory_names(path: Path) -> list[str]:
    """The regular, visible files of ``path`` (never a symlink, FIFO or device)."""
    names = []
    with os.scandir(path) as entries:
        for entry in entries:
            if not entry.name.startswith(".") and stat.S_ISREG(
                entry.stat(follow_symlinks=False).st_mode
            ):
                names.append(entry.name)
    return sorted(names)


#: A zip's first local file header: signature, 22 bytes, the name's and extra field's lengths.
_LOCAL_HEADER = struct.Struct("<4s22sHH")
_TORCH_PICKLE = b"data.pkl"


def _starts_with_torch_pickle(path: Path) -> bool:
    """Whether the archive's first record is a ``data.pkl``, as torch writes it (every
    release since 1.6): a torch file is told apart without reading its directory."""
    with path.open("rb") as file:
        head = file.read(_LOCAL_HEADER.size + 1024)
    if len(head) < _LOCAL_HEADER.size:
        return False
    signature, _, name_length, _ = _LOCAL_HEADER.unpack_from(head)
    name = head[_LOCAL_HEADER.size : _LOCAL_HEADER.size + name_length]
    return signature == b"PK\x03\x04" and name.endswith(_TORCH_PICKLE)


def archive_names(path: Path) -> list[str] | None:
    """The files of a zip archive, or ``None`` when it is a torch file (a ``data.pkl``)."""
    try:
        if _starts_with_torch_pickle(path):
            return None
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except ZIP_ERRORS as exc:
        raise UnreadableCheckpointError(f"not a readable zip archive ({exc})", path) from exc
    if any(name.endswith("data.pkl") for name in names):
        return None
    return names


def enabled_layouts() -> list[Layout]:
    """The enabled plugins' layouts, in hook order (the first to accept files wins)."""
    return [layout for found in get_host().hook.compat_checkpoint_layouts() for layout in found]


def find_bundle(path: Path, layouts: Iterable[Layout], *, archive: bool) -> Bundle | None:
    """The layout ``path`` (a directory, or a zip archive when ``archive``) is stored in."""
    names = archive_names(path) if archive else _directory_names(path)
    if names is None:
        return None
    for layout in layouts:
        members = layout.members(names)
        if members:
            unknown = sorted(set(members) - set(names))
            if unknown:
                raise UnreadableCheckpointError(
                    f"layout {layout.name!r} names members the checkpoint lacks ({unknown}); "
                    "report it to the plugin that contributes it",
                    path,
                )
            return Bundle(path, layout.name, dict(members), archive)
    return None


def _extract(archive: zipfile.ZipFile, name: str, target: Path, budget: list[int]) -> None:
    """Copy one member to ``target``, stopping as soon as it inflates past its declared
    size or the bundle's budget."""
    info = archive.getinfo(name)
    if info.file_size > budget[0]:
        raise ValueError(f"member {name!r} claims {info.file_size} bytes, over the budget")
    with archive.open(info) as source, target.open("wb") as sink:
        written = 0
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > info.file_size or written > budget[0]:
                raise ValueError(f"member {name!r} inflates past the size it declares")
            sink.write(chunk)
    budget[0] -= written


@contextmanager
def member_files(bundle: Bundle) -> Iterator[dict[str, Path]]:
    """``member name -> a local file`` for the duration of the block."""
    if not bundle.archive:
        yield {name: bundle.path / name for name in bundle.members}
        return
    budget = [memory_budget(bundle.path.stat().st_size)]
    with tempfile.TemporaryDirectory(prefix="ckpt-bundle-") as scratch:
        files = {}
        try:
            with zipfile.ZipFile(bundle.path) as archive:
                for index, name in enumerate(sorted(bundle.members)):
                    files[name] = Path(scratch) / f"member-{index}"
                    _extract(archive, name, files[name], budget)
        except ZIP_ERRORS as exc:
            raise UnreadableCheckpointError(
                f"a member cannot be read ({exc})", bundle.path
            ) from exc
        yield files


def read_member(path: Path, member: BundleMember, read_pickle: Callable[[bytes], object]) -> object:
    """A JSON, text or pickled-JSON member's content; ``ValueError`` if it is malformed."""
    if path.stat().st_size > MAX_TEXT_MEMBER:
        raise ValueError(
            f"it is over {MAX_TEXT_MEMBER} bytes, too large for a {member.reader} member"
        )
    raw = path.read_bytes()
    if member.reader == "text":
        return raw.decode("utf-8", "replace")
    document = loads(raw)
    if member.reader == "pickled_json":
        return _unserialized(document, read_pickle)
    return document


def _unserialized(document: object, read_pickle: Callable[[bytes], object]) -> object:
    """Stable-Baselines3's ``data``: each ``{":serialized:": base64, ...}`` value becomes the
    object graph its pickle describes, as the inert engine builds it."""
    if not isinstance(document, dict):
        raise ValueError("it is not a JSON object")
    result: dict[str, object] = {}
    for key, value in document.items():
        if isinstance(value, dict) and isinstance(value.get(SERIALIZED), str):
            try:
                data = base64.b64decode(value[SERIALIZED], validate=True)
            except binascii.Error as exc:
                raise ValueError(f"{key}: its {SERIALIZED} value is not base64") from exc
            result[key] = read_pickle(data)
        else:
            result[key] = value
    return result
