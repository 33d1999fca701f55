"""Red-team case builders for issue 15: every technique as a reproducible crafted file.

Each case is a function ``build(directory) -> Record`` that writes one crafted file (or a
directory tree) into ``directory`` and describes it: the container, the issue-15 item it
covers and the outcome the issue expects (``refused``, ``unreadable`` or ``loads``).

Nothing here unpickles anything. Pickles are assembled from opcodes with the expression
language of ``fixtures_src/make_hostile_corpus.py`` (plus a few opcodes it lacks: memo
references, arbitrary ints, BUILD on a call), zips with ``zipfile`` or raw ``struct`` for
malformed archives. A payload that would execute only creates ``PWNED_<case>`` in the
current working directory; the harness runs every case in an empty temporary cwd and
looks for that marker. Files are generated at run time into temporary directories: the
largest (the deflate bomb) is about 3 MB on disk.

Run ``python tests/redteam/cases.py --list`` for the catalogue, or ``--write DIR`` to write
every case (``--cases PATTERN`` to pick some) for a look with a hex editor.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import functools
import hashlib
import json
import os
import pickle
import shutil
import struct
import sys
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CORPUS = REPO / "tests" / "fixtures" / "legacy"
if str(REPO / "fixtures_src") not in sys.path:
    sys.path.insert(0, str(REPO / "fixtures_src"))

# The opcode expression language of the hostile corpus (stdlib only; it never unpickles).
from make_hostile_corpus import (  # noqa: E402
    LEGACY_MAGIC,
    LEGACY_PROTOCOL,
    LEGACY_SYS_INFO,
    Call,
    Dct,
    Emitter,
    Expr,
    Global,
    Inst,
    Lit,
    Lst,
    ModuleClass,
    NewObj,
    PersId,
    Raw,
    Tup,
    inner_os_system,
    linear,
    module_state,
    py_source,
    shell,
    zip_container,
)

MARKER = "PWNED_"
EXPECTATIONS = ("refused", "unreadable", "loads")
CONTAINERS = ("pkl", "zip", "legacy", "v1", "safetensors", "tree", "yaml", "index")

# --------------------------------------------------------------------------------------------
# the record a builder returns


@dataclasses.dataclass
class Record:
    """What one built case is, where it lies, and what issue 15 says must happen to it.

    ``expect`` is the outcome the issue asks for; ``also`` lists other outcomes a correct
    fix may give (a bomb kept bounded and loaded, say); ``expect_by_entry`` overrides both
    for single entry points (e.g. ``ckpt ls`` never opens a weights file, so it loads).
    ``checks`` are post-conditions the harness tests after a run that completed, which turn
    an apparently clean ``loaded`` into ``accepted`` (the hostile bytes were taken up: a
    forged key in the weights, a provenance copied from a forged sidecar, a symlink out of
    the tree converted, an epoch slot stolen).
    """

    case: str
    container: str
    item: str
    expect: str
    path: str
    description: str = ""
    also: tuple[str, ...] = ()
    expect_by_entry: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    entries: tuple[str, ...] | None = None
    run: str | None = None
    file: str | None = None  # tree cases: a file of the tree for file-level entry points
    setup: dict[str, Any] = dataclasses.field(default_factory=dict)
    checks: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def acceptable(self, entry: str) -> tuple[str, ...]:
        """Outcomes (harness vocabulary) that count as a match for ``entry``."""
        wanted = self.expect_by_entry.get(entry)
        if wanted is None:
            wanted = (self.expect, *self.also)
            if entry == "api.load_trust" and self.expect == "loads":
                # trust=True really unpickles: a legitimate file naming classes that are not
                # importable here (legacyproj, metta...) fails, with a named error
                wanted = (*wanted, "unreadable")
        return tuple(dict.fromkeys("loaded" if w == "loads" else w for w in wanted))


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    container: str
    item: str
    expect: str
    build: Callable[[Path], Record]
    description: str
    quick: bool = False
    #: The CLI verbs run on this case by default (None: every applicable one). A technique
    #: written in several containers runs them on one (zip if it has one), and the trust
    #: bypasses only ``ckpt verify``: the verbs are thin wrappers over the API runs, and
    #: each costs a fresh interpreter (~5 s). ``run.py --all-cli`` runs them all.
    cli: tuple[str, ...] | None = None


CASES: dict[str, Case] = {}


def register(case: Case) -> Case:
    if case.name in CASES:
        raise ValueError(f"duplicate case {case.name}")
    if case.expect not in EXPECTATIONS or case.container not in CONTAINERS:
        raise ValueError(f"{case.name}: bad expect/container")
    CASES[case.name] = case
    return case


def select(patterns: Sequence[str] = (), quick: bool = False) -> list[Case]:
    """Cases whose name matches any glob in ``patterns`` (all if none), in catalogue order."""
    chosen = []
    for case in CASES.values():
        if quick and not case.quick:
            continue
        if patterns and not any(fnmatch.fnmatchcase(case.name, p) for p in patterns):
            continue
        chosen.append(case)
    return chosen


# --------------------------------------------------------------------------------------------
# opcodes the corpus language lacks


@dataclasses.dataclass
class Int(Expr):
    """Any int: BININT when it fits, LONG1 otherwise (what pickle writes for big ints)."""

    value: int

    def emit(self, out: Emitter) -> None:
        v = self.value
        if -(2**31) <= v < 2**31:
            out.op(pickle.BININT, struct.pack("<i", v))
        else:
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            out.op(pickle.LONG1, bytes([len(raw)]) + raw)


@dataclasses.dataclass
class Ops(Expr):
    """Raw opcode bytes, for what no expression spells."""

    data: bytes

    def emit(self, out: Emitter) -> None:
        out.buf += self.data


@dataclasses.dataclass
class Put(Expr):
    """``expr``, memoised at ``idx`` (BINPUT, or LONG_BINPUT past 255)."""

    expr: Expr
    idx: int

    def emit(self, out: Emitter) -> None:
        self.expr.emit(out)
        if self.idx < 256:
            out.op(pickle.BINPUT, bytes([self.idx]))
        else:
            out.op(pickle.LONG_BINPUT, struct.pack("<I", self.idx))


@dataclasses.dataclass
class Get(Expr):
    """The object memoised at ``idx`` (BINGET / LONG_BINGET): a shared reference."""

    idx: int

    def emit(self, out: Emitter) -> None:
        if self.idx < 256:
            out.op(pickle.BINGET, bytes([self.idx]))
        else:
            out.op(pickle.LONG_BINGET, struct.pack("<I", self.idx))


@dataclasses.dataclass
class Seq(Expr):
    """Evaluate ``prelude`` (each then POPped, typically memoised), then push ``value``."""

    prelude: Sequence[Expr]
    value: Expr

    def emit(self, out: Emitter) -> None:
        for expr in self.prelude:
            expr.emit(out)
            out.op(pickle.POP)
        self.value.emit(out)


@dataclasses.dataclass
class Build(Expr):
    """``expr`` then BUILD with ``state``: pickle's ``__setstate__`` / ``__dict__.update``."""

    expr: Expr
    state: Expr

    def emit(self, out: Emitter) -> None:
        self.expr.emit(out)
        self.state.emit(out)
        out.op(pickle.BUILD)


@dataclasses.dataclass
class Obj(Expr):
    """Protocol-1 OBJ: MARK cls args OBJ, i.e. ``cls(*args)`` (``__init__`` included)."""

    cls: Expr
    args: Sequence[Expr]

    def emit(self, out: Emitter) -> None:
        out.op(pickle.MARK)
        self.cls.emit(out)
        for arg in self.args:
            arg.emit(out)
        out.op(pickle.OBJ)


@dataclasses.dataclass
class TensorX(Expr):
    """A tensor as torch pickles it, with every figure under the case's control.

    ``numel`` is what the storage's persistent id declares; ``data`` is what the record
    (zip) or the storage stream (legacy) really holds.
    """

    key: str
    data: bytes
    numel: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int = 0
    storage: str = "FloatStorage"

    def emit(self, out: Emitter) -> None:
        out.storages[self.key] = self.data
        pid: list[Expr] = [Lit("storage"), Global("torch", self.storage), Lit(self.key)]
        pid += [Lit("cpu"), Int(self.numel)]
        if out.style == "legacy":
            pid.append(Lit(None))
        Call(
            Global("torch._utils", "_rebuild_tensor_v2"),
            [
                PersId(pid),
                Int(self.offset),
                Tup([Int(s) for s in self.shape]),
                Tup([Int(s) for s in self.stride]),
                Lit(False),
                Call(Global("collections", "OrderedDict")),
            ],
        ).emit(out)


