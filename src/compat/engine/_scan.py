"""Static reading of a pickle: which globals it names, which it calls, what it BUILDs.

Each global is recorded as the unpickler will resolve it (``resolve_global``): a Python 2
module name as the Python 3 module it maps to, an attribute walk as ``module:dotted.name``.

The opcodes are walked over the raw bytes, with the pickle stack simulated by symbolic
values, so a global is tracked through the memo and STACK_GLOBAL's string operands, and
the target of every BUILD is known. Nothing is imported, built or called. Operands the
simulation does not need are skipped by their declared length, not decoded; the unpickler
that runs afterwards rejects what is malformed in them.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from checkpoint._picklenames import resolve_global

__all__ = ["PERSISTENT", "UNRESOLVED", "PickleScan", "quiet_escapes", "scan_pickle"]

_MAX_NESTED_DEPTH = 2
_MAX_NESTED_BYTES = 1 << 20
_MAX_NESTED_PICKLES = 8
#: What ``PickleScan.built`` records for objects made by calling a persistent id.
PERSISTENT = "<persistent id>"
#: What ``PickleScan.globals`` records for a STACK_GLOBAL whose names are not plain strings.
UNRESOLVED = "<unresolved STACK_GLOBAL>"


class _Global(str):
    """A value on the simulated stack that is a global ``module.name``."""


class _Persistent:
    """A value on the simulated stack that a persistent id resolves to (legacy module classes)."""


class _Made:
    """A value on the simulated stack made by calling ``name`` (a global or ``PERSISTENT``)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


@dataclass
class PickleScan:
    """What one static pass over a pickle found."""

    protocol: int = 0
    globals: set[str] = field(default_factory=set)
    #: Globals applied to arguments by REDUCE, NEWOBJ, INST or OBJ (a class or function).
    called: set[str] = field(default_factory=set)
    #: Globals of pickles hidden in bytes operands (payloads for a nested ``pickle.loads``).
    nested_globals: set[str] = field(default_factory=set)
    #: Calls whose callable is neither a global nor a persistent id (e.g. the result of
    #: another call, as in ``getattr(module, "system")(...)``): never legitimate.
    dynamic_calls: int = 0
    #: The callables whose results a BUILD sets the state of.
    built: set[str] = field(default_factory=set)
    #: BUILDs whose target is not the result of a call (a global, a container, ...).
    opaque_builds: int = 0
    #: A memo index past the objects memoised so far: Python's writers never make one, and
    #: the C unpickler would size its memo array by it (gigabytes, from 9 bytes).
    sparse_memo: bool = False


_Operand = Callable[[bytes, int], tuple[object, int]]


def _need(data: bytes, end: int) -> None:
    if end > len(data):
        raise ValueError("the pickle is truncated")


