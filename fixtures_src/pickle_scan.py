"""Static pickle inspection shared by the corpus generators (stdlib only, never unpickles).

Runs under the modern interpreter (hostile corpus, manifests) and under the old Pythons of the
throwaway torch venvs (legacy corpus), so it keeps to syntax that Python 3.8 accepts.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path

# Opcodes that push a str which a later STACK_GLOBAL may consume as module or attribute name.
_STRING_OPS = frozenset(
    {
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
        "UNICODE",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
    }
)
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})

# The first bytes of every legacy (non-zip) torch file: pickle.dumps(0x1950A86A20F9469CFC6C, 2).
LEGACY_MAGIC_PREFIX = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def pickle_globals(data: bytes) -> list[str]:
    """Every ``module.name`` the first pickle in ``data`` imports, found without executing it.

    Covers GLOBAL and INST (protocol 0-2, name in the opcode argument) and STACK_GLOBAL
    (protocol 4+, names taken from the strings pushed before it, possibly via the memo).
    An unresolvable STACK_GLOBAL is reported as ``<unresolved STACK_GLOBAL>``.
    """
    found: set[str] = set()
    memo: dict[int, object] = {}
    pushed: list[object] = []  # recent stack pushes relevant to STACK_GLOBAL
    for opcode, arg, _pos in pickletools.genops(io.BytesIO(data)):
        name = opcode.name
        if name in ("GLOBAL", "INST"):
            module, _, attr = str(arg).partition(" ")
            found.add(module + "." + attr)
            pushed.append(None)
        elif name == "STACK_GLOBAL":
            if len(pushed) >= 2 and isinstance(pushed[-2], str) and isinstance(pushed[-1], str):
                found.add(str(pushed[-2]) + "." + str(pushed[-1]))
            else:
                found.add("<unresolved STACK_GLOBAL>")
            pushed.append(None)
        elif name in _STRING_OPS:
            pushed.append(arg if isinstance(arg, str) else None)
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif name in _PUT_OPS:
            memo[int(arg)] = pushed[-1] if pushed else None  # type: ignore[arg-type]
        elif name in _GET_OPS:
            pushed.append(memo.get(int(arg)))  # type: ignore[arg-type]
        elif name == "STOP":
            break
        else:
            pushed.append(None)
    return sorted(found)


def split_pickles(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte ranges of the consecutive pickles at the start of ``data``.

    Stops at the first byte that does not start a well-formed pickle (for legacy torch files
    that is where the raw storage bytes begin).
    """
    ranges: list[tuple[int, int]] = []
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        start = stream.tell()
        try:
            for opcode, _arg, _pos in pickletools.genops(stream):
                if opcode.name == "STOP":
                    break
        except ValueError:
            break
        ranges.append((start, stream.tell()))
    return ranges


def container_of(path: Path) -> str:
    """``zip``, ``legacy`` (torch non-zip) or ``pickle`` (a bare pickle stream)."""
    with path.open("rb") as fh:
        head = fh.read(len(LEGACY_MAGIC_PREFIX))
    if zipfile.is_zipfile(path):
        return "zip"
    if head == LEGACY_MAGIC_PREFIX:
        return "legacy"
    return "pickle"


def main_pickle(path: Path) -> bytes:
    """The pickle that holds the checkpoint's object graph, read without unpickling anything.

    zip: ``<archive>/data.pkl``; legacy: the 4th pickle after magic number, protocol version
    and sys_info; a bare pickle: the whole file.
    """
    container = container_of(path)
    data = path.read_bytes()
    if container == "zip":
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(names) != 1:
                raise ValueError(f"{path}: expected one data.pkl, found {names}")
            return zf.read(names[0])
    if container == "legacy":
        ranges = split_pickles(data)
        if len(ranges) < 4:
            raise ValueError(f"{path}: legacy torch file with {len(ranges)} pickles (< 4)")
        start, end = ranges[3]
        return data[start:end]
    return data