def floats(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def tensor(key: str, values: Sequence[float], shape: tuple[int, ...] | None = None) -> TensorX:
    """A small, honest float32 tensor."""
    shape = shape or (len(values),)
    stride, step = [], 1
    for size in reversed(shape):
        stride.insert(0, step)
        step *= size
    return TensorX(key, floats(*values), len(values), shape, tuple(stride))


def odict(items: Sequence[tuple[str, Expr]] = ()) -> Call:
    return Call(Global("collections", "OrderedDict"), items=[(Lit(k), v) for k, v in items])


def state_dict(items: Sequence[tuple[str, Expr]]) -> Call:
    return odict(items)


def raw_dict(extras: Sequence[tuple[str, Expr]], weights: Expr | None = None) -> Dct:
    """A legacy "raw dict" checkpoint: ``model_state_dict`` plus extras (metadata)."""
    weights = weights if weights is not None else state_dict([("w", tensor("w0", [1, 2]))])
    pairs: list[tuple[Expr, Expr]] = [(Lit("model_state_dict"), weights)]
    pairs += [(Lit(k), v) for k, v in extras]
    pairs += [(Lit("epoch"), Lit(1)), (Lit("agent_step"), Lit(10))]
    return Dct(pairs)


def builtin2(name: str, stack: bool = False) -> Global:
    """A builtin as a protocol-2 pickle names it (``__builtin__``, fix_imports maps it)."""
    return Global("builtins" if stack else "__builtin__", name, stack=stack)


# --------------------------------------------------------------------------------------------
# containers


def assemble(expr: Expr, style: str, protocol: int) -> tuple[bytes, dict[str, bytes]]:
    out = Emitter(style)
    out.op(pickle.PROTO, bytes([protocol]))
    expr.emit(out)
    out.op(pickle.STOP)
    return bytes(out.buf), out.storages


def legacy_bytes(
    payload: bytes, storages: dict[str, bytes], numels: dict[str, int] | None = None
) -> bytes:
    """The legacy torch stream; ``numels`` may lie about a storage's element count."""
    numels = numels or {}
    parts = [
        pickle.dumps(LEGACY_MAGIC, protocol=2),
        pickle.dumps(LEGACY_PROTOCOL, protocol=2),
        pickle.dumps(LEGACY_SYS_INFO, protocol=2),
        payload,
        pickle.dumps(sorted(storages), protocol=2),
    ]
    for key in sorted(storages):
        data = storages[key]
        parts.append(struct.pack("<q", numels.get(key, len(data) // 4)) + data)
    return b"".join(parts)


FILE_NAMES = {
    "pkl": "model_0001.pkl",
    "zip": "model_0001.pt",
    "legacy": "model_0001.pt",
}


def write_container(
    directory: Path,
    container: str,
    expr: Expr,
    protocol: int = 2,
    archive: str = "archive",
) -> Path:
    """Write ``expr`` as a bare pickle, a torch zip archive or a legacy torch stream."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAMES[container]
    style = {"pkl": "zip", "zip": "zip", "legacy": "legacy"}[container]
    payload, storages = assemble(expr, style, protocol)
    if container == "zip":
        path.write_bytes(zip_container(archive, payload, storages))
    elif container == "legacy":
        path.write_bytes(legacy_bytes(payload, storages))
    else:
        path.write_bytes(payload)
    return path


# ---- raw zip writing, for archives zipfile would never write


@dataclasses.dataclass
class Rec:
    """One zip record; every field a malformed archive may want to lie about."""

    name: str
    data: bytes
    method: int = 0  # 0 stored, 8 deflated
    payload: bytes | None = None  # the bytes stored (compressed) if not ``data``
    crc: int | None = None
    size: int | None = None  # uncompressed size to declare
    local_name: str | None = None  # the name in the local header, if different
    local_sizes: tuple[int, int] | None = None  # (compressed, uncompressed) in the local header


_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR64 = struct.Struct("<4sLQL")


def _crc(rec: Rec) -> int:
    return zlib.crc32(rec.data) if rec.crc is None else rec.crc


def _stored(rec: Rec) -> bytes:
    return rec.data if rec.payload is None else rec.payload


def _size(rec: Rec) -> int:
    return len(rec.data) if rec.size is None else rec.size


def local_section(records: Sequence[Rec], base: int, align: int = 64) -> tuple[bytes, list[int]]:
    """Local headers and data of ``records`` placed at file offset ``base`` (64-aligned data,
    as torch's writer does); returns the bytes and each record's header offset."""
    out, offsets = bytearray(), []
    for rec in records:
        offset = base + len(out)
        name = (rec.local_name or rec.name).encode()
        end = offset + _LOCAL.size + len(name) + 4
        pad = -end % align if align else 0
        extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad if align else b""
        comp, size = rec.local_sizes or (len(_stored(rec)), _size(rec))
        out += _LOCAL.pack(
            b"PK\x03\x04",
            20,
            0,
            rec.method,
            0,
            0x21,
            _crc(rec),
            comp,
            size,
            len(name),
            len(extra),
        )
        out += name + extra + _stored(rec)
        offsets.append(offset)
    return bytes(out), offsets


def central_directory(records: Sequence[Rec], offsets: Sequence[int]) -> bytes:
    out = bytearray()
    for rec, offset in zip(records, offsets, strict=True):
        name = rec.name.encode()
        out += _CENTRAL.pack(
            b"PK\x01\x02",
            20,
            3,
            20,
            0,
            0,
            rec.method,
            0,
            0x21,
            _crc(rec),
            len(_stored(rec)),
            _size(rec),
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        out += name
    return bytes(out)


def eocd(entries: int, cd_size: int, cd_offset: int) -> bytes:
    return _EOCD.pack(b"PK\x05\x06", 0, 0, entries, entries, cd_size, cd_offset, 0)


def plain_zip(records: Sequence[Rec], prefix: bytes = b"") -> bytes:
    """An archive with one central directory; ``prefix`` is prepended WITHOUT shifting the
    offsets (zipfile compensates for it, torch's miniz reader does not)."""
    local, offsets = local_section(records, 0)
    cd = central_directory(records, offsets)
    return prefix + local + cd + eocd(len(records), len(cd), len(local))


def torch_records(archive: str, payload: bytes, storages: dict[str, bytes]) -> list[Rec]:
    """The records of a torch zip archive, in torch's order."""
    recs = [Rec(f"{archive}/data.pkl", payload)]
    recs += [Rec(f"{archive}/data/{k}", storages[k]) for k in sorted(storages)]
    recs += [Rec(f"{archive}/version", b"3\n"), Rec(f"{archive}/byteorder", b"little")]
    return recs


def _pickled(expr: Expr, protocol: int = 2) -> tuple[bytes, dict[str, bytes]]:
    return assemble(expr, "zip", protocol)


# --------------------------------------------------------------------------------------------
# v1 pairs, written by hand (no torch needed): a plain state_dict zip and its YAML sidecar


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def v1_sidecar(
    run: str,
    epoch: int,
    weights: Path,
    *,
    metrics: str = "{}",
    architecture: str | None = None,
    converted_from: str | None = None,
    sha256: str | None = None,
    size: int | None = None,
) -> str:
    lines = [
        "format_version: 1",
        f"run_name: {run}",
        f"epoch: {epoch}",
        "agent_step: 100",
        "total_time: 1.0",
        "score: 0.5",
        f"metrics: {metrics}",
    ]
    if architecture:
        lines.append(f"architecture: {architecture}")
    lines += [
        "torch_version: 2.13.0+cpu",
        "created_at: '2026-01-01T00:00:00+00:00'",
        f"sha256: {sha256 or sha256_of(weights)}",
        f"size: {size if size is not None else weights.stat().st_size}",
    ]
    if converted_from:
        lines.append(f"converted_from: {converted_from}")
    return "\n".join(lines) + "\n"


def trainer_expr() -> Dct:
    optimizer = Dct(
        [
            (Lit("state"), Dct([])),
            (
                Lit("param_groups"),
                Lst([Dct([(Lit("lr"), Lit(0.1)), (Lit("params"), Lst([Lit(0)]))])]),
            ),
        ]
    )
    return Dct(
        [
            (Lit("optimizer"), optimizer),
            (Lit("epoch"), Lit(1)),
            (Lit("agent_step"), Lit(100)),
            (Lit("extra"), Dct([])),
        ]
    )


AGENT = "harness.RedteamAgent"  # the registered canary agent of harness.py
AGENT_WEIGHTS = (("w", (1.0, 2.0)),)


def write_v1(
    directory: Path,
    run: str = "run",
    epoch: int = 1,
    weights: Expr | bytes | None = None,
    *,
    trainer: Expr | bytes | None = None,
    sidecar: str | None = None,
    **sidecar_fields: Any,
) -> Path:
    """A committed v1 checkpoint pair (and a trainer state); returns the weights path."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{run}.e{epoch:08d}"
    pt = directory / f"{stem}.pt"
    if weights is None:
        weights = state_dict([(k, tensor(f"{k}0", v)) for k, v in AGENT_WEIGHTS])
    if isinstance(weights, bytes):
        pt.write_bytes(weights)
    else:
        pt.write_bytes(zip_container(f"{run}.e{epoch:08d}", *_pickled(weights)))
    trainer_path = directory / f"{run}.e{epoch:08d}.trainer.pt"
    trainer = trainer if trainer is not None else trainer_expr()
    if isinstance(trainer, bytes):
        trainer_path.write_bytes(trainer)
    else:
        trainer_path.write_bytes(zip_container("trainer", *_pickled(trainer)))
    sidecar_fields.setdefault("architecture", "{class_path: " + AGENT + ", config: {width: 4}}")
    text = sidecar if sidecar is not None else v1_sidecar(run, epoch, pt, **sidecar_fields)
    (directory / f"{stem}.yaml").write_text(text)
    return pt


# --------------------------------------------------------------------------------------------
# case registration helpers

FILE_CONTAINERS = ("pkl", "zip", "legacy")


def file_case(
    name: str,
    item: str,
    expect: str,
    description: str,
    expr: Callable[[str], Expr],
    *,
    containers: Sequence[str] = FILE_CONTAINERS,
    protocol: int = 2,
    also: Sequence[str] = (),
    expect_by_entry: dict[str, tuple[str, ...]] | None = None,
    quick: Iterable[str] = (),
    setup: dict[str, Any] | None = None,
    entries: tuple[str, ...] | None = None,
    checks: dict[str, Any] | None = None,
    graph: bool = False,
    static_ok: bool = False,
    cli: tuple[str, ...] | None = None,
) -> None:
    """Register ``name_<container>`` for each container: ``expr(case_name)`` is the pickle.

    ``graph``: a bomb in the object graph (not in the pickle's structure), run on
    ``GRAPH_BOMB_ENTRIES`` only (the rest call the same ``compat.load``), and a static
    ``inspect`` that reports it loadable is fine. ``static_ok`` relaxes ``inspect`` alone
    (what goes wrong happens when a value is built, which a static scan never does).
    """
    expect_by_entry = dict(expect_by_entry or {})
    if graph or static_ok:
        for entry in ("api.inspect", "cli.inspect"):
            expect_by_entry.setdefault(entry, (expect, *also, "loads"))
    if graph and entries is None:
        entries = GRAPH_BOMB_ENTRIES
    for container in containers:
        case_name = f"{name}_{container}"

        def build(
            directory: Path, case_name: str = case_name, container: str = container
        ) -> Record:
            path = write_container(
                directory, container, expr(case_name), protocol, archive=case_name
            )
            return Record(
                case_name,
                container,
                item,
                expect,
                str(path),
                description,
                tuple(also),
                dict(expect_by_entry),
                entries,
                setup=dict(setup or {}),
                checks=dict(checks or {}),
            )

        representative = container == ("zip" if "zip" in containers else containers[0])
        register(
            Case(
                case_name,
                container,
                item,
                expect,
                build,
                description,
                container in quick,
                cli if representative else (),
            )
        )


def raw_case(
    name: str,
    container: str,
    item: str,
    expect: str,
    description: str,
    *,
    also: Sequence[str] = (),
    expect_by_entry: dict[str, tuple[str, ...]] | None = None,
    quick: bool = False,
    entries: tuple[str, ...] | None = None,
    setup: dict[str, Any] | None = None,
    checks: dict[str, Any] | None = None,
    run: str | None = None,
) -> Callable[
    [Callable[[Path, str], tuple[Path, str | None]]],
    Callable[[Path, str], tuple[Path, str | None]],
]:
    """Decorator for hand-written builders ``fn(directory, case) -> (path, file_or_None)``."""

    def wrap(
        fn: Callable[[Path, str], tuple[Path, str | None]],
    ) -> Callable[[Path, str], tuple[Path, str | None]]:
        def build(directory: Path) -> Record:
            directory.mkdir(parents=True, exist_ok=True)
            path, file = fn(directory, name)
            return Record(
                name,
                container,
                item,
                expect,
                str(path),
                description,
                tuple(also),
                dict(expect_by_entry or {}),
                entries,
                run=run if run is not None else (path.name if path.is_dir() else None),
                file=file,
                setup=dict(setup or {}),
                checks=dict(checks or {}),
            )

        register(Case(name, container, item, expect, build, description, quick))
        return fn

    return wrap


NO_KEY = {"forbid_key_prefix": MARKER}  # a PWNED_* key in loaded weights means T was read

# ============================================================================================
# 15.1  trust=True runs payloads SPEC §8 refuses even with trust (and what the inert path says)

I1 = "15.1"
ALL3 = ("pkl", "zip", "legacy")
#: Trust bypasses: every container on every API entry, ``ckpt verify`` as the CLI's voice.
trust_case = functools.partial(file_case, cli=("cli.verify",))


def _touch_argv(case: str) -> Lst:
    return Lst([Lit("touch"), Lit(f"{MARKER}{case}")])


trust_case(
    "dotted_stack_global_torch_serialization_os_system",
    f"{I1} dotted STACK_GLOBAL",
    "refused",
    "protocol 4 STACK_GLOBAL('torch.serialization', 'os.system'): find_class walks the "
    "dotted name through a module that imported os",
    lambda c: Call(Global("torch.serialization", "os.system", stack=True), [Lit(shell(c))]),
    protocol=4,
    quick=ALL3,
)
trust_case(
    "dotted_global_torch_serialization_os_system",
    f"{I1} dotted GLOBAL (protocol 4)",
    "refused",
    "GLOBAL 'torch.serialization os.system' in a protocol-4 pickle (proto >= 4 walks dots "
    "for GLOBAL too)",
    lambda c: Call(Global("torch.serialization", "os.system"), [Lit(shell(c))]),
    protocol=4,
)
trust_case(
    "dotted_inspect_builtins_exec",
    f"{I1} dotted STACK_GLOBAL",
    "refused",
    "STACK_GLOBAL('inspect', 'builtins.exec')(code)",
    lambda c: Call(Global("inspect", "builtins.exec", stack=True), [Lit(py_source(c))]),
    protocol=4,
    quick=("zip",),
)
trust_case(
    "py2_commands_getoutput",
    f"{I1} fix_imports py2 names",
    "refused",
    "protocol 2 GLOBAL 'commands getoutput': fix_imports maps it to subprocess.getoutput",
    lambda c: Call(Global("commands", "getoutput"), [Lit(shell(c))]),
    quick=("zip",),
)
trust_case(
    "py2_commands_popen",
    f"{I1} fix_imports py2 names",
    "refused",
    "protocol 2 GLOBAL 'commands Popen' (subprocess.Popen) with an argv list",
    lambda c: Call(Global("commands", "Popen"), [_touch_argv(c)]),
)
trust_case(
    "py2_cpickle_loads",
    f"{I1} fix_imports py2 names",
    "refused",
    "cPickle.loads (pickle.loads once mapped) of an inner os.system pickle",
    lambda c: Call(Global("cPickle", "loads"), [Raw(inner_os_system(c))]),
)
trust_case(
    "cprofile_run",
    f"{I1} unlisted exec gadget",
    "refused",
    "cProfile.run(code): exec in __main__",
    lambda c: Call(Global("cProfile", "run"), [Lit(py_source(c))]),
    quick=("zip",),
)
trust_case(
    "profile_run",
    f"{I1} unlisted exec gadget",
    "refused",
    "profile.run(code): the pure-Python twin of cProfile.run",
    lambda c: Call(Global("profile", "run"), [Lit(py_source(c))]),
)
trust_case(
    "torch_fx_exec_with_source",
    f"{I1} unlisted exec gadget",
    "refused",
    "torch.fx.graph_module._exec_with_source(code, {}): torch.fx code generation execs",
    lambda c: Call(
        Global("torch.fx.graph_module", "_exec_with_source"),
        [Lit(py_source(c)), Dct([])],
    ),
)
trust_case(
    "dotted_pdb_code_runsource",
    f"{I1} code.interact-like via dotted name",
    "refused",
    "STACK_GLOBAL('pdb', 'code.InteractiveInterpreter.runsource')(interp, code): the "
    "dangerous module 'code' reached through pdb, which imports it",
    lambda c: Call(
        Global("pdb", "code.InteractiveInterpreter.runsource", stack=True),
        [
            Call(Global("pdb", "code.InteractiveInterpreter", stack=True)),
            Lit(py_source(c).strip()),
        ],
    ),
    protocol=4,
)
trust_case(
    "pydoc_locate",
    f"{I1} unlisted resolver",
    "refused",
    "pydoc.locate('os.system')(cmd)",
    lambda c: Call(Call(Global("pydoc", "locate"), [Lit("os.system")]), [Lit(shell(c))]),
)
trust_case(
    "pkgutil_resolve_name",
    f"{I1} unlisted resolver",
    "refused",
    "pkgutil.resolve_name('os:system')(cmd)",
    lambda c: Call(Call(Global("pkgutil", "resolve_name"), [Lit("os:system")]), [Lit(shell(c))]),
)
trust_case(
    "operator_attrgetter",
    f"{I1} operator getters",
    "refused",
    "operator.attrgetter('system')(torch.serialization.os)(cmd)",
    lambda c: Call(
        Call(
            Call(Global("operator", "attrgetter"), [Lit("system")]),
            [Global("torch.serialization", "os")],
        ),
        [Lit(shell(c))],
    ),
)
trust_case(
    "c_operator_methodcaller_map",
    f"{I1} operator getters, no dynamic call",
    "refused",
    "list(map(_operator.methodcaller('system', cmd), [torch.serialization.os])): every "
    "callable is a named global (no call of a call), the C module name '_operator' and the "
    "module-valued attribute 'torch.serialization.os' (protocol 2, no dots)",
    lambda c: Call(
        builtin2("list"),
        [
            Call(
                builtin2("map"),
                [
                    Call(
                        Global("_operator", "methodcaller"),
                        [Lit("system"), Lit(shell(c))],
                    ),
                    Lst([Global("torch.serialization", "os")]),
                ],
            )
        ],
    ),
    quick=("zip",),
)
trust_case(
    "operator_methodcaller_map",
    f"{I1} operator getters, no dynamic call",
    "refused",
    "list(map(operator.methodcaller('system', cmd), [torch.serialization.os]))",
    lambda c: Call(
        builtin2("list"),
        [
            Call(
                builtin2("map"),
                [
                    Call(
                        Global("operator", "methodcaller"),
                        [Lit("system"), Lit(shell(c))],
                    ),
                    Lst([Global("torch.serialization", "os")]),
                ],
            )
        ],
    ),
)
trust_case(
    "getattr_chain_dotted",
    f"{I1} builtins.getattr chains",
    "refused",
    "STACK_GLOBAL('inspect', 'builtins.getattr')(STACK_GLOBAL('torch.serialization', 'os'), "
    "'system')(cmd)",
    lambda c: Call(
        Call(
            Global("inspect", "builtins.getattr", stack=True),
            [Global("torch.serialization", "os", stack=True), Lit("system")],
        ),
        [Lit(shell(c))],
    ),
    protocol=4,
)
trust_case(
    "getattr_chain_py2",
    f"{I1} builtins.getattr chains",
    "refused",
    "__builtin__.getattr(torch.serialization.os, 'system')(cmd), protocol 2",
    lambda c: Call(
        Call(builtin2("getattr"), [Global("torch.serialization", "os"), Lit("system")]),
        [Lit(shell(c))],
    ),
)


# ============================================================================================
# 15.2  resource bombs (memory, time) from files of a few KB

I2 = "15.2"
BOMB_OK = ("refused",)  # a bomb may be refused as hostile structure instead of unreadable
#: Entry points for bombs in the object graph: compat.load's callers (load_crc, the legacy
#: PolicyStore, ckpt convert) go through the very same load, so they add time, not signal.
GRAPH_BOMB_ENTRIES = (
    "api.inspect",
    "api.load",
    "api.load_trust",
    "api.convert",
    "cli.verify",
)
SHARED_OK = ("refused", "loads")  # shared references may also be kept shared and loaded


def memo_list_bomb(k: int) -> Expr:
    """A list referenced 2**k times: each level is [prev, prev] through the memo."""
    prelude: list[Expr] = [Put(Lst([Lit("lol")]), 0)]
    prelude += [Put(Lst([Get(i - 1), Get(i - 1)]), i) for i in range(1, k)]
    return Seq(prelude, Lst([Get(k - 1), Get(k - 1)]))


def laughs(kind: str, depth: int, width: int = 10) -> Expr:
    """Billion laughs of dicts or tuples: level i holds ``width`` references to level i-1."""

    def level(inner: Expr) -> Expr:
        if kind == "dict":
            return Dct([(Lit(f"k{j}"), inner) for j in range(width)])
        return Tup([inner] * width)

    prelude: list[Expr] = [Put(level(Lit("lol")), 0)]
    for i in range(1, depth):
        prelude.append(Put(level(Get(i - 1)), i))
    return Seq(prelude, level(Get(depth - 1)))


file_case(
    "memo_list_2k",
    f"{I2} shared references copied",
    "unreadable",
    "metadata holding a list referenced 2**40 times through the memo (40 levels of [x, x])",
    lambda c: raw_dict([("extras", memo_list_bomb(40))]),
    containers=("zip", "legacy"),
    graph=True,
    also=SHARED_OK,
    quick=("zip",),
)
file_case(
    "billion_laughs_dicts",
    f"{I2} shared references copied",
    "unreadable",
    "9 levels of dicts with 10 references each to the level below (10**9 leaves)",
    lambda c: raw_dict([("extras", laughs("dict", 9))]),
    containers=("zip", "legacy"),
    graph=True,
    also=SHARED_OK,
)
file_case(
    "billion_laughs_tuples",
    f"{I2} shared references copied",
    "unreadable",
    "9 levels of 10-tuples of the level below (10**9 leaves)",
    lambda c: raw_dict([("extras", laughs("tuple", 9))]),
    containers=("zip",),
    graph=True,
    also=SHARED_OK,
)


def module_dag(depth: int, cls: tuple[str, str] = ("legacyproj.nets", "Block")) -> Expr:
    """nn.Module-like objects whose ``_modules`` share one child: a DAG walked as a tree.

    The leaf holds one 2-element parameter; level i has children ``a`` and ``b``, both the
    module of level i-1 (a memo reference), so a tree walk visits 2**depth leaves.
    """
    module = ModuleClass(*cls)
    leaf = NewObj(
        module,
        state=Dct(module_state(odict([("weight", tensor("leaf", [1, 2]))]), odict())),
    )
    prelude: list[Expr] = [Put(leaf, 0)]
    for i in range(1, depth):
        children = odict([("a", Get(i - 1)), ("b", Get(i - 1))])
        prelude.append(Put(NewObj(module, state=Dct(module_state(odict(), children))), i))
    top_children = odict([("a", Get(depth - 1)), ("b", Get(depth - 1))])
    return Seq(prelude, NewObj(module, state=Dct(module_state(odict(), top_children))))


file_case(
    "module_dag_shared_submodules",
    f"{I2} module DAG walked as a tree",
    "unreadable",
    "a pickled nn.Module-like agent whose _modules share submodules, 40 levels deep "
    "(2**40 paths to one parameter)",
    lambda c: module_dag(40),
    containers=("zip", "legacy"),
    graph=True,
    also=SHARED_OK,
    quick=("zip",),
)


def gym_dict(spaces: Expr) -> NewObj:
    state = Dct(
        [
            (Lit("spaces"), spaces),
            (Lit("_shape"), Lit(None)),
            (Lit("dtype"), Lit(None)),
            (Lit("_np_random"), Lit(None)),
        ]
    )
    return NewObj(Global("gymnasium.spaces.dict", "Dict"), state=state)


def gym_nested(depth: int, shared: bool) -> Expr:
    """gymnasium Dict spaces holding Dict spaces: a chain (deep) or a shared DAG (wide)."""
    leaf = NewObj(
        Global("gymnasium.spaces.discrete", "Discrete"),
        state=Dct([(Lit("n"), Lit(4)), (Lit("start"), Lit(0))]),
    )
    prelude: list[Expr] = [Put(leaf, 0)]
    for i in range(1, depth):
        items = [("a", Get(i - 1)), ("b", Get(i - 1))] if shared else [("inner", Get(i - 1))]
        prelude.append(Put(gym_dict(odict(items)), i))
    return Seq(prelude, gym_dict(odict([("obs", Get(depth - 1))])))


file_case(
    "gym_spaces_shared",
    f"{I2} shared gym spaces",
    "unreadable",
    "observation_space: gymnasium Dict spaces, each holding the one below twice, 40 deep",
    lambda c: raw_dict([("observation_space", gym_nested(40, shared=True))]),
    containers=("zip",),
    graph=True,
    also=SHARED_OK,
)
file_case(
    "gym_spaces_deep",
    "15.3 RecursionError (deep gym spaces)",
    "unreadable",
    "observation_space: a gymnasium Dict holding a Dict holding ... 5000 deep",
    lambda c: raw_dict([("observation_space", gym_nested(5000, shared=False))]),
    containers=ALL3,
    static_ok=True,
    also=BOMB_OK,
    quick=("zip",),
)


def raw_pickle_case(
    name: str,
    item: str,
    description: str,
    data: bytes,
    containers: Sequence[str] = ("pkl", "zip"),
    quick: Sequence[str] = (),
    also: Sequence[str] = BOMB_OK,
) -> None:
    """A case whose pickle is given as raw bytes (malformed on purpose)."""
    for container in containers:
        case_name = f"{name}_{container}"

        def build(
            directory: Path, case_name: str = case_name, container: str = container
        ) -> Record:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / FILE_NAMES[container]
            if container == "zip":
                path.write_bytes(zip_container(case_name, data, {}))
            elif container == "legacy":
                path.write_bytes(legacy_bytes(data, {}))
            else:
                path.write_bytes(data)
            return Record(
                case_name,
                container,
                item,
                "unreadable",
                str(path),
                description,
                tuple(also),
            )

        representative = container == ("zip" if "zip" in containers else containers[0])
        register(
            Case(
                case_name,
                container,
                item,
                "unreadable",
                build,
                description,
                container in quick,
                None if representative else (),
            )
        )


raw_pickle_case(
    "binbytes8_huge",
    f"{I2} length fields believed",
    "protocol 4 BINBYTES8 declaring 2**40 bytes, followed by 2",
    b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"xx.",
)
raw_pickle_case(
    "long4_huge",
    f"{I2} length fields believed",
    "LONG4 declaring 2**31-1 bytes of integer, followed by 4",
    b"\x80\x02\x8b" + struct.pack("<i", 2**31 - 1) + b"\x01\x02\x03\x04.",
)
raw_pickle_case(
    "frame_huge",
    f"{I2} length fields believed",
    "protocol 4 FRAME declaring 2**40 bytes around a tiny pickle",
    b"\x80\x04\x95" + struct.pack("<Q", 2**40) + b"N.",
)
raw_pickle_case(
    "memo_index_huge_put",
    f"{I2} memo index 0x3fffffff",
    "the 9-byte pickle PROTO 2, NONE, LONG_BINPUT 0x3fffffff, STOP: the C unpickler sizes "
    "its memo by the index",
    b"\x80\x02Nr\xff\xff\xff\x3f.",
    containers=("pkl", "zip", "legacy"),
    quick=("pkl",),
    # A valid pickle of None whose only fault is the sparse index: the scan sends it to the
    # watched unpickler, whose memo is a dict, so it loads None in bounded memory.
    also=(*BOMB_OK, "loads"),
)
raw_pickle_case(
    "memo_index_huge_get",
    f"{I2} memo index 0x3fffffff",
    "LONG_BINPUT 0x3fffffff then LONG_BINGET 0x3fffffff",
    b"\x80\x02Nr\xff\xff\xff\x3f0j\xff\xff\xff\x3f.",
    # As memo_index_huge_put: a valid pickle of None, loaded by the watched unpickler.
    also=(*BOMB_OK, "loads"),
)

file_case(
    "storage_numel_huge",
    f"{I2} huge declared storage numel",
    "unreadable",
    "a tensor whose storage declares 2**40 elements; the record holds 2",
    lambda c: state_dict([("w", TensorX("w0", floats(1, 2), 2**40, (2,), (1,)))]),
    containers=("zip", "legacy"),
    also=BOMB_OK,
    static_ok=True,
)
file_case(
    "stride0_huge_shape",
    f"{I2} stride-0 view made contiguous",
    "unreadable",
    "a state_dict tensor of shape (2**20, 2**20) with strides (0, 0) over one float: a view "
    "of 4 TB once made contiguous (load may keep it a view; convert must not materialise it)",
    lambda c: state_dict([("w", TensorX("w0", floats(1), 1, (2**20, 2**20), (0, 0)))]),
    containers=("zip", "legacy"),
    also=BOMB_OK,
    expect_by_entry={
        e: ("unreadable", "refused", "loads")
        for e in (
            "api.inspect",
            "cli.inspect",
            "api.load",
            "api.load_crc",
            "api.load_trust",
            "policy_store",
            "cli.verify",
        )
    },
    quick=("zip",),
)


def np_dtype(
    code: str = "f4",
    order: str = "<",
    flags: int = 0,
    elsize: int = -1,
    align: int = -1,
) -> Build:
    """``numpy.dtype(code, False, True)`` then BUILD with its version-3 state."""
    return Build(
        Call(Global("numpy", "dtype"), [Lit(code), Lit(False), Lit(True)]),
        Tup(
            [
                Lit(3),
                Lit(order),
                Lit(None),
                Lit(None),
                Lit(None),
                Lit(elsize),
                Lit(align),
                Int(flags),
            ]
        ),
    )


def np_array(shape: tuple[int, ...], dtype: Expr, raw: bytes) -> Build:
    base = Call(
        Global("numpy.core.multiarray", "_reconstruct"),
        [Global("numpy", "ndarray"), Tup([Lit(0)]), Raw(b"b")],
    )
    return Build(base, Tup([Lit(1), Tup([Int(s) for s in shape]), dtype, Lit(False), Raw(raw)]))


file_case(
    "tensor_empty_huge_dim",
    f"{I2} tolist of an empty huge-dimension tensor",
    "unreadable",
    "metadata holding a tensor of shape (2**40, 0): no element, but tolist() makes 2**40 lists",
    lambda c: raw_dict(
        [
            (
                "extras",
                Dct([(Lit("obs_mean"), TensorX("e0", b"", 0, (2**40, 0), (0, 1)))]),
            )
        ]
    ),
    containers=("zip", "legacy"),
    graph=True,
    also=SHARED_OK,
)
file_case(
    "ndarray_empty_huge_dim",
    f"{I2} tolist of an empty huge-dimension array (conversion)",
    "unreadable",
    "metadata holding a numpy array of shape (2**40, 0), dtype float32, no bytes",
    lambda c: raw_dict(
        [("extras", Dct([(Lit("obs_mean"), np_array((2**40, 0), np_dtype(), b""))]))]
    ),
    containers=("zip", "legacy"),
    graph=True,
    also=SHARED_OK,
    quick=("zip",),
)
file_case(
    "list_of_stride0_view",
    f"{I2} vetted container iterating a tensor",
    "unreadable",
    "__builtin__.list(a stride-0 view of 10**8 elements) in the metadata",
    lambda c: raw_dict(
        [
            (
                "extras",
                Call(builtin2("list"), [TensorX("v0", floats(1), 1, (10**8,), (0,))]),
            )
        ]
    ),
    containers=("zip", "legacy"),
    graph=True,
    also=BOMB_OK,
    quick=("zip",),
)
file_case(
    "set_of_stride0_view",
    f"{I2} vetted container iterating a tensor",
    "unreadable",
    "__builtin__.set(a stride-0 view of 10**8 elements) in the metadata",
    lambda c: raw_dict(
        [
            (
                "extras",
                Call(builtin2("set"), [TensorX("v0", floats(1), 1, (10**8,), (0,))]),
            )
        ]
    ),
    containers=("zip",),
    graph=True,
    also=BOMB_OK,
)


def parameter_with_build(key: str) -> Build:
    """A Parameter with a BUILD on it: all weights-only globals, but the C unpickler may not
    read it, so compat.load hands the file to the torch_load strategy (torch.load)."""
    param = Call(
        Global("torch._utils", "_rebuild_parameter"),
        [tensor(key, [1, 2]), Lit(True), odict()],
    )
    return Build(param, Tup([Lit(True), Lit(None), odict()]))


GIB8 = 8 * 2**30
file_case(
    "bytearray_8gib",
    f"{I2} builtins.bytearray(8 GiB)",
    "unreadable",
    "a state_dict entry builtins.bytearray(8 GiB): weights-only globals only",
    lambda c: state_dict(
        [
            ("w", tensor("w0", [1, 2])),
            ("blob", Call(Global("builtins", "bytearray"), [Int(GIB8)])),
        ]
    ),
    containers=("zip", "legacy"),
    static_ok=True,
    also=BOMB_OK,
    quick=("zip",),
)
file_case(
    "bytearray_8gib_via_strategy",
    f"{I2} builtins.bytearray(8 GiB) through the torch_load strategy",
    "unreadable",
    "bytearray(8 GiB) beside a Parameter with a BUILD, which sends the file to torch.load",
    lambda c: state_dict(
        [
            ("w", parameter_with_build("w0")),
            ("blob", Call(Global("builtins", "bytearray"), [Int(GIB8)])),
        ]
    ),
    containers=("zip", "legacy"),
    static_ok=True,
    also=BOMB_OK,
)


@raw_case(
    "v1_trainer_bytearray_8gib",
    "v1",
    f"{I2} bytearray(8 GiB) via load_trainer_state",
    "unreadable",
    "a v1 run whose trainer state holds builtins.bytearray(8 GiB) (trainer files have no sha256)",
    also=BOMB_OK,
    expect_by_entry={
        e: ("loads",)
        for e in (
            "manager.list",
            "cli.ls",
            "manager.load_state_dict",
            "manager.load_agent",
            "api.load",
            "api.load_trust",
            "api.inspect",
            "cli.inspect",
            "policy_store",
        )
    },
    setup={"agent": True},
    quick=True,
)
def _v1_trainer_bytearray(directory: Path, case: str) -> tuple[Path, str | None]:
    trainer = Dct(
        [
            (
                Lit("optimizer"),
                Dct([(Lit("state"), Dct([])), (Lit("param_groups"), Lst([]))]),
            ),
            (Lit("epoch"), Lit(1)),
            (Lit("extra"), Call(Global("builtins", "bytearray"), [Int(GIB8)])),
        ]
    )
    run_dir = directory / "run"
    pt = write_v1(run_dir, trainer=trainer)
    return run_dir, str(pt)


@raw_case(
    "v1_weights_bytearray_8gib",
    "v1",
    f"{I2} bytearray(8 GiB) via load_state_dict",
    "unreadable",
    "a v1 pair whose .pt (sha256 in the sidecar matches) holds builtins.bytearray(8 GiB)",
    also=BOMB_OK,
    expect_by_entry={
        **{e: ("loads",) for e in ("manager.list", "cli.ls", "manager.load_trainer_state")},
        **{e: ("unreadable", "refused", "loads") for e in ("api.inspect", "cli.inspect")},
    },
    setup={"agent": True},
)
def _v1_weights_bytearray(directory: Path, case: str) -> tuple[Path, str | None]:
    weights = state_dict(
        [
            ("w", tensor("w0", [1, 2])),
            ("blob", Call(Global("builtins", "bytearray"), [Int(GIB8)])),
        ]
    )
    run_dir = directory / "run"
    pt = write_v1(run_dir, weights=weights)
    return run_dir, str(pt)


# ---- zip container tricks


@raw_case(
    "zip_shared_span_12000_crc0",
    "zip",
    f"{I2} 12,000 zip records sharing one span (CRC 0)",
    "unreadable",
    "12,000 storage records whose central-directory entries all point at one 256 KiB data "
    'span, CRC 0 ("not computed"): each read as a separate copy, 3 GB from a 2 MB file',
    also=BOMB_OK,
    quick=True,
)
def _zip_shared_span(directory: Path, case: str) -> tuple[Path, str | None]:
    n, numel = 12_000, 65_536
    data = bytes(numel * 4)
    items = [(f"t{i}", TensorX(str(i), data, numel, (numel,), (1,))) for i in range(n)]
    payload, _ = _pickled(state_dict(items))
    archive = case
    head = [Rec(f"{archive}/data.pkl", payload)]
    shared = Rec(f"{archive}/data/0", data, crc=0)
    tail = [Rec(f"{archive}/version", b"3\n"), Rec(f"{archive}/byteorder", b"little")]
    local, offsets = local_section([*head, shared, *tail], 0)
    records = [
        *head,
        *(dataclasses.replace(shared, name=f"{archive}/data/{i}") for i in range(n)),
        *tail,
    ]
    rec_offsets = [offsets[0], *([offsets[1]] * n), offsets[2], offsets[3]]
    cd = central_directory(records, rec_offsets)
    path = directory / "model_0001.pt"
    path.write_bytes(local + cd + eocd(len(records), len(cd), len(local)))
    return path, None


@functools.lru_cache(maxsize=2)
def _deflate_bomb(prefix: bytes, mib: int) -> tuple[bytes, int]:
    """(raw deflate stream, crc32) of ``prefix`` followed by ``mib`` MiB of zeros, built from
    one compressed MiB repeated (full flushes make each chunk self-contained)."""
    zeros = bytes(1 << 20)
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = first.compress(prefix) + first.flush(zlib.Z_FULL_FLUSH)
    chunker = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = chunker.compress(zeros) + chunker.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = zlib.crc32(prefix)
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    return head + chunk * mib + tail, crc


@raw_case(
    "zip_deflate_bomb",
    "zip",
    f"{I2} deflate record inflating enormously",
    "unreadable",
    "data.pkl stored DEFLATED: 3 MB on disk, 3 GiB once inflated (a pickle then zeros)",
    also=BOMB_OK,
)
def _zip_deflate_bomb(directory: Path, case: str) -> tuple[Path, str | None]:
    payload, storages = _pickled(state_dict([("w", tensor("w0", [1, 2]))]))
    stream, crc = _deflate_bomb(payload, 3 * 1024 - 1)
    size = len(payload) + (3 * 1024 - 1) * (1 << 20)
    records = torch_records(case, payload, storages)
    records[0] = Rec(records[0].name, payload, method=8, payload=stream, crc=crc, size=size)
    path = directory / "model_0001.pt"
    path.write_bytes(plain_zip(records))
    return path, None


@raw_case(
    "zip_crc_zero",
    "zip",
    f"{I2} zip records with CRC 0",
    "loads",
    "an honest archive whose records all store CRC 0 (torch's set_crc32_options(False)): "
    "documented to load, CRCs unchecked",
    also=("unreadable",),
)
def _zip_crc_zero(directory: Path, case: str) -> tuple[Path, str | None]:
    payload, storages = _pickled(state_dict([("w", tensor("w0", [1, 2]))]))
    records = [dataclasses.replace(r, crc=0) for r in torch_records(case, payload, storages)]
    path = directory / "model_0001.pt"
    path.write_bytes(plain_zip(records))
    return path, None


# ---- sidecars, index, safetensors headers

BILLION_LAUGHS_YAML = """{{
  a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol],
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a],
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b],
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c],
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d],
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e],
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f],
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g],
  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]}}"""
SIDECAR_ENTRIES = (
    "manager.list",
    "manager.load_state_dict",
    "manager.load_agent",
    "api.load",
    "api.inspect",
    "cli.ls",
    "cli.verify",
    "cli.inspect",
    "policy_store",
)


@raw_case(
    "yaml_billion_laughs",
    "yaml",
    f"{I2} YAML sidecar with aliases",
    "unreadable",
    "a v1 sidecar (~800 bytes) whose metrics are 9 levels of 9 aliases (387M leaves once expanded)",
    entries=SIDECAR_ENTRIES,
    also=("loads",),  # kept shared (never expanded) is fine too
    setup={"agent": True},
    quick=True,
)
def _yaml_laughs(directory: Path, case: str) -> tuple[Path, str | None]:
    run_dir = directory / "run"
    pt = write_v1(run_dir, metrics=BILLION_LAUGHS_YAML.format())
    return run_dir, str(pt)


@raw_case(
    "yaml_deep_nesting",
    "yaml",
    "15.3 RecursionError (deep YAML sidecar)",
    "unreadable",
    "a v1 sidecar whose metrics nest 20,000 flow sequences deep",
    entries=SIDECAR_ENTRIES,
    # compat.load/inspect read the .pt as the plain torch file it is (a sidecar that does
    # not parse makes no v1 pair); a listing leaves the epoch out with a warning.
    expect_by_entry={
        e: ("unreadable", "loads")
        for e in ("api.load", "api.inspect", "cli.inspect", "manager.list")
    },
    setup={"agent": True},
    quick=True,
)
def _yaml_deep(directory: Path, case: str) -> tuple[Path, str | None]:
    run_dir = directory / "run"
    pt = write_v1(run_dir, metrics="{x: " + "[" * 20_000 + "]" * 20_000 + "}")
    return run_dir, str(pt)


@raw_case(
    "index_deep_nesting",
    "index",
    "15.3 RecursionError (deep .ckpt-index.json)",
    "unreadable",
    "a run directory with one honest pair and a .ckpt-index.json nested 100,000 arrays deep "
    "(the index is a cache: ignoring it and loading is fine too)",
    entries=(
        "manager.list",
        "manager.load_state_dict",
        "cli.ls",
        "cli.verify",
        "policy_store",
    ),
    also=("loads",),
    setup={"agent": True},
)
def _index_deep(directory: Path, case: str) -> tuple[Path, str | None]:
    run_dir = directory / "run"
    write_v1(run_dir)
    (run_dir / ".ckpt-index.json").write_text("[" * 100_000 + "]" * 100_000)
    return run_dir, None


def _safetensors(path: Path, header: bytes, data: bytes) -> Path:
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


@raw_case(
    "safetensors_deep_header",
    "safetensors",
    "15.3 RecursionError (deep safetensors header)",
    "unreadable",
    "a safetensors file whose JSON header nests 100,000 arrays deep in __metadata__",
    also=BOMB_OK,
    quick=True,
)
def _st_deep(directory: Path, case: str) -> tuple[Path, str | None]:
    header = (
        b'{"__metadata__": {"x": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b'}, "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}'
    )
    return _safetensors(directory / "model.safetensors", header, floats(1, 2)), None


@raw_case(
    "safetensors_shape_overruns_data",
    "safetensors",
    f"{I2} shape checked against the data",
    "unreadable",
    "a safetensors tensor of shape [2**20, 2**20] whose data_offsets span 8 bytes",
    also=BOMB_OK,
    expect_by_entry={e: ("unreadable", "refused", "loads") for e in ("api.inspect", "cli.inspect")},
)
def _st_shape(directory: Path, case: str) -> tuple[Path, str | None]:
    header = json.dumps(
        {"w": {"dtype": "F32", "shape": [2**20, 2**20], "data_offsets": [0, 8]}}
    ).encode()
    return _safetensors(directory / "model.safetensors", header, floats(1, 2)), None


# ---- special files in a tree

TREE_ENTRIES = ("cli.migrate", "cli.verify", "cli.ls", "manager.list", "policy_store")


def legit_record(epoch: int, key: str = "w", values: Sequence[float] = (1.0, 2.0)) -> NewObj:
    """A PolicyStore-era PolicyRecord pickle with honest metadata and a tiny Linear agent."""
    metadata = NewObj(
        Global("metta.agent.policy_metadata", "PolicyMetadata"),
        items=[
            (Lit("agent_step"), Lit(epoch * 100)),
            (Lit("epoch"), Lit(epoch)),
            (Lit("generation"), Lit(0)),
            (Lit("train_time"), Lit(1.5)),
            (Lit("score"), Lit(0.5)),
        ],
    )
    state = Dct(
        [
            (Lit("_policy_store"), Lit(None)),
            (Lit("run_name"), Lit(f"model_{epoch:04d}.pt")),
            (Lit("uri"), Lit(f"file://./checkpoints/model_{epoch:04d}.pt")),
            (Lit("metadata"), metadata),
            (Lit("_cached_policy"), linear(f"e{epoch}_")),
        ]
    )
    return NewObj(Global("metta.agent.policy_record", "PolicyRecord"), state=state)


def write_record(path: Path, epoch: int, archive: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zip_container(archive or path.stem, *_pickled(legit_record(epoch))))
    return path


@raw_case(
    "tree_fifo",
    "tree",
    f"{I2} special files in a tree (FIFO)",
    "loads",
    "a migrate tree with an honest record and a FIFO named model_0002.pt: must be skipped "
    "with a reason, never opened (a blocked open is a timeout)",
    also=("unreadable",),
    entries=(*TREE_ENTRIES, "api.inspect", "api.load", "cli.inspect"),
    expect_by_entry={e: ("unreadable",) for e in ("api.inspect", "api.load", "cli.inspect")},
    quick=True,
)
def _tree_fifo(directory: Path, case: str) -> tuple[Path, str | None]:
    tree = directory / "tree"
    write_record(tree / "model_0001.pt", 1)
    os.mkfifo(tree / "model_0002.pt")
    return tree, str(tree / "model_0002.pt")


@raw_case(
    "tree_symlink_dev_zero",
    "tree",
    f"{I2} special files in a tree (symlink to /dev/zero)",
    "loads",
    "a migrate tree with an honest record and model_0002.pt -> /dev/zero",
    also=("unreadable",),
    entries=(*TREE_ENTRIES, "api.inspect", "api.load", "cli.inspect", "api.convert"),
    expect_by_entry={
        e: ("unreadable",) for e in ("api.inspect", "api.load", "cli.inspect", "api.convert")
    },
)
def _tree_dev_zero(directory: Path, case: str) -> tuple[Path, str | None]:
    tree = directory / "tree"
    write_record(tree / "model_0001.pt", 1)
    (tree / "model_0002.pt").symlink_to("/dev/zero")
    return tree, str(tree / "model_0002.pt")


@raw_case(
    "tree_symlink_outside",
    "tree",
    f"{I2} special files in a tree (symlink out of the tree)",
    "loads",
    "a migrate tree with an honest record and model_0002.pt -> a checkpoint outside the "
    "tree: it must not be followed and converted",
    also=("unreadable",),
    # epoch 2 exists only behind the symlink (the source path may be recorded resolved)
    checks={"out_forbid_glob": "**/*.e00000002.*"},
)
def _tree_symlink_outside(directory: Path, case: str) -> tuple[Path, str | None]:
    tree = directory / "tree"
    write_record(tree / "model_0001.pt", 1)
    outside = write_record(directory / "elsewhere" / "secret_0002.pt", 2)
    (tree / "model_0002.pt").symlink_to(outside)
    return tree, None


@raw_case(
    "tree_conversion_bomb_rerun",
    "tree",
    f"{I2} bomb firing only in conversion, then a rerun",
    "unreadable",
    "a migrate tree whose record holds a stride-0 weight of shape (2**15, 2**15): a 4-byte "
    "storage, 4 GiB once made contiguous for the bitwise check. migrate runs twice; the "
    "second run must not report the killed conversion 'already done'",
    also=BOMB_OK,
    entries=("cli.migrate",),
    checks={"rerun": "already done"},
)
def _tree_conversion_bomb(directory: Path, case: str) -> tuple[Path, str | None]:
    tree = directory / "tree"
    tree.mkdir(parents=True)
    weights = state_dict([("w", TensorX("w0", floats(1), 1, (2**15, 2**15), (0, 0)))])
    (tree / "model_0001.pt").write_bytes(zip_container("model_0001", *_pickled(weights)))
    return tree, None


@raw_case(
    "v1_weights_symlink_dev_zero",
    "v1",
    f"{I2} special files in a run directory",
    "unreadable",
    "a v1 run whose weights file is a symlink to /dev/zero (the sidecar is honest about "
    "another file's size and hash)",
    expect_by_entry={
        "manager.list": ("loads",),
        "cli.ls": ("loads", "unreadable"),
        "manager.load_trainer_state": ("loads",),  # the trainer file is honest
    },
    setup={"agent": True},
)
def _v1_dev_zero(directory: Path, case: str) -> tuple[Path, str | None]:
    run_dir = directory / "run"
    pt = write_v1(run_dir)
    pt.unlink()
    pt.symlink_to("/dev/zero")
    return run_dir, str(pt)


# ============================================================================================
# 15.4  integrity: what decides must read the very bytes that are loaded

I4 = "15.4"


def _forged_t(case: str, via_type_v2: bool) -> tuple[bytes, dict[str, bytes]]:
    """The pickle torch's reader is meant to find: a state_dict with a PWNED_ key."""
    value: Expr = tensor("t0", [6, 6])
    if via_type_v2:
        tv = tensor("t1", [7, 7])
        value = Call(
            Global("torch._tensor", "_rebuild_from_type_v2"),
            [
                Global("torch._utils", "_rebuild_tensor_v2"),
                Global("torch._tensor", "Tensor"),
                Tup(tv_args(tv)),
                odict(),
            ],
        )
        return _pickled_with(state_dict([(f"{MARKER}{case}", value)]), tv)
    return _pickled(state_dict([(f"{MARKER}{case}", value)]))