def _line(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.find(b"\n", pos)
    if end < 0:
        raise ValueError("the pickle is truncated inside a line operand")
    return data[pos:end], end + 1


def _counted(width: int, signed: bool = False) -> Callable[[bytes, int], tuple[bytes, int]]:
    """An operand of ``width``-byte little-endian length, then that many bytes."""

    def read(data: bytes, pos: int) -> tuple[bytes, int]:
        _need(data, pos + width)
        length = int.from_bytes(data[pos : pos + width], "little", signed=signed)
        if length < 0:
            raise ValueError("the pickle declares a negative length")
        start = pos + width
        _need(data, start + length)
        return data[start : start + length], start + length

    return read


def _fixed(width: int) -> _Operand:
    def read(data: bytes, pos: int) -> tuple[object, int]:
        _need(data, pos + width)
        return int.from_bytes(data[pos : pos + width], "little"), pos + width

    return read


def _decoded(read: Callable[[bytes, int], tuple[bytes, int]], encoding: str) -> _Operand:
    def decode(data: bytes, pos: int) -> tuple[object, int]:
        raw, pos = read(data, pos)
        return raw.decode(encoding, "surrogatepass" if encoding == "utf-8" else "strict"), pos

    return decode


def _quoted_line(data: bytes, pos: int) -> tuple[object, int]:
    """Protocol 0 STRING: a quoted Python 2 literal; pickletools knows its escapes."""
    raw, end = _line(data, pos)
    return pickletools.read_stringnl(io.BytesIO(raw + b"\n")), end


def _global_pair(data: bytes, pos: int) -> tuple[object, int]:
    """GLOBAL and INST: module and name lines, resolved as the unpickler resolves them."""
    module, pos = _line(data, pos)
    name, pos = _line(data, pos)
    return resolve_global(module.decode("utf-8"), name.decode("utf-8")), pos


def _frame(data: bytes, pos: int) -> tuple[object, int]:
    """FRAME: the declared length of the frame must fit in what is left."""
    _need(data, pos + 8)
    _need(data, pos + 8 + int.from_bytes(data[pos : pos + 8], "little"))
    return None, pos + 8


def _int_line(data: bytes, pos: int) -> tuple[object, int]:
    raw, pos = _line(data, pos)
    return int(raw), pos


_LENGTH_PREFIXED = {
    pickletools.TAKEN_FROM_ARGUMENT1: _counted(1),
    pickletools.TAKEN_FROM_ARGUMENT4: _counted(4, signed=True),
    pickletools.TAKEN_FROM_ARGUMENT4U: _counted(4),
    pickletools.TAKEN_FROM_ARGUMENT8U: _counted(8),
}
#: Operands the simulation reads; every other operand is skipped by its length.
_READ_OPERANDS: dict[str, _Operand] = {
    "PROTO": _fixed(1),
    "FRAME": _frame,
    "GLOBAL": _global_pair,
    "INST": _global_pair,
    "SHORT_BINUNICODE": _decoded(_counted(1), "utf-8"),
    "BINUNICODE": _decoded(_counted(4), "utf-8"),
    "BINUNICODE8": _decoded(_counted(8), "utf-8"),
    "UNICODE": _decoded(_line, "raw-unicode-escape"),
    "SHORT_BINSTRING": _decoded(_counted(1), "latin-1"),
    "BINSTRING": _decoded(_counted(4, signed=True), "latin-1"),
    "STRING": _quoted_line,
    "SHORT_BINBYTES": _counted(1),
    "BINBYTES": _counted(4),
    "BINBYTES8": _counted(8),
    "PUT": _int_line,
    "BINPUT": _fixed(1),
    "LONG_BINPUT": _fixed(4),
    "GET": _int_line,
    "BINGET": _fixed(1),
    "LONG_BINGET": _fixed(4),
}


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

    def call(self, func: object) -> _Made | None:
        if isinstance(func, _Global):
            self.scan.called.add(str(func))
            return _Made(str(func))
        if isinstance(func, _Persistent):
            return _Made(PERSISTENT)
        self.scan.dynamic_calls += 1
        return None

    def proto(self, op: _Opcode, arg: object) -> None:
        if not isinstance(arg, int) or arg > pickle.HIGHEST_PROTOCOL:
            raise ValueError(f"pickle protocol {arg} does not exist")
        self.scan.protocol = arg

    def mark(self, op: _Opcode, arg: object) -> None:
        self.marks.append(len(self.stack))

    def global_(self, op: _Opcode, arg: object) -> None:
        found = _Global(arg)
        self.scan.globals.add(found)
        if op.name == "INST":
            self.pop_mark()
            self.stack.append(self.call(found))
        else:
            self.stack.append(found)

    def stack_global(self, op: _Opcode, arg: object) -> None:
        owner, member = self.pop(2)
        resolved = isinstance(owner, str) and isinstance(member, str)
        found = _Global(resolve_global(owner, member) if resolved else UNRESOLVED)  # type: ignore[arg-type]
        self.scan.globals.add(found)
        self.stack.append(found)

    def obj(self, op: _Opcode, arg: object) -> None:
        items = self.pop_mark()
        if not items:
            raise ValueError("OBJ without a class")
        self.stack.append(self.call(items[0]))

    def reduce(self, op: _Opcode, arg: object) -> None:
        operands = self.pop(op.pops)
        self.stack.append(self.call(operands[0]))

    def build(self, op: _Opcode, arg: object) -> None:
        self.pop()
        target = self.pop()[0]
        if isinstance(target, _Made):
            self.scan.built.add(target.name)
        else:
            self.scan.opaque_builds += 1
        self.stack.append(target)

    def fill(self, op: _Opcode, arg: object) -> None:
        """SETITEM(S), APPEND(S), ADDITEMS: the container stays what it was."""
        if op.mark:
            self.pop_mark()
        else:
            self.pop(op.pops - 1)
        self.stack.append(self.pop()[0])  # the container must be there, and it stays

    def string(self, op: _Opcode, arg: object) -> None:
        text = str(arg)
        if text[:1] == "\x80" and max(text) <= "\xff":
            self.nested(text.encode("latin-1"))  # py2-style bytes: _codecs.encode(text)
        self.stack.append(text)

    def raw_bytes(self, op: _Opcode, arg: object) -> None:
        self.nested(arg)
        self.stack.append(None)

    def put(self, op: _Opcode, arg: object) -> None:
        key = len(self.memo) if arg is None else arg
        if isinstance(key, int) and key > len(self.memo):
            self.scan.sparse_memo = True
        self.memo[key] = self.pop()[0]
        self.stack.append(self.memo[key])

    def get(self, op: _Opcode, arg: object) -> None:
        self.stack.append(self.memo.get(arg))

    def dup(self, op: _Opcode, arg: object) -> None:
        self.stack.append(self.pop()[0])
        self.stack.append(self.stack[-1])

    def persistent(self, op: _Opcode, arg: object) -> None:
        self.pop(op.pops)
        self.stack.append(_Persistent())

    def nested(self, data: object) -> None:
        """Scan bytes that look like pickles (a torch legacy stream holds several in a row)."""
        if (
            self.depth >= _MAX_NESTED_DEPTH
            or not isinstance(data, bytes)
            or len(data) > _MAX_NESTED_BYTES
            or data[:1] != b"\x80"
        ):
            return
        pos = 0
        for _ in range(_MAX_NESTED_PICKLES):
            inner = PickleScan()
            try:
                pos = _run(data, pos, inner, self.depth + 1)
            except (ValueError, IndexError, OverflowError):
                return
            finally:
                self.scan.nested_globals |= inner.globals | inner.nested_globals


_Handler = Callable[[_Simulator, "_Opcode", object], None]


@dataclass(frozen=True, slots=True)
class _Opcode:
    """One opcode's operand and stack effect, from ``pickletools``' table."""

    name: str
    #: Reads the operand the simulation needs, or one of variable length.
    operand: _Operand | None
    #: The bytes of a fixed-size operand to skip when ``operand`` is ``None``.
    width: int
    #: ``None`` for the generic stack effect below.
    handler: _Handler | None
    #: Pops to a MARK first (the items above it), then ``pops`` more.
    mark: bool
    pops: int
    pushes: int


_FILLS = frozenset({"SETITEM", "SETITEMS", "APPEND", "APPENDS", "ADDITEMS"})
_HANDLERS: dict[str, _Handler] = {
    "PROTO": _Simulator.proto,
    "MARK": _Simulator.mark,
    "GLOBAL": _Simulator.global_,
    "INST": _Simulator.global_,
    "STACK_GLOBAL": _Simulator.stack_global,
    "OBJ": _Simulator.obj,
    "DUP": _Simulator.dup,
    "MEMOIZE": _Simulator.put,
    "BUILD": _Simulator.build,
    "PERSID": _Simulator.persistent,
    "BINPERSID": _Simulator.persistent,
    **dict.fromkeys(("REDUCE", "NEWOBJ", "NEWOBJ_EX"), _Simulator.reduce),
    **dict.fromkeys(_FILLS, _Simulator.fill),
    **dict.fromkeys(("PUT", "BINPUT", "LONG_BINPUT"), _Simulator.put),
    **dict.fromkeys(("GET", "BINGET", "LONG_BINGET"), _Simulator.get),
    **dict.fromkeys(
        ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"), _Simulator.string
    ),
    **dict.fromkeys(("STRING", "BINSTRING", "SHORT_BINSTRING"), _Simulator.string),
    **dict.fromkeys(("SHORT_BINBYTES", "BINBYTES", "BINBYTES8"), _Simulator.raw_bytes),
}


def _opcode(op: pickletools.OpcodeInfo) -> _Opcode:
    before = op.stack_before
    mark = pickletools.markobject in before
    declared = 0 if op.arg is None else op.arg.n
    operand = _READ_OPERANDS.get(op.name)
    if operand is None and declared < 0:
        operand = _line if declared == pickletools.UP_TO_NEWLINE else _LENGTH_PREFIXED[declared]
    return _Opcode(
        name=op.name,
        operand=operand,
        width=max(declared, 0),
        handler=_HANDLERS.get(op.name),
        mark=mark,
        pops=before.index(pickletools.markobject) if mark else len(before),
        pushes=len(op.stack_after),
    )


_OPCODES: list[_Opcode | None] = [None] * 256
for _info in pickletools.opcodes:
    _OPCODES[ord(_info.code)] = _opcode(_info)
_STOP = pickle.STOP[0]
_BINGET = pickle.BINGET[0]
#: BINPUT and LONG_BINPUT, and their index widths.
_MEMO_PUTS = {pickle.BINPUT[0]: 1, pickle.LONG_BINPUT[0]: 4}


def _run(data: bytes, pos: int, scan: PickleScan, depth: int) -> int:
    """Simulate the pickle starting at ``pos``; return the offset just past its STOP.

    The loop handles the common opcodes inline (memo by one-byte index, operands that are
    only skipped, plain stack effects): a pickle of a large model has tens of thousands.
    """
    simulator = _Simulator(scan, depth)
    stack, memo, marks = simulator.stack, simulator.memo, simulator.marks
    opcodes = _OPCODES
    end = len(data)
    while pos < end:
        code = data[pos]
        pos += 1
        if code == _BINGET:
            stack.append(memo.get(data[pos]))
            pos += 1
            continue
        if code in _MEMO_PUTS and len(stack) > (marks[-1] if marks else 0):
            width = _MEMO_PUTS[code]
            _need(data, pos + width)
            index = int.from_bytes(data[pos : pos + width], "little")
            scan.sparse_memo |= index > len(memo)
            memo[index] = stack[-1]
            pos += width
            continue
        if code == _STOP:
            return pos
        op = opcodes[code]
        if op is None:
            raise ValueError(f"unknown opcode {code:#04x} at offset {pos - 1}")
        arg: object = None
        if op.operand is not None:
            arg, pos = op.operand(data, pos)
        elif op.width:
            pos += op.width
            _need(data, pos)
        if op.handler is not None:
            op.handler(simulator, op, arg)
            continue
        if op.mark:
            simulator.pop_mark()
        if op.pops:
            if op.pops > len(stack) - (marks[-1] if marks else 0):
                raise ValueError("pickle stack underflow")
            del stack[-op.pops :]
        if op.pushes:
            stack.append(None)
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
            _run(data, 0, scan, 0)
    except IndexError:
        raise ValueError("the pickle is truncated") from None
    except OverflowError as exc:
        raise ValueError(str(exc)) from exc
    return scan
