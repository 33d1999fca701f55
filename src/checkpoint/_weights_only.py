"""Reading a trainer state without ``torch.load``: tensors and plain containers, nothing else.

A trainer state has no sidecar vouching for its bytes, and ``torch.load(weights_only=True)``
is no fence on every torch: before 2.6 it can be made to run code (CVE-2025-32434), and on
every release its allowlist takes ``bytearray(n)`` with ``n`` from the file. So the manager
reads trainer states itself: a pickle unpickler whose globals are only torch's tensor
machinery (``_tensorpickle``, every argument checked) and standard containers, over
storages read from the archive with every size checked first. The pure-Python unpickler is
used on purpose: its memo is a dict (the C one sizes an array by an index from the file),
and a trainer state's pickle is small next to its tensor data.
"""

from __future__ import annotations

import collections
import functools
import io
import pickle
import pickletools
from pathlib import Path
from typing import Any

from ._picklenames import resolve_global
from ._tensorpickle import MalformedError, storage_of, tensor_globals
from ._ziparchive import ZipLayout, ZipStorages
from .errors import UnreadableCheckpointError, UnsafeCheckpointError

__all__ = ["check_weights_only", "read_weights_only"]

_GLOBALS: dict[str, object] = {
    **tensor_globals(),
    "collections.OrderedDict": collections.OrderedDict,
    **{f"builtins.{kind.__name__}": kind for kind in (set, frozenset, tuple, list, dict)},
}
_MALFORMED = (
    pickle.UnpicklingError,
    MalformedError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    EOFError,
    OverflowError,
    RuntimeError,
    MemoryError,
    RecursionError,
)


class _Unpickler(pickle._Unpickler):
    def __init__(self, data: bytes | bytearray, storages: ZipStorages, path: Path) -> None:
        super().__init__(io.BytesIO(data))
        self._storages = storages
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        qualified = resolve_global(module, name)
        if qualified not in _GLOBALS:
            raise UnsafeCheckpointError(
                f"refused, nothing was run: its pickle names {qualified}, which a trainer "
                "state written by CheckpointManager never holds; open it with compat.load "
                "or `ckpt inspect` to see what it is",
                self._path,
            )
        return _GLOBALS[qualified]

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise MalformedError(f"unexpected persistent id {pid!r:.60}")
        return storage_of(pid, self._storages)


def read_weights_only(path: Path) -> object:
    """The object a ``torch.save`` zip archive at ``path`` holds, if it is tensors and
    plain data. Raises ``UnsafeCheckpointError`` for any other global, and
    ``UnreadableCheckpointError`` for a damaged file; nothing in the file is ever run."""
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            layout = ZipLayout.of_file(file, path)
            data = layout.read(file, "data.pkl", size, path)
            unpickler = _Unpickler(data, ZipStorages(file, layout, path, size), path)
            return unpickler.load()
    except (UnsafeCheckpointError, UnreadableCheckpointError):
        raise
    except OSError as exc:
        raise UnreadableCheckpointError(f"cannot be read ({exc.strerror})", path) from exc
    except _MALFORMED as exc:
        raise UnreadableCheckpointError(f"its pickle is malformed ({exc})", path) from exc


def check_weights_only(path: Path) -> None:
    """Refuse, before ``torch.load(weights_only=True)`` sees it, a v1 weights file whose
    pickle names anything but torch's tensor machinery, or holds anything ``torch.save``
    of a state_dict never writes.

    A sidecar's sha256 vouches for bytes, not for who wrote them, and torch's allowlist
    takes ``bytearray(n)`` with ``n`` from the file. The archive's layout is checked on the
    way (``ZipLayout``): torch's zip reader and Python's must find the same ``data.pkl``.
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
    """``check_weights_only`` of the file version ``identity``; a refusal is not cached."""
    try:
        size = identity[2]
        with path.open("rb") as file:
            layout = ZipLayout.of_file(file, path)
            data = layout.read(file, "data.pkl", size, path)
        for module, name in protocol2_globals(data, path):
            qualified = resolve_global(module, name)
            if qualified not in _GLOBALS:
                raise UnsafeCheckpointError(
                    f"refused, nothing was run: its pickle names {qualified}, which a "
                    "state_dict written by CheckpointManager never holds; open it with "
                    "compat.load or `ckpt inspect` to see what it is",
                    path,
                )
    except (UnsafeCheckpointError, UnreadableCheckpointError):
        raise
    except OSError as exc:
        raise UnreadableCheckpointError(f"cannot be read ({exc.strerror})", path) from exc
    except _MALFORMED as exc:
        raise UnreadableCheckpointError(
            f"its pickle is not one torch.save of a state_dict writes ({exc}); open it with "
            "compat.load or `ckpt inspect` to see what it is",
            path,
        ) from exc


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
    ``BYTEARRAY8``, a string opcode torch never uses...) raises ``UnsafeCheckpointError``
    naming ``path``, a pickle cut short ``MalformedError``.

    A loop over the opcodes with a table of argument sizes: about five times faster than
    ``pickletools.genops``, which a load would otherwise pay on every call.
    """
    found: list[tuple[str, str]] = []
    position, end, fixed = 0, len(data), _FIXED
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
            raise UnsafeCheckpointError(
                f"refused, nothing was run: its pickle holds the opcode {bytes([opcode])!r} "
                f"(byte {position - 1}), which torch.save of a state_dict never writes; open "
                "it with compat.load or `ckpt inspect` to see what it is",
                path,
            )
    raise MalformedError("it ends before its STOP opcode")