def tv_args(t: TensorX) -> list[Expr]:
    pid: list[Expr] = [
        Lit("storage"),
        Global("torch", t.storage),
        Lit(t.key),
        Lit("cpu"),
        Int(t.numel),
    ]
    return [
        PersId(pid),
        Int(0),
        Tup([Int(s) for s in t.shape]),
        Tup([Int(s) for s in t.stride]),
        Lit(False),
        odict(),
    ]


def _pickled_with(expr: Expr, *extra: TensorX) -> tuple[bytes, dict[str, bytes]]:
    payload, storages = _pickled(expr)
    for t in extra:
        storages[t.key] = t.data
    return payload, storages


def _benign_p(via_strategy: bool = True) -> tuple[bytes, dict[str, bytes]]:
    """The pickle Python's zipfile (the scan) finds: honest weights; with ``via_strategy`` a
    Parameter with a BUILD, so compat.load hands the file to torch.load."""
    value = parameter_with_build("p0") if via_strategy else tensor("p0", [1, 2])
    return _pickled(state_dict([("w", value)]))


def two_central_directories(
    case: str, t: tuple[bytes, dict[str, bytes]], p: tuple[bytes, dict[str, bytes]]
) -> bytes:
    """[T records][P records][CD_T][CD_P][EOCD -> CD_T, size len(CD_P)].

    Python's zipfile reads the central directory that ends at the EOCD (CD_P) and shifts its
    offsets by where it really is ("concat" for self-extracting archives); torch's miniz
    reads the one at the EOCD's offset (CD_T). Both directories have equal sizes.
    """
    t_recs, p_recs = torch_records(case, *t), torch_records(case, *p)
    if len(t_recs) != len(p_recs):
        raise ValueError("both pickles need as many storages")
    t_local, t_offsets = local_section(t_recs, 0)
    cd_t_len = len(central_directory(t_recs, t_offsets))
    if len(t_local) < cd_t_len:  # P's shifted offsets must stay >= 0: lengthen T
        t_local, t_offsets = _padded_local(t_recs, cd_t_len - len(t_local))
    p_local, p_offsets = local_section(p_recs, len(t_local))
    cd_t = central_directory(t_recs, t_offsets)
    cd_p = central_directory(p_recs, [o - len(cd_t) for o in p_offsets])
    assert len(cd_t) == len(cd_p)
    cd_t_at = len(t_local) + len(p_local)
    return t_local + p_local + cd_t + cd_p + eocd(len(t_recs), len(cd_p), cd_t_at)


