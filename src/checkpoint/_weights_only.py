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
import io
import pickle
from pathlib import Path
from typing import Any

from ._picklenames import resolve_global
from ._tensorpickle import MalformedError, storage_of, tensor_globals
from ._ziparchive import ZipLayout, ZipStorages
from .errors import UnreadableCheckpointError, UnsafeCheckpointError

__all__ = ["read_weights_only"]

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
