"""Whether a v1 weights file is what the format promises: ``torch.save`` of tensors, nothing else.

A sidecar's sha256 vouches that the bytes did not change since commit, not that they were
ever harmless: whoever can write a `.pt` can rewrite its sidecar too. And
``torch.load(weights_only=True)`` is no fence against everything: it takes ``bytearray(n)``
with ``n`` from the file, and torch's zip reader and Python's can find different
``data.pkl`` records in one crafted archive. So before the manager loads a v1 file, and when
``ckpt verify`` checks one, the archive's layout is checked (``ZipLayout``) and the pickle's
opcodes are read without running any: only the opcodes ``torch.save`` of a state_dict
writes, and only torch's tensor machinery as globals. Torch-free, so verifying v1
checkpoints never imports torch.
"""

from __future__ import annotations

import functools
import pickletools
from pathlib import Path

from ._picklenames import resolve_global
from ._tensornames import weights_globals
from ._ziparchive import ZIP_ERRORS, ZipLayout
from .errors import UnreadableCheckpointError, UnsafeCheckpointError

__all__ = ["check_plain_weights", "protocol2_globals"]

_REFUSED = "refused, nothing was run: its pickle {what}, which a v1 weights file never holds"
_FIX = (
    "do not load it: restore the checkpoint from a backup (`ckpt inspect` shows what the "
    "file holds)"
)


def check_plain_weights(path: Path) -> None:
    """Raise ``UnsafeCheckpointError`` unless ``path`` is a torch zip archive whose pickle
    holds tensors only (``UnreadableCheckpointError`` if it cannot be read as one).

    A file is checked once per process while its identity holds: device, inode, size,
    mtime and ctime (which no one can set back), so any rewrite is checked again.
    """
    try:
        status = path.stat()
    except OSError as exc:
        raise UnreadableCheckpointError(f"cannot be read ({exc.strerror})", path) from exc
    identity = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
    _check_once(path, (*identity, status.st_ctime_ns))


@functools.lru_cache(maxsize=4096)
def _check_once(path: Path, identity: tuple[int, ...]) -> None:
    """``check_plain_weights`` of the file version ``identity``; a refusal is not cached."""
    try:
        with path.open("rb") as file:
            layout = ZipLayout.of_file(file, path)
            data = layout.read(file, "data.pkl", identity[2], path)
    except OSError as exc:
        raise UnreadableCheckpointError(f"cannot be read ({exc.strerror})", path) from exc
    except ZIP_ERRORS as exc:
        raise UnreadableCheckpointError(f"not a readable zip archive ({exc})", path) from exc
    allowed = weights_globals()
    for module, name in protocol2_globals(data, path):
        qualified = resolve_global(module, name)
        if qualified not in allowed:
            raise UnsafeCheckpointError(
                f"{_REFUSED.format(what=f'names {qualified}')}; {_FIX}", path
            )


#: The opcodes with a fixed-size argument (or none) that ``torch.save`` (protocol 2) writes
#: for a state_dict of tensors; ``protocol2_globals`` reads the variable-length ones.
_FIXED_OPCODES = (
    "PROTO", "BINPUT", "LONG_BINPUT", "BINGET", "LONG_BINGET", "MARK", "BININT", "BININT1",
    "BININT2", "BINFLOAT", "NONE", "NEWTRUE", "NEWFALSE", "EMPTY_DICT", "EMPTY_TUPLE",
    "EMPTY_LIST", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "REDUCE", "BUILD", "SETITEM",
    "SETITEMS", "APPEND", "APPENDS", "BINPERSID",
)  # fmt: skip
#: Opcode byte -> size of its argument.
_FIXED = {
    ord(opcode.code): 0 if opcode.arg is None else opcode.arg.n
    for opcode in pickletools.opcodes
    if opcode.name in _FIXED_OPCODES
}
_GLOBAL, _BINUNICODE, _LONG1, _STOP = (ord(code) for code in "cX\x8a.")


def protocol2_globals(data: bytes | bytearray, path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``GLOBAL`` in a pickle of the opcodes ``torch.save`` of a
    state_dict writes, read without running anything. Any other opcode (``STACK_GLOBAL``,
    ``BYTEARRAY8``, a string opcode torch never uses...) raises ``UnsafeCheckpointError``,
    a pickle cut short ``UnreadableCheckpointError``, both naming ``path``.

    A loop over the opcodes with a table of argument sizes: about five times faster than
    ``pickletools.genops``, which a load would otherwise pay on every call.
    """
    found: list[tuple[str, str]] = []
    position, end, fixed = 0, len(data), _FIXED
    try:
        while position < end:
            opcode = data[position]
            position += 1
            size = fixed.get(opcode)
            if size is not None:
                position += size
            elif opcode == _BINUNICODE:
                position += 4 + int.from_bytes(data[position : position + 4], "little")
            elif opcode == _GLOBAL:
                module_end = data.index(b"\n", position)
                name_end = data.index(b"\n", module_end + 1)
                module = bytes(data[position:module_end]).decode("utf-8")
                found.append((module, bytes(data[module_end + 1 : name_end]).decode("utf-8")))
                position = name_end + 1
            elif opcode == _LONG1:
                position += 1 + data[position]
            elif opcode == _STOP:
                return found
            else:
                what = f"holds the opcode {bytes([opcode])!r} (byte {position - 1})"
                raise UnsafeCheckpointError(
                    f"{_REFUSED.format(what=what)} (torch.save never writes it); {_FIX}", path
                )
    except (ValueError, IndexError) as exc:  # a GLOBAL without its newlines, bad UTF-8
        raise UnreadableCheckpointError(f"its pickle is malformed ({exc})", path) from exc
    raise UnreadableCheckpointError("its pickle ends before its STOP opcode", path)