def two_eocd_zip64(
    case: str, t: tuple[bytes, dict[str, bytes]], p: tuple[bytes, dict[str, bytes]]
) -> bytes:
    """[T][P][CD_T][ZIP64 EOCD_T][CD_P][ZIP64 EOCD_P][locator -> EOCD_T][EOCD, all 0xFF..].

    Two zip64 end records: zipfile reads the one just before the locator (EOCD_P, whose
    directory ends right before it), miniz the one at the offset the locator names (EOCD_T).
    """
    t_recs, p_recs = torch_records(case, *t), torch_records(case, *p)
    t_local, t_offsets = local_section(t_recs, 0)
    p_local, p_offsets = local_section(p_recs, len(t_local))
    cd_t, cd_p = (
        central_directory(t_recs, t_offsets),
        central_directory(p_recs, p_offsets),
    )
    cd_t_at = len(t_local) + len(p_local)
    z64_t_at = cd_t_at + len(cd_t)
    cd_p_at = z64_t_at + _EOCD64.size
    n_t, n_p = len(t_recs), len(p_recs)
    z64_t = _EOCD64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, n_t, n_t, len(cd_t), cd_t_at)
    z64_p = _EOCD64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, n_p, n_p, len(cd_p), cd_p_at)
    locator = _LOCATOR64.pack(b"PK\x06\x07", 0, z64_t_at, 1)
    end = _EOCD.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return t_local + p_local + cd_t + z64_t + cd_p + z64_p + locator + end


