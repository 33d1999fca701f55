"""Static reading of a pickle: which globals it names and which of them it would call.

The opcodes are walked with ``pickletools.genops`` and the pickle stack is simulated with
symbolic values, so a global is tracked through the memo and STACK_GLOBAL's string
operands. Nothing is imported, built or called.
"""

from __future__ import annotations

import io
import pickletools
import struct
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["PickleScan", "quiet_escapes", "scan_pickle"]

_STRING_OPS = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"}
    | {"STRING", "BINSTRING", "SHORT_BINSTRING"}
)
_BYTES_OPS = frozenset({"SHORT_BINBYTES", "BINBYTES", "BINBYTES8"})
_CALL_OPS = frozenset({"REDUCE", "NEWOBJ", "NEWOBJ_EX"})
_MAX_NESTED_DEPTH = 2
_MAX_NESTED_BYTES = 1 << 20
_MAX_NESTED_PICKLES = 8


class _Global(str):
    """A value on the simulated stack that is a global ``module.name``."""


class _Persistent:
    """A value on the simulated stack that a persistent id resolves to (legacy module classes)."""


@dataclass
class PickleScan:
    """What one static pass over a pickle found."""

    protocol: int = 0
    globals: set[str] = field(default_factory=set)
    #: Globals applied to arguments by REDUCE, INST or OBJ (a class or function being called).
    called: set[str] = field(default_factory=set)
    #: Globals of pickles hidden in bytes operands (payloads for a nested ``pickle.loads``).
    nested_globals: set[str] = field(default_factory=set)
    #: Calls whose callable is neither a global nor a persistent id (e.g. the result of
    #: another call, as in ``getattr(module, "system")(...)``): never legitimate.
    dynamic_calls: int = 0


class _Simulator:
    def __init__(self, scan: PickleScan, depth: int) -> None:
        self.scan = scan
        self.depth = depth
        self.stack: list[object] = []
        self.marks: list[int] = []
        self.memo: dict[object, object] = {}

    def pop(self, count: int = 1) -> list[object]:
        if count > len(self.stack) - (self.marks[-1] if self.marks else 0):
            raise ValueError("pickle stack underflow")
        popped = self.stack[len(self.stack) - count :]
        del self.stack[len(self.stack) - count :]
        return popped

    def pop_mark(self) -> list[object]:
        if not self.marks:
            raise ValueError("pickle pops to a MARK that was never pushed")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def call(self, func: object) -> object:
        if isinstance(func, _Global):
            self.scan.called.add(str(func))
        elif not isinstance(func, _Persistent):
            self.scan.dynamic_calls += 1
        return None

    def step(self, op: pickletools.OpcodeInfo, arg: object) -> bool:
        if op.name == "STOP":
            return False
        _HANDLERS.get(op.name, _Simulator.generic)(self, op, arg)
        return True

    def proto(self, op: pickletools.OpcodeInfo, arg: object) -> None:
        self.scan.protocol = arg if isinstance(arg, int) else 0

    def mark(self, op: pickletools.OpcodeInfo, arg: object) -> None:
        self.marks.append(len(self.stack))

    def global_(self, op: pickletools.OpcodeInfo, arg: object) -> None:
        module, _, attr = str(arg).partition(" ")
        found = _Global(f"{module}.{attr}")
        self.scan.globals.add(found)
        if op.name == "INST":
            self.pop_mark()
            self.stack.append(self.call(found))
        else:
            self.stack.append(found)

    def stack_global(self, op: pickletools.OpcodeInfo, arg: object) -> None:
        owner, member = self.pop(2)
        resolved = isinstance(owner, str) and isinstance(member, str)
        found = _Global(f"{owner}.{member}" if resolved else "<unresolved STACK_GLOBAL>")
        self.scan.globals.add(found)
        self.stack.append(found)

    def obj(self, op: pickletools.OpcodeInfo, arg: object) -> None:
        items = self.pop_mark()
        if not items:
            raise ValueError("OBJ without a class")
        self.stack.append(self.call(items[0]))

    def reduce(self, op: pickletools.OpcodeInfo, arg: object) -> None:
        operands = self.pop(len(op.stack_before))
        self.stack.append(self.call(operands[0]))

    def string(self, op: pickletools.OpcodeInfo, arg: object) -> None:
        text = str(arg)
        if text[:1] == "\x80" and max(text) <= "\xff":
            self.nested(text.encode("latin-1"))  # py2-style bytes: _codecs.encode(text)
        self.stack.append(text)

    def raw_bytes(self, op: pickletools.OpcodeInfo, arg: object) -> None:
        self.nested(arg)
        self.stack.append(None)

    def put(self, op: pickletools.OpcodeInfo, arg: object) -> None:
        self.memo[len(self.memo) if arg is None else arg] = self.pop()[0]
        self.stack.append(self.memo[len(self.memo) - 1 if arg is None else arg])

    def get(self, op: pickletools.OpcodeInfo, arg: object) -> None:
        self.stack.append(self.memo.get(arg))

    def dup(self, op: pickletools.OpcodeInfo, arg: object) -> None:
        self.stack.append(self.pop()[0])
        self.stack.append(self.stack[-1])

    def generic(self, op: pickletools.OpcodeInfo, arg: object) -> None:
        before = op.stack_before
        if pickletools.markobject in before:
            self.pop_mark()
            self.pop(before.index(pickletools.markobject))
        else:
            self.pop(len(before))
        if op.name in ("PERSID", "BINPERSID"):
            self.stack.append(_Persistent())
        else:
            self.stack.extend([None] * len(op.stack_after))

    def nested(self, data: object) -> None:
        """Scan bytes that look like pickles (a torch legacy stream holds several in a row)."""
        if (
            self.depth >= _MAX_NESTED_DEPTH
            or not isinstance(data, bytes)
            or len(data) > _MAX_NESTED_BYTES
            or data[:1] != b"\x80"
        ):
            return
        stream = io.BytesIO(data)
        for _ in range(_MAX_NESTED_PICKLES):
            inner = PickleScan()
            try:
                _run(stream, inner, self.depth + 1)
            except (ValueError, EOFError, struct.error, OverflowError):
                return
            finally:
                self.scan.nested_globals |= inner.globals | inner.nested_globals