def prepended_archive(
    case: str, t: tuple[bytes, dict[str, bytes]], p: tuple[bytes, dict[str, bytes]]
) -> bytes:
    """A whole archive T, then archive P whose offsets count from P's own start and whose
    central directory offset equals T's: zipfile (which compensates for prepended data)
    reads P, miniz (absolute offsets) lands on T's directory."""
    t_recs = [
        *torch_records(case, *t),
        Rec(f"{case}/.data/pad", bytes(512)),
    ]  # T the longer
    p_recs = torch_records(case, *p)
    t_local, t_offsets = local_section(t_recs, 0)
    p_local, _ = local_section(p_recs, 0)
    # Grow P's first local header by the difference, so both directories sit at one offset.
    p_local, p_offsets = _padded_local(p_recs, len(t_local) - len(p_local))
    assert len(p_local) == len(t_local)
    cd_t, cd_p = (
        central_directory(t_recs, t_offsets),
        central_directory(p_recs, p_offsets),
    )
    archive_t = t_local + cd_t + eocd(len(t_recs), len(cd_t), len(t_local))
    archive_p = p_local + cd_p + eocd(len(p_recs), len(cd_p), len(p_local))
    return archive_t + archive_p


def _padded_local(records: Sequence[Rec], pad: int) -> tuple[bytes, list[int]]:
    """Like ``local_section`` at offset 0, with ``pad`` extra bytes in the first local header."""
    local, offsets = local_section(records, 0)
    if pad == 0:
        return local, offsets
    first = records[0]
    name = first.name.encode()
    extra_len = struct.unpack_from("<H", local, 28)[0]
    new_extra_len = extra_len + pad
    header = bytearray(local[: _LOCAL.size])
    struct.pack_into("<H", header, 28, new_extra_len)
    start = _LOCAL.size + len(name)
    extra = local[start : start + extra_len] + b"Z" * pad
    rebuilt = bytes(header) + name + extra + local[start + extra_len :]
    return rebuilt, [offsets[0], *(o + pad for o in offsets[1:])]


@raw_case(
    "zip_two_central_dirs",
    "zip",
    f"{I4} two central directories (scan and torch read different data.pkl)",
    "refused",
    "two central directories: zipfile (scan, CRC, verify) finds an honest data.pkl with a "
    "BUILD on a Parameter (so compat.load calls torch.load), torch's reader a state_dict "
    "with a PWNED_ key",
    also=("unreadable",),
    checks=NO_KEY | {"readers_disagree": True},
    quick=True,
)
def _zip_two_cd(directory: Path, case: str) -> tuple[Path, str | None]:
    path = directory / "model_0001.pt"
    path.write_bytes(two_central_directories(case, _forged_t(case, False), _benign_p()))
    return path, None


@raw_case(
    "zip_two_central_dirs_type_v2",
    "zip",
    f"{I4} two central directories, torch side uses _rebuild_from_type_v2",
    "refused",
    "as zip_two_central_dirs, the torch-side pickle building its tensor through "
    "torch._tensor._rebuild_from_type_v2 (refused even with trust, per the README)",
    also=("unreadable",),
    checks=NO_KEY | {"readers_disagree": True},
)
def _zip_two_cd_v2(directory: Path, case: str) -> tuple[Path, str | None]:
    path = directory / "model_0001.pt"
    path.write_bytes(two_central_directories(case, _forged_t(case, True), _benign_p()))
    return path, None


@raw_case(
    "zip_two_eocd_zip64",
    "zip",
    f"{I4} two end-of-central-directory records (zip64)",
    "refused",
    "two zip64 end-of-central-directory records: zipfile takes the one just before the "
    "locator (CD_P), miniz the one the locator points at (CD_T)",
    also=("unreadable",),
    checks=NO_KEY | {"readers_disagree": True},
)
def _zip_two_eocd(directory: Path, case: str) -> tuple[Path, str | None]:
    path = directory / "model_0001.pt"
    path.write_bytes(two_eocd_zip64(case, _forged_t(case, False), _benign_p()))
    return path, None


@raw_case(
    "zip_prepended_archive",
    "zip",
    f"{I4} prepended data (a whole archive)",
    "refused",
    "archive T, then archive P with offsets relative to itself: zipfile reads P, torch T",
    also=("unreadable",),
    checks=NO_KEY | {"readers_disagree": True},
)
def _zip_prepended_archive(directory: Path, case: str) -> tuple[Path, str | None]:
    path = directory / "model_0001.pt"
    path.write_bytes(prepended_archive(case, _forged_t(case, False), _benign_p()))
    return path, None


@raw_case(
    "zip_prepended_junk",
    "zip",
    f"{I4} prepended data (junk)",
    "unreadable",
    "4 KiB of junk before an honest archive whose offsets were not shifted: zipfile "
    "compensates, torch's reader does not",
    also=("refused",),
)
def _zip_prepended_junk(directory: Path, case: str) -> tuple[Path, str | None]:
    payload, storages = _benign_p()
    path = directory / "model_0001.pt"
    path.write_bytes(plain_zip(torch_records(case, payload, storages), prefix=b"J" * 4096))
    return path, None


@raw_case(
    "zip_duplicate_names",
    "zip",
    f"{I4} duplicate names",
    "refused",
    "two records named <archive>/data.pkl: the forged one first (what miniz's search may "
    "find), the honest one last (what zipfile's name table keeps)",
    also=("unreadable",),
    checks=NO_KEY | {"readers_disagree": True},
)
def _zip_duplicates(directory: Path, case: str) -> tuple[Path, str | None]:
    t_payload, t_storages = _forged_t(case, False)
    p_payload, p_storages = _benign_p()
    records = [Rec(f"{case}/data.pkl", t_payload), Rec(f"{case}/data.pkl", p_payload)]
    records += [Rec(f"{case}/data/{k}", v) for k, v in sorted({**t_storages, **p_storages}.items())]
    records += [Rec(f"{case}/version", b"3\n"), Rec(f"{case}/byteorder", b"little")]
    path = directory / "model_0001.pt"
    path.write_bytes(plain_zip(records))
    return path, None


@raw_case(
    "zip_name_outside_prefix",
    "zip",
    f"{I4} names outside the archive prefix",
    "refused",
    "the first record is forged/version (torch takes its archive name from the first "
    "record), then forged/data.pkl (forged) and honest/data.pkl",
    also=("unreadable",),
    checks=NO_KEY,
)
def _zip_outside_prefix(directory: Path, case: str) -> tuple[Path, str | None]:
    t_payload, t_storages = _forged_t(case, False)
    p_payload, p_storages = _benign_p()
    records = [Rec("forged/version", b"3\n"), Rec("forged/data.pkl", t_payload)]
    records += [Rec(f"forged/data/{k}", v) for k, v in sorted(t_storages.items())]
    records += torch_records("honest", p_payload, p_storages)
    path = directory / "model_0001.pt"
    path.write_bytes(plain_zip(records))
    return path, None


@raw_case(
    "zip_local_header_contradicts_cd",
    "zip",
    f"{I4} local headers contradicting the central directory",
    "unreadable",
    "data.pkl's local header names another file and declares other sizes than its "
    "central-directory entry",
    also=("refused",),
)
def _zip_local_mismatch(directory: Path, case: str) -> tuple[Path, str | None]:
    payload, storages = _benign_p(False)
    records = torch_records(case, payload, storages)
    records[0] = dataclasses.replace(records[0], local_name=f"{case}/data.pkx", local_sizes=(7, 7))
    path = directory / "model_0001.pt"
    path.write_bytes(plain_zip(records))
    return path, None


@raw_case(
    "v1_two_central_dirs",
    "v1",
    f"{I4} two central directories in a v1 .pt (verify by sha256 only)",
    "refused",
    "a v1 pair whose .pt has two central directories (sidecar sha256 matches the file): "
    "`ckpt verify` checks the hash and zipfile's view, load_state_dict's torch.load reads T",
    also=("unreadable",),
    expect_by_entry={
        "manager.list": ("loads",),
        "cli.ls": ("loads",),
        "manager.load_trainer_state": ("loads",),
    },
    checks=NO_KEY | {"readers_disagree": True},
    setup={"agent": True},
    quick=True,
)
def _v1_two_cd(directory: Path, case: str) -> tuple[Path, str | None]:
    run_dir = directory / "run"
    t = _forged_t(case, False)
    t_payload, t_storages = t
    data = two_central_directories("run.e00000001", (t_payload, t_storages), _benign_p(False))
    pt = write_v1(run_dir, weights=data)
    return run_dir, str(pt)