_Handler = Callable[[_Simulator, pickletools.OpcodeInfo, object], None]
_HANDLERS: dict[str, _Handler] = {
    "PROTO": _Simulator.proto,
    "MARK": _Simulator.mark,
    "GLOBAL": _Simulator.global_,
    "INST": _Simulator.global_,
    "STACK_GLOBAL": _Simulator.stack_global,
    "OBJ": _Simulator.obj,
    "DUP": _Simulator.dup,
    "MEMOIZE": _Simulator.put,
    **dict.fromkeys(_CALL_OPS, _Simulator.reduce),
    **dict.fromkeys(_STRING_OPS, _Simulator.string),
    **dict.fromkeys(_BYTES_OPS, _Simulator.raw_bytes),
    **dict.fromkeys(("PUT", "BINPUT", "LONG_BINPUT"), _Simulator.put),
    **dict.fromkeys(("GET", "BINGET", "LONG_BINGET"), _Simulator.get),
}


def _run(stream: io.BytesIO, scan: PickleScan, depth: int) -> None:
    simulator = _Simulator(scan, depth)
    for op, arg, _ in pickletools.genops(stream):
        if not simulator.step(op, arg):
            return
    raise ValueError("the pickle ends without a STOP opcode")


@contextmanager
def quiet_escapes() -> Iterator[None]:
    """Silence the codec's warning about odd escapes in py2 STRING operands: only data here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def scan_pickle(data: bytes) -> PickleScan:
    """Statically scan one pickle. Raises ``ValueError`` when it is malformed."""
    scan = PickleScan()
    try:
        with quiet_escapes():
            _run(io.BytesIO(data), scan, 0)
    except (EOFError, struct.error, OverflowError) as exc:
        raise ValueError(str(exc)) from exc
    return scan