@raw_case(
    "v1_hostile_pickle_matching_sha",
    "v1",
    f"{I4} v1 .pt holding a hostile pickle, sidecar sha256 matches",
    "refused",
    "a v1 pair whose .pt data.pkl is os.system(cmd); the sidecar vouches for its sha256",
    also=("unreadable",),
    expect_by_entry={
        "manager.list": ("loads",),
        "cli.ls": ("loads",),
        "manager.load_trainer_state": ("loads",),
    },
    setup={"agent": True},
    quick=True,
)
def _v1_hostile(directory: Path, case: str) -> tuple[Path, str | None]:
    run_dir = directory / "run"
    payload, _ = _pickled(Call(Global("os", "system"), [Lit(shell(case))]))
    pt = write_v1(run_dir, weights=zip_container("run.e00000001", payload, {}))
    return run_dir, str(pt)


file_case(
    "build_shadows_ordereddict_items",
    f"{I4} BUILD shadowing OrderedDict.items",
    "unreadable",
    "an OrderedDict of one tensor, BUILD {'items': partial(list, [('w', 'not a tensor')]), "
    "'keys': ...}: recovery calling .items() must not see the shadow",
    lambda c: Build(
        odict([("w", tensor("w0", [1, 2]))]),
        Dct(
            [
                (
                    Lit("items"),
                    Call(
                        Global("functools", "partial"),
                        [builtin2("list"), Lst([Tup([Lit("w"), Lit("not a tensor")])])],
                    ),
                ),
                (
                    Lit("keys"),
                    Call(
                        Global("functools", "partial"),
                        [builtin2("list"), Lst([Lit("w")])],
                    ),
                ),
            ]
        ),
    ),
    containers=("zip", "legacy"),
    also=BOMB_OK,
    static_ok=True,
    # trust=True is pickle's own BUILD: an attribute on the dict, not a state_dict view
    expect_by_entry={"api.load_trust": ("unreadable", "refused", "loads")},
)
file_case(
    "build_shadows_ordereddict_items_dict",
    f"{I4} BUILD shadowing OrderedDict.items",
    "unreadable",
    "an OrderedDict state_dict whose BUILD sets 'items' to a plain dict of non-tensors",
    lambda c: Build(
        odict([("w", tensor("w0", [1, 2]))]),
        Dct([(Lit("items"), Dct([(Lit("w"), Lit("x"))])), (Lit("_metadata"), odict())]),
    ),
    containers=("zip",),
    also=BOMB_OK,
    static_ok=True,
    # trust=True is pickle's own BUILD: an attribute on the dict, not a state_dict view
    expect_by_entry={"api.load_trust": ("unreadable", "refused", "loads")},
)


@raw_case(
    "tree_epoch_collision",
    "tree",
    f"{I4} a file claiming another file's epoch",
    "unreadable",
    "model_0001.pt claims epoch 5 in its metadata; model_0005.pt is the genuine epoch 5. The "
    "collision must be reported, not won by whichever file comes first",
    also=("loads",),
    entries=("cli.migrate",),
    checks={"out_forbid": {"glob": "**/*.e00000005.yaml", "text": "model_0001.pt"}},
    quick=True,
)
def _tree_epoch_collision(directory: Path, case: str) -> tuple[Path, str | None]:
    tree = directory / "tree"
    write_record(tree / "model_0005.pt", 5)
    forged = tree / "model_0001.pt"
    forged.write_bytes(zip_container("model_0001", *_pickled(legit_record(5))))
    return tree, None


@raw_case(
    "tree_yaml_beside_legacy_zip",
    "tree",
    f"{I4} a .yaml beside a legacy zip forging converted_from",
    "loads",
    "run.e00000003.pt is a legacy PolicyRecord zip; run.e00000003.yaml beside it vouches for "
    "it (right sha256 and size) and forges converted_from. Migrating may convert it as "
    "legacy or refuse it, never copy the forged provenance",
    also=("unreadable", "refused"),
    entries=(
        "cli.migrate",
        "cli.verify",
        "cli.ls",
        "manager.list",
        "manager.load_state_dict",
        "api.load",
        "api.inspect",
        "api.convert",
        "policy_store",
    ),
    checks={
        "out_forbid": {"glob": "**/*.yaml", "text": "FORGED"},
        "result_forbid": "FORGED",
    },
)
def _tree_yaml_forge(directory: Path, case: str) -> tuple[Path, str | None]:
    tree = directory / "run"
    pt = write_record(tree / "run.e00000003.pt", 3, archive="run.e00000003")
    forged = (
        "{path: /FORGED/provenance/model_0003.pt, sha256: "
        + "f0" * 32
        + ", format: FORGED, legacy_classes: [], migrations: []}"
    )
    (tree / "run.e00000003.yaml").write_text(v1_sidecar("run", 3, pt, converted_from=forged))
    return tree, str(pt)


file_case(
    "persid_hidden_os_system",
    f"{I4} a call hidden behind a persistent id",
    "refused",
    "a tensor whose storage persistent id tuple carries os.system(cmd) in its storage-type slot",
    lambda c: state_dict(
        [
            (
                "w",
                Call(
                    Global("torch._utils", "_rebuild_tensor_v2"),
                    [
                        PersId(
                            [
                                Lit("storage"),
                                Call(Global("os", "system"), [Lit(shell(c))]),
                                Lit("w0"),
                                Lit("cpu"),
                                Lit(2),
                            ]
                        ),
                        Lit(0),
                        Tup([Lit(2)]),
                        Tup([Lit(1)]),
                        Lit(False),
                        odict(),
                    ],
                ),
            )
        ]
    ),
    containers=ALL3,
    quick=("zip",),
)
file_case(
    "persid_hidden_unvetted_call",
    f"{I4} a call hidden behind a persistent id",
    "refused",
    "a persistent id tuple carrying a call of an unvetted function (fakeproj.factory()); "
    "inspect and load must agree",
    lambda c: state_dict(
        [
            (
                "w",
                Call(
                    Global("torch._utils", "_rebuild_tensor_v2"),
                    [
                        PersId(
                            [
                                Lit("storage"),
                                Call(Global("fakeproj.storages", "factory"), [Lit(c)]),
                                Lit("w0"),
                                Lit("cpu"),
                                Lit(2),
                            ]
                        ),
                        Lit(0),
                        Tup([Lit(2)]),
                        Tup([Lit(1)]),
                        Lit(False),
                        odict(),
                    ],
                ),
            )
        ]
    ),
    containers=("zip", "legacy"),
    also=("unreadable",),
    # inspect judges safety statically: an unvetted call is inert (SPEC §8 as amended), so
    # its verdict is "needs the inert engine"; load then finds the persistent id malformed
    # and names it. Neither runs the call.
    expect_by_entry={e: ("refused", "unreadable", "loads") for e in ("api.inspect", "cli.inspect")},
)
file_case(
    "numpy_dtype_hasobject_flags",
    f"{I4} numpy dtype flags applied unchecked",
    "unreadable",
    "metadata holding a 'V8' array whose dtype state sets NPY_ITEM_HASOBJECT|REFCOUNT "
    "flags over raw bytes 0x41...: numpy would read the bytes as object pointers",
    lambda c: raw_dict(
        [
            (
                "extras",
                Dct(
                    [
                        (
                            Lit("arr"),
                            np_array(
                                (2,),
                                np_dtype("V8", "|", 0x01 | 0x08 | 0x10 | 0x20, 8, 1),
                                b"A" * 16,
                            ),
                        )
                    ]
                ),
            )
        ]
    ),
    containers=("zip", "legacy"),
    also=("refused",),
    static_ok=True,
    expect_by_entry={"api.load_trust": ("unreadable", "refused", "loads")},
    quick=("zip",),
)
file_case(
    "numpy_dtype_flags_mismatch",
    f"{I4} numpy dtype flags applied unchecked",
    "unreadable",
    "a float32 array whose dtype BUILD claims flags 0x3f (object, list-pickle, needs-init...)",
    lambda c: raw_dict(
        [
            (
                "extras",
                Dct(
                    [
                        (
                            Lit("arr"),
                            np_array((2,), np_dtype("f4", "<", 0x3F), floats(1, 2)),
                        )
                    ]
                ),
            )
        ]
    ),
    containers=("zip",),
    also=("refused",),
    static_ok=True,
    expect_by_entry={"api.load_trust": ("unreadable", "refused", "loads")},
)


@functools.lru_cache(maxsize=1)
def _zlib_bomb(mib: int) -> bytes:
    """A zlib stream of ``mib`` MiB of zeros (about 1 KiB per MiB), compressed piecewise."""
    compressor, zeros = zlib.compressobj(9), bytes(1 << 20)
    return b"".join(compressor.compress(zeros) for _ in range(mib)) + compressor.flush()


def codecs_call(text_or_bytes: Expr, codec: str, fn: str = "encode") -> Call:
    return Call(Global("_codecs", fn), [text_or_bytes, Lit(codec)])


#: A codec lookup imports ``encodings.<name>``: the child reports the modules an entry point
#: imported, and importing one the file chose turns a clean load into "accepted". Loading
#: with the value left inert (or a named error) is fine; trust=True imports as pickle does.
CODEC_MODULES = (
    "encodings.idna",
    "stringprep",
    "encodings.rot_13",
    "encodings.uu_codec",
    "encodings.undefined",
    "encodings.mbcs",
    "encodings.zlib_codec",
    "encodings.utf_7",
    "encodings.hex_codec",
)
CODEC = {
    "also": ("refused", "loads"),
    "static_ok": True,
    "checks": {"forbid_modules": CODEC_MODULES},
    "expect_by_entry": {"api.load_trust": ("unreadable", "refused", "loads")},
}


for _codec, _label in (
    ("idna", "idna (imports stringprep, unicodedata)"),
    ("rot13", "rot13"),
    ("uu_codec", "uu_codec"),
    ("undefined", "undefined (always raises)"),
    ("mbcs", "mbcs (Windows only)"),
):
    file_case(
        f"codec_{_codec}",
        f"{I4} codec lookups naming odd encodings.* codecs",
        "unreadable",
        f"metadata holding _codecs.encode('x', '{_codec}'): {_label}",
        lambda c, codec=_codec: raw_dict(
            [("extras", Dct([(Lit("s"), codecs_call(Lit("x"), codec))]))]
        ),
        containers=("zip",),
        **CODEC,
    )
file_case(
    "codec_zlib_decode_bomb",
    f"{I4} codec lookups naming odd encodings.* codecs",
    "unreadable",
    "_codecs.decode(<1 MB of zlib>, 'zlib_codec'): 1 GiB once decoded",
    lambda c: raw_dict(
        [
            (
                "extras",
                Dct(
                    [
                        (
                            Lit("s"),
                            codecs_call(Raw(_zlib_bomb(1024)), "zlib_codec", "decode"),
                        )
                    ]
                ),
            )
        ]
    ),
    containers=("zip",),
    **CODEC | {"expect_by_entry": {}},  # trust: a real 1 GiB decode is a bomb there too
)
file_case(
    "str_bytes_codec",
    f"{I4} str(bytes, codec)",
    "unreadable",
    "metadata holding __builtin__.str(b'x', 'utf_7') and str(b'x', 'hex_codec')",
    lambda c: raw_dict(
        [
            (
                "extras",
                Lst(
                    [
                        Call(builtin2("str"), [Raw(b"x"), Lit("utf_7")]),
                        Call(builtin2("str"), [Raw(b"78"), Lit("hex_codec")]),
                    ]
                ),
            )
        ]
    ),
    containers=("zip",),
    **CODEC,
)


# ============================================================================================
# 15.5  constructors reached from a file (canary classes live in harness.py)

I5 = "15.5"
V1_AGENT_ENTRIES = (
    "manager.load_agent",
    "manager.list",
    "cli.ls",
    "cli.verify",
    "policy_store",
)


@raw_case(
    "v1_forged_architecture_kwargs",
    "v1",
    f"{I5} forged sidecar architecture config",
    "refused",
    "a v1 sidecar naming the registered canary agent with undeclared config kwargs "
    "({width: 4, payload: ...}); reaching __init__ with them creates PWNED_<case>",
    also=("unreadable",),
    entries=V1_AGENT_ENTRIES,
    expect_by_entry={e: ("loads",) for e in ("manager.list", "cli.ls", "cli.verify")},
    setup={"agent": True},
    quick=True,
)
def _v1_forged_kwargs(directory: Path, case: str) -> tuple[Path, str | None]:
    run_dir = directory / "run"
    arch = "{class_path: " + AGENT + ", config: {width: 4, payload: 'echo pwned'}}"
    pt = write_v1(run_dir, architecture=arch)
    return run_dir, str(pt)


@raw_case(
    "v1_forged_architecture_types",
    "v1",
    f"{I5} forged sidecar architecture config",
    "refused",
    "a v1 sidecar giving the canary agent's int 'width' as a nested mapping",
    also=("unreadable",),
    entries=V1_AGENT_ENTRIES,
    expect_by_entry={e: ("loads",) for e in ("manager.list", "cli.ls", "cli.verify")},
    setup={"agent": True},
)
def _v1_forged_types(directory: Path, case: str) -> tuple[Path, str | None]:
    run_dir = directory / "run"
    arch = "{class_path: " + AGENT + ", config: {width: {'__class__': os.system}}}"
    pt = write_v1(run_dir, architecture=arch)
    return run_dir, str(pt)


RENAME = {"renames": {"legacyproj.agent.OldAgent": "harness.RedteamCanary"}}
RENAME_ENTRIES = (
    "api.load",
    "api.load_crc",
    "api.convert",
    "api.inspect",
    "policy_store",
)
RENAME_OK = ("refused", "unreadable", "loads")  # anything but __init__ running

file_case(
    "rename_reduce_reaches_init",
    f"{I5} plugin rename + REDUCE reaches __init__",
    "refused",
    "a plugin renames legacyproj.agent.OldAgent to the harness canary; the file REDUCEs it: "
    "OldAgent(4) must never call __init__ (only __new__ + state)",
    lambda c: raw_dict([("agent", Call(Global("legacyproj.agent", "OldAgent"), [Lit(4)]))]),
    containers=ALL3,
    also=RENAME_OK,
    setup={"safe_globals": RENAME},
    entries=RENAME_ENTRIES,
    quick=("zip",),
)
file_case(
    "rename_inst_reaches_init",
    f"{I5} plugin rename + INST reaches __init__",
    "refused",
    "as rename_reduce_reaches_init, with protocol-0 INST legacyproj.agent OldAgent",
    lambda c: raw_dict([("agent", Inst("legacyproj.agent", "OldAgent", [Lit(4)]))]),
    containers=("pkl", "zip"),
    also=RENAME_OK,
    setup={"safe_globals": RENAME},
    entries=RENAME_ENTRIES,
)
file_case(
    "rename_obj_reaches_init",
    f"{I5} plugin rename + OBJ reaches __init__",
    "refused",
    "as rename_reduce_reaches_init, with protocol-1 OBJ (cls, 4)",
    lambda c: raw_dict([("agent", Obj(Global("legacyproj.agent", "OldAgent"), [Lit(4)]))]),
    containers=("pkl", "zip"),
    also=RENAME_OK,
    setup={"safe_globals": RENAME},
    entries=RENAME_ENTRIES,
)
file_case(
    "rename_newobj_state_only",
    f"{I5} plugin rename, NEWOBJ + BUILD (the legitimate way)",
    "loads",
    "a renamed class built the way pickle builds objects: __new__ + state; must load "
    "(and never run __init__)",
    lambda c: raw_dict(
        [
            (
                "agent",
                NewObj(
                    Global("legacyproj.agent", "OldAgent"),
                    state=Dct([(Lit("width"), Lit(4))]),
                ),
            )
        ]
    ),
    containers=("zip",),
    also=("unreadable",),
    setup={"safe_globals": RENAME},
    entries=RENAME_ENTRIES,
)


# ============================================================================================
# legitimate structure that must keep loading (over-blocking checks)

IL = "legit"


def shared_submodule() -> Expr:
    """A Sequential-like agent whose _modules 'a' and 'b' are one Linear (tied weights)."""
    module = ModuleClass("legacyproj.nets", "Net")
    children = odict([("a", Get(0)), ("b", Get(0))])
    return Seq(
        [Put(linear("s"), 0)],
        NewObj(module, state=Dct(module_state(odict(), children))),
    )


file_case(
    "legit_shared_submodule",
    f"{IL} shared submodule",
    "loads",
    "an agent whose submodules 'a' and 'b' are the same Linear (tied weights)",
    lambda c: shared_submodule(),
    containers=("zip", "legacy"),
    quick=("zip",),
)
file_case(
    "legit_ordereddict_metadata",
    f"{IL} OrderedDict with _metadata",
    "loads",
    "a state_dict OrderedDict with _metadata set by BUILD, as torch writes it",
    lambda c: Build(
        odict(
            [
                ("weight", tensor("w0", [1, 2, 3, 4], (2, 2))),
                ("bias", tensor("b0", [0.5, -0.5])),
            ]
        ),
        Dct([(Lit("_metadata"), odict([("", Dct([(Lit("version"), Lit(1))]))]))]),
    ),
    containers=("zip", "legacy"),
    quick=("zip",),
)


def nested(depth: int) -> Expr:
    value: Expr = Lit("leaf")
    for _ in range(depth):
        value = Dct([(Lit("a"), value)])
    return value


file_case(
    "legit_nesting_50",
    f"{IL} nesting depth 50",
    "loads",
    "metadata nested 50 dicts deep",
    lambda c: raw_dict([("extras", nested(50))]),
    containers=("zip", "legacy"),
    # A sidecar nests at most 48 levels (its metrics go into the JSON index): conversion
    # fails naming the depth, before anything is written, rather than lose the metadata.
    expect_by_entry={e: ("loads", "unreadable") for e in ("api.convert", "cli.convert")},
    quick=("zip",),
)
file_case(
    "legit_list_shared_10",
    f"{IL} list shared 10 times",
    "loads",
    "metadata holding one list referenced 10 times through the memo",
    lambda c: raw_dict([("extras", Seq([Put(Lst([Lit(1), Lit(2)]), 0)], Lst([Get(0)] * 10)))]),
    containers=("zip", "legacy"),
    quick=("zip",),
)
file_case(
    "legit_module_dag_small",
    f"{IL} small module DAG",
    "loads",
    "the module DAG of module_dag_shared_submodules, 3 levels (8 paths)",
    lambda c: module_dag(3),
    containers=("zip",),
)
file_case(
    "legit_gym_spaces_small",
    f"{IL} gym spaces",
    "loads",
    "observation_space: gymnasium Dict spaces 3 deep, shared twice per level",
    lambda c: raw_dict([("observation_space", gym_nested(3, shared=True))]),
    containers=("zip",),
)
file_case(
    "legit_stride0_small",
    f"{IL} small stride-0 tensor",
    "loads",
    "a state_dict tensor expanded to shape (4,) with stride (0,) over one float",
    lambda c: state_dict([("w", TensorX("w0", floats(3), 1, (4,), (0,)))]),
    containers=("zip",),
)
file_case(
    "legit_parameter_with_build",
    f"{IL} torch_load strategy path",
    "loads",
    "a Parameter with a BUILD (goes through the torch_load strategy)",
    lambda c: state_dict([("w", parameter_with_build("w0"))]),
    containers=("zip",),
)
file_case(
    "legit_numpy_array",
    f"{IL} numpy array in metadata",
    "loads",
    "metadata holding a float32 numpy array of 2 elements",
    lambda c: raw_dict(
        [("extras", Dct([(Lit("obs_mean"), np_array((2,), np_dtype(), floats(1, 2)))]))]
    ),
    containers=("zip",),
)


def _corpus_case(name: str, rel: str, quick: bool = False) -> None:
    source = CORPUS / rel
    container = "legacy" if "legacy" in rel else "zip"

    @raw_case(
        name,
        container,
        f"{IL} real torch {rel.split('/', maxsplit=1)[0]} file",
        "loads",
        f"the committed corpus file {rel}",
        quick=quick,
    )
    def _copy(directory: Path, case: str) -> tuple[Path, str | None]:
        path = directory / "model_0001.pt"
        shutil.copyfile(source, path)
        return path, None


_corpus_case("legit_corpus_record_zip", "torch-2.0.1/record_zip.pt", quick=True)
_corpus_case("legit_corpus_record_legacy", "torch-1.13.1/record_legacy.pt")
_corpus_case("legit_corpus_dtypes_zip", "torch-2.5.1/dtypes_zip.pt")


@raw_case(
    "legit_safetensors",
    "safetensors",
    f"{IL} safetensors",
    "loads",
    "a two-tensor safetensors file with metadata",
)
def _st_legit(directory: Path, case: str) -> tuple[Path, str | None]:
    header = json.dumps(
        {
            "__metadata__": {"epoch": "1"},
            "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
        }
    ).encode()
    return _safetensors(directory / "model.safetensors", header, floats(1, 2, 3)), None


@raw_case(
    "legit_v1_pair",
    "v1",
    f"{IL} v1 pair",
    "loads",
    "an honest v1 pair (state_dict, sidecar naming the registered canary agent with its "
    "declared config) and a trainer state",
    setup={"agent": True},
    quick=True,
)
def _v1_legit(directory: Path, case: str) -> tuple[Path, str | None]:
    run_dir = directory / "run"
    pt = write_v1(run_dir)
    return run_dir, str(pt)


@raw_case(
    "legit_tree",
    "tree",
    f"{IL} migrate tree",
    "loads",
    "a legacy run: three honest PolicyRecord zips and a legacy-stream copy of the corpus record",
    quick=True,
)
def _tree_legit(directory: Path, case: str) -> tuple[Path, str | None]:
    tree = directory / "tree"
    for epoch in (1, 2, 3):
        write_record(tree / f"model_{epoch:04d}.pt", epoch)
    return tree, None


# --------------------------------------------------------------------------------------------
# the quick subset (run.py --quick): one or two cases per kind of finding

QUICK = (
    "dotted_stack_global_torch_serialization_os_system_zip",
    "dotted_stack_global_torch_serialization_os_system_legacy",
    "py2_commands_getoutput_zip",
    "cprofile_run_zip",
    "c_operator_methodcaller_map_zip",
    "memo_list_2k_zip",
    "memo_index_huge_put_pkl",
    "list_of_stride0_view_zip",
    "ndarray_empty_huge_dim_zip",
    "zip_shared_span_12000_crc0",
    "gym_spaces_deep_zip",
    "yaml_deep_nesting",
    "safetensors_deep_header",
    "tree_fifo",
    "zip_two_central_dirs",
    "v1_two_central_dirs",
    "v1_hostile_pickle_matching_sha",
    "tree_epoch_collision",
    "persid_hidden_os_system_zip",
    "v1_forged_architecture_kwargs",
    "rename_reduce_reaches_init_zip",
    "legit_shared_submodule_zip",
    "legit_list_shared_10_zip",
    "legit_corpus_record_zip",
    "legit_v1_pair",
    "legit_tree",
)
for _name, _case in list(CASES.items()):
    CASES[_name] = dataclasses.replace(_case, quick=_name in QUICK)
if set(QUICK) - set(CASES):
    raise AssertionError(f"unknown quick cases {set(QUICK) - set(CASES)}")


def build(case: Case, directory: Path) -> Record:
    record = case.build(directory)
    if record.case != case.name:
        raise AssertionError(f"{case.name}: builder returned {record.case}")
    return record


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="issue-15 red-team case catalogue")
    parser.add_argument("--cases", action="append", default=[], metavar="GLOB")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--list", action="store_true")
    parser.add_argument(
        "--write", type=Path, metavar="DIR", help="write the chosen cases under DIR"
    )
    args = parser.parse_args(argv)
    chosen = select(args.cases, args.quick)
    if args.write:
        for case in chosen:
            record = build(case, args.write / case.name)
            print(f"{case.name:55} {record.path}")
        return 0
    for case in chosen:
        flag = "q" if case.quick else " "
        print(f"{flag} {case.name:55} {case.container:11} {case.expect:10} {case.item}")
    print(f"{len(chosen)} case(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
