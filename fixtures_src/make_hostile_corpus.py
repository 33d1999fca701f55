"""Write ``tests/fixtures/legacy/hostile/``: malicious checkpoints that must never execute.

Every payload is hand-assembled from pickle opcodes with the stdlib only (``struct``, ``zipfile``;
``pickle.dumps`` only for the benign header values of legacy torch files). Nothing here imports
or calls what the payloads name, and nothing here ever UNPICKLES a payload: the self-checks are
static (``pickletools.genops`` / ``pickletools.dis``, which only decode opcodes).

If a payload ever ran, it would create ``PWNED_<case>`` (sometimes also a ``PWNED_*.py`` helper)
in the CURRENT WORKING DIRECTORY, so a test can ``chdir`` into ``tmp_path``, try to open the file
and assert that no ``PWNED_*`` appeared. ``shutil_rmtree`` instead targets the directory
``PWNED_shutil_rmtree_target``: a test may create it and assert it survives.

Each case is written in three containers:

* ``<case>_zip.pt``: a torch zip archive (``<archive>/data.pkl``, ``data/<key>``, ``version``,
  ``byteorder``; STORED entries aligned to 64 bytes like torch's writer), accepted by
  ``torch._C.PyTorchFileReader``;
* ``<case>_legacy.pt``: the legacy non-zip torch layout (magic number, protocol version and
  sys_info pickles, the payload pickle, the storage-key list pickle, raw storage bytes);
* ``<case>.pkl``: the bare payload pickle.

Usage::

    python fixtures_src/make_hostile_corpus.py [--out DIR] [--check-torch-reader PYTHON ...]

``--check-torch-reader`` runs each given interpreter (it needs torch) to OPEN the zip
containers with torch's archive reader and read ``data.pkl`` back as bytes: no unpickling.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import pickle
import pickletools
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pickle_scan import main_pickle, pickle_globals, split_pickles

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "tests" / "fixtures" / "legacy" / "hostile"
MARKER_PREFIX = "PWNED_"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so regenerating gives byte-identical files
ALIGNMENT = 64  # torch's zip writer starts every record's data on a 64-byte boundary

# Header values of a legacy torch file (torch/serialization.py: MAGIC_NUMBER, PROTOCOL_VERSION).
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
LEGACY_SYS_INFO = {
    "protocol_version": LEGACY_PROTOCOL,
    "little_endian": True,
    "type_sizes": {"short": 2, "int": 4, "long": 4},
}


# --------------------------------------------------------------------------------------------
# A tiny expression language compiled to pickle opcodes. Compiling only emits bytes.


class Expr:
    def emit(self, out: Emitter) -> None:
        raise NotImplementedError


@dataclasses.dataclass
class Emitter:
    """Collects opcodes; ``style`` picks the persistent-id layout (zip / legacy / pickle)."""

    style: str
    buf: bytearray = dataclasses.field(default_factory=bytearray)
    storages: dict[str, bytes] = dataclasses.field(default_factory=dict)

    def op(self, code: bytes, arg: bytes = b"") -> None:
        self.buf += code + arg


@dataclasses.dataclass
class Lit(Expr):
    """str / int / float / bool / None."""

    value: str | int | float | bool | None

    def emit(self, out: Emitter) -> None:
        v = self.value
        if v is None:
            out.op(pickle.NONE)
        elif isinstance(v, bool):
            out.op(pickle.NEWTRUE if v else pickle.NEWFALSE)
        elif isinstance(v, int):
            out.op(pickle.BININT, struct.pack("<i", v))
        elif isinstance(v, float):
            out.op(pickle.BINFLOAT, struct.pack(">d", v))
        else:
            raw = v.encode("utf-8")
            out.op(pickle.BINUNICODE, struct.pack("<I", len(raw)) + raw)


@dataclasses.dataclass
class Global(Expr):
    """GLOBAL 'module name' (protocol 0-2), or STACK_GLOBAL (protocol 4) when ``stack``."""

    module: str
    name: str
    stack: bool = False

    def emit(self, out: Emitter) -> None:
        if self.stack:
            for part in (self.module, self.name):
                raw = part.encode("utf-8")
                out.op(pickle.SHORT_BINUNICODE, bytes([len(raw)]) + raw)
            out.op(pickle.STACK_GLOBAL)
        else:
            out.op(pickle.GLOBAL, f"{self.module}\n{self.name}\n".encode())


@dataclasses.dataclass
class Tup(Expr):
    items: Sequence[Expr]

    def emit(self, out: Emitter) -> None:
        out.op(pickle.MARK)
        for item in self.items:
            item.emit(out)
        out.op(pickle.TUPLE)


@dataclasses.dataclass
class Lst(Expr):
    """A list; its items are evaluated in order, which sequences side effects."""

    items: Sequence[Expr]

    def emit(self, out: Emitter) -> None:
        out.op(pickle.EMPTY_LIST)
        out.op(pickle.MARK)
        for item in self.items:
            item.emit(out)
        out.op(pickle.APPENDS)


def _setitems(out: Emitter, pairs: Sequence[tuple[Expr, Expr]]) -> None:
    if pairs:
        out.op(pickle.MARK)
        for key, value in pairs:
            key.emit(out)
            value.emit(out)
        out.op(pickle.SETITEMS)


@dataclasses.dataclass
class Dct(Expr):
    pairs: Sequence[tuple[Expr, Expr]]

    def emit(self, out: Emitter) -> None:
        out.op(pickle.EMPTY_DICT)
        _setitems(out, self.pairs)


@dataclasses.dataclass
class Call(Expr):
    """``func(*args)`` via REDUCE, then optional dict items (as OrderedDict's reduce does)."""

    func: Expr
    args: Sequence[Expr] = ()
    items: Sequence[tuple[Expr, Expr]] = ()

    def emit(self, out: Emitter) -> None:
        self.func.emit(out)
        if self.args:
            Tup(self.args).emit(out)
        else:
            out.op(pickle.EMPTY_TUPLE)
        out.op(pickle.REDUCE)
        _setitems(out, self.items)


@dataclasses.dataclass
class Inst(Expr):
    """Protocol-0 INST: ``module.name(*args)`` with the name inside the opcode argument."""

    module: str
    name: str
    args: Sequence[Expr]

    def emit(self, out: Emitter) -> None:
        out.op(pickle.MARK)
        for arg in self.args:
            arg.emit(out)
        out.op(pickle.INST, f"{self.module}\n{self.name}\n".encode())


@dataclasses.dataclass
class NewObj(Expr):
    """``cls.__new__(cls)`` (NEWOBJ) + dict items (dict subclasses) + BUILD with ``state``."""

    cls: Expr
    state: Expr | None = None
    items: Sequence[tuple[Expr, Expr]] = ()

    def emit(self, out: Emitter) -> None:
        self.cls.emit(out)
        out.op(pickle.EMPTY_TUPLE)
        out.op(pickle.NEWOBJ)
        _setitems(out, self.items)
        if self.state is not None:
            self.state.emit(out)
            out.op(pickle.BUILD)


@dataclasses.dataclass
class ModuleClass(Expr):
    """An nn.Module class reference: legacy torch files wrap it in a ('module', cls, file,
    source) persistent id (the source check), zip files use a plain GLOBAL."""

    module: str
    name: str

    def emit(self, out: Emitter) -> None:
        cls = Global(self.module, self.name)
        if out.style != "legacy":
            cls.emit(out)
            return
        source = f"class {self.name}(Module):\n    ...\n"
        file = "/usr/lib/python3/site-packages/" + self.module.replace(".", "/") + ".py"
        Tup([Lit("module"), cls, Lit(file), Lit(source)]).emit(out)
        out.op(pickle.BINPERSID)


@dataclasses.dataclass
class PersId(Expr):
    """BINPERSID over a tuple: how torch pickles refer to storages outside the pickle."""

    items: Sequence[Expr]

    def emit(self, out: Emitter) -> None:
        Tup(self.items).emit(out)
        out.op(pickle.BINPERSID)


@dataclasses.dataclass
class Tensor(Expr):
    """A float32 CPU tensor as torch pickles it: _rebuild_tensor_v2 over a persistent storage.

    The storage bytes go to ``data/<key>`` (zip) or after the pickles (legacy). In a bare pickle
    the persistent id stays, as in a ``data.pkl`` taken out of an archive.
    """

    key: str
    values: Sequence[float]
    shape: tuple[int, ...]
    parameter: bool = False

    def emit(self, out: Emitter) -> None:
        out.storages[self.key] = struct.pack(f"<{len(self.values)}f", *self.values)
        storage: list[Expr] = [Lit("storage"), Global("torch", "FloatStorage"), Lit(self.key)]
        storage += [Lit("cpu"), Lit(len(self.values))]
        if out.style == "legacy":
            storage.append(Lit(None))  # view_metadata
        strides: list[int] = []
        step = 1
        for size in reversed(self.shape):
            strides.insert(0, step)
            step *= size
        hooks = Call(Global("collections", "OrderedDict"))
        tensor = Call(
            Global("torch._utils", "_rebuild_tensor_v2"),
            [
                PersId(storage),
                Lit(0),
                Tup([Lit(s) for s in self.shape]),
                Tup([Lit(s) for s in strides]),
                Lit(False),
                hooks,
            ],
        )
        if self.parameter:
            tensor = Call(Global("torch._utils", "_rebuild_parameter"), [tensor, Lit(True), hooks])
        tensor.emit(out)


@dataclasses.dataclass
class Raw(Expr):
    """Bytes as protocol 2 writes them: ``_codecs.encode(latin-1 str, 'latin1')``."""

    data: bytes

    def emit(self, out: Emitter) -> None:
        text = self.data.decode("latin-1")
        Call(Global("_codecs", "encode"), [Lit(text), Lit("latin1")]).emit(out)


def assemble(expr: Expr, style: str, protocol: int = 2) -> tuple[bytes, dict[str, bytes]]:
    out = Emitter(style)
    out.op(pickle.PROTO, bytes([protocol]))
    expr.emit(out)
    out.op(pickle.STOP)
    return bytes(out.buf), out.storages


# --------------------------------------------------------------------------------------------
# payload building blocks


def shell(case: str) -> str:
    """A shell command creating the marker (works in sh and in cmd.exe)."""
    return f"echo pwned > {MARKER_PREFIX}{case}"


def py_source(case: str) -> str:
    return f"open('{MARKER_PREFIX}{case}', 'w').close()\n"


def builtin(name: str) -> Global:
    return Global("builtins", name)


def getattr_call(obj: Expr, attr: str, *args: Expr) -> Call:
    """``getattr(obj, attr)(*args)`` through builtins.getattr."""
    return Call(Call(builtin("getattr"), [obj, Lit(attr)]), args)


def os_module() -> Call:
    return Call(builtin("__import__"), [Lit("os")])


def write_file(name: str, text: str) -> Call:
    """``open(name, 'w').write(text)``. The file object is not memoised, so CPython closes and
    flushes it as soon as the write returns (before the next item of a sequence runs)."""
    return getattr_call(Call(builtin("open"), [Lit(name), Lit("w")]), "write", Lit(text))


def linear(prefix: str) -> NewObj:
    """A plausible ``torch.nn.Linear(3, 2)`` with real weight/bias storages."""
    weight = Tensor(f"{prefix}0", [0.1 * i for i in range(6)], (2, 3), parameter=True)
    bias = Tensor(f"{prefix}1", [0.5, -0.5], (2,), parameter=True)
    params = Call(
        Global("collections", "OrderedDict"), items=[(Lit("weight"), weight), (Lit("bias"), bias)]
    )
    state = module_state(params, Call(Global("collections", "OrderedDict")))
    state += [(Lit("in_features"), Lit(3)), (Lit("out_features"), Lit(2))]
    return NewObj(ModuleClass("torch.nn.modules.linear", "Linear"), state=Dct(state))


def module_state(params: Expr, modules: Expr) -> list[tuple[Expr, Expr]]:
    """The ``__dict__`` an nn.Module pickles (the hook dicts as torch 2.x has them)."""
    ordered = Global("collections", "OrderedDict")
    state: list[tuple[Expr, Expr]] = [
        (Lit("training"), Lit(False)),
        (Lit("_parameters"), params),
        (Lit("_buffers"), Call(ordered)),
        # Protocol-2 pickles written by Python 3 name builtins by their Python 2 module.
        (Lit("_non_persistent_buffers_set"), Call(Global("__builtin__", "set"), [Lst([])])),
    ]
    for hooks in ("_backward_hooks", "_forward_hooks", "_forward_pre_hooks", "_state_dict_hooks"):
        state.append((Lit(hooks), Call(ordered)))
    state.append((Lit("_modules"), modules))
    return state


def legacy_stream(payload: bytes, storages: dict[str, bytes]) -> bytes:
    """Legacy torch layout: magic, protocol, sys_info, payload, key list, raw storages.

    Each storage is written as its element count (int64) then its bytes (float32 here).
    """
    parts = [
        pickle.dumps(LEGACY_MAGIC, protocol=2),
        pickle.dumps(LEGACY_PROTOCOL, protocol=2),
        pickle.dumps(LEGACY_SYS_INFO, protocol=2),
        payload,
        pickle.dumps(sorted(storages), protocol=2),
    ]
    for key in sorted(storages):
        data = storages[key]
        parts.append(struct.pack("<q", len(data) // 4) + data)
    return b"".join(parts)


def inner_os_system(case: str) -> bytes:
    """A complete os.system payload pickle, to be smuggled inside another one."""
    return assemble(Call(Global("os", "system"), [Lit(shell(case))]), "pickle")[0]


# --------------------------------------------------------------------------------------------
# the cases


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    description: str
    # Globals a scanner must flag; all appear in the outer pickle. Carriers every protocol-2
    # pickle uses (_codecs.encode for bytes, collections.OrderedDict) are not listed.
    dangerous: tuple[str, ...]
    build: Callable[[str], Expr]
    protocol: int = 2
    nested: tuple[str, ...] = ()  # dangerous globals of a pickle hidden inside a bytes value
    marker: str | None = "default"


def _metadata_record() -> Callable[[str], Expr]:
    def build(case: str) -> Expr:
        metadata = NewObj(
            Global("metta.agent.policy_metadata", "PolicyMetadata"),
            items=[
                (Lit("agent_step"), Lit(1000)),
                (Lit("epoch"), Lit(5)),
                (Lit("generation"), Lit(0)),
                (Lit("train_time"), Lit(1.5)),
                (Lit("eval_scores"), Dct([(Lit("score"), Lit(0.5))])),
                (Lit("initial_uri"), Call(builtin("exec"), [Lit(py_source(case))])),
            ],
        )
        state = Dct(
            [
                (Lit("_policy_store"), Lit(None)),
                (Lit("run_name"), Lit("model_0005.pt")),
                (Lit("uri"), Lit("file://./checkpoints/model_0005.pt")),
                (Lit("metadata"), metadata),
                (Lit("_cached_policy"), linear("")),
            ]
        )
        return NewObj(Global("metta.agent.policy_record", "PolicyRecord"), state=state)

    return build


def _hidden_in_module(case: str) -> Expr:
    # The payload is the first child module, so it runs before any persistent id is met (a bare
    # pickle.load with no persistent_load would otherwise stop first).
    modules = Call(
        Global("collections", "OrderedDict"),
        items=[
            (Lit("0"), Call(Global("os", "system"), [Lit(shell(case))])),
            (Lit("1"), linear("")),
        ],
    )
    state = Dct(module_state(Call(Global("collections", "OrderedDict")), modules))
    return NewObj(ModuleClass("torch.nn.modules.container", "Sequential"), state=state)


def _runpy_run_path(case: str) -> Expr:
    helper = f"{MARKER_PREFIX}{case}.py"
    return Lst(
        [write_file(helper, py_source(case)), Call(Global("runpy", "run_path"), [Lit(helper)])]
    )


def _runpy_run_module(case: str) -> Expr:
    helper = f"{MARKER_PREFIX}{case}_helper"
    return Lst(
        [
            write_file(f"{helper}.py", py_source(case)),
            getattr_call(Global("sys", "path"), "insert", Lit(0), Lit("")),
            Call(Global("runpy", "run_module"), [Lit(helper)]),
        ]
    )


def _sys_modules_alias(case: str) -> Expr:
    # Register os under an innocent name, then import "pwned_alias.system": a scanner or
    # allowlist keyed on module names never sees "os" in the second GLOBAL.
    return Lst(
        [
            getattr_call(Global("sys", "modules"), "__setitem__", Lit("pwned_alias"), os_module()),
            Call(Global("pwned_alias", "system"), [Lit(shell(case))]),
        ]
    )


def _load_from_bytes(case: str) -> Expr:
    inner = legacy_stream(inner_os_system(case), {})
    return Call(Global("torch.storage", "_load_from_bytes"), [Raw(inner)])


def _rebuild_from_type_v2(case: str) -> Expr:
    # torch._tensor._rebuild_from_type_v2(func, new_type, args, state) calls func(*args) first.
    return Call(
        Global("torch._tensor", "_rebuild_from_type_v2"),
        [
            Global("os", "system"),
            Global("torch._tensor", "Tensor"),
            Tup([Lit(shell(case))]),
            Call(Global("collections", "OrderedDict")),
        ],
    )


def _simple(module: str, name: str, arg: Callable[[str], Expr]) -> Callable[[str], Expr]:
    return lambda case: Call(Global(module, name), [arg(case)])


def _shell_arg(case: str) -> Expr:
    return Lit(shell(case))


def _argv_arg(case: str) -> Expr:
    return Lst([Lit("touch"), Lit(f"{MARKER_PREFIX}{case}")])


def _code_arg(case: str) -> Expr:
    return Lit(py_source(case))


CASES: tuple[Case, ...] = (
    Case("os_system", "os.system(cmd)", ("os.system",), _simple("os", "system", _shell_arg)),
    Case(
        "posix_system",
        "posix.system(cmd): what os.system pickles as on Linux",
        ("posix.system",),
        _simple("posix", "system", _shell_arg),
    ),
    Case(
        "nt_system",
        "nt.system(cmd): what os.system pickles as on Windows (import fails on Linux)",
        ("nt.system",),
        _simple("nt", "system", _shell_arg),
    ),
    Case(
        "subprocess_popen",
        "subprocess.Popen(['touch', marker])",
        ("subprocess.Popen",),
        _simple("subprocess", "Popen", _argv_arg),
    ),
    Case(
        "subprocess_check_output",
        "subprocess.check_output(['touch', marker])",
        ("subprocess.check_output",),
        _simple("subprocess", "check_output", _argv_arg),
    ),
    Case(
        "builtins_eval",
        "builtins.eval(code)",
        ("builtins.eval",),
        _simple("builtins", "eval", _code_arg),
    ),
    Case(
        "builtins_exec",
        "builtins.exec(code)",
        ("builtins.exec",),
        _simple("builtins", "exec", _code_arg),
    ),
    Case(
        "builtins_compile",
        "builtins.eval(builtins.compile(code, '<pickle>', 'exec'))",
        ("builtins.compile", "builtins.eval"),
        lambda case: Call(
            builtin("eval"),
            [Call(builtin("compile"), [Lit(py_source(case)), Lit("<pickle>"), Lit("exec")])],
        ),
    ),
    Case(
        "builtin_alias_eval",
        "__builtin__.eval(code): the Python 2 name protocol-2 pickles use (fix_imports maps it)",
        ("__builtin__.eval",),
        _simple("__builtin__", "eval", _code_arg),
    ),
    Case(
        "builtins_open",
        "builtins.open(marker, 'w'): creating the file is the side effect",
        ("builtins.open",),
        lambda case: Call(builtin("open"), [Lit(f"{MARKER_PREFIX}{case}"), Lit("w")]),
    ),
    Case(
        "getattr_chain",
        "builtins.getattr(builtins.__import__('os'), 'system')(cmd)",
        ("builtins.__import__",),
        lambda case: getattr_call(os_module(), "system", Lit(shell(case))),
    ),
    Case(
        "runpy_run_path",
        "open(helper.py).write(code), then runpy.run_path(helper.py)",
        ("runpy.run_path", "builtins.open"),
        _runpy_run_path,
    ),
    Case(
        "runpy_run_module",
        "write a helper module, sys.path.insert(0, ''), runpy.run_module(helper)",
        ("runpy.run_module", "sys.path", "builtins.open"),
        _runpy_run_module,
    ),
    Case(
        "nested_pickle_loads",
        "pickle.loads(bytes of an inner os.system pickle)",
        ("pickle.loads",),
        lambda case: Call(Global("pickle", "loads"), [Raw(inner_os_system(case))]),
        nested=("os.system",),
    ),
    Case(
        "nested_cpickle_loads",
        "_pickle.loads(...): the C module under a name that is not 'pickle'",
        ("_pickle.loads",),
        lambda case: Call(Global("_pickle", "loads"), [Raw(inner_os_system(case))]),
        nested=("os.system",),
    ),
    Case(
        "importlib_import_module",
        "getattr(importlib.import_module('os'), 'system')(cmd)",
        ("importlib.import_module",),
        lambda case: getattr_call(
            Call(Global("importlib", "import_module"), [Lit("os")]), "system", Lit(shell(case))
        ),
    ),
    Case(
        "ctypes_cdll",
        "getattr(ctypes.CDLL(None), 'system')(b'cmd'): libc system() without os",
        ("ctypes.CDLL",),
        lambda case: getattr_call(
            Call(Global("ctypes", "CDLL"), [Lit(None)]), "system", Raw(shell(case).encode())
        ),
    ),
    Case(
        "shutil_rmtree",
        "shutil.rmtree('PWNED_shutil_rmtree_target'): destructive, creates nothing",
        ("shutil.rmtree",),
        lambda case: Call(Global("shutil", "rmtree"), [Lit(f"{MARKER_PREFIX}{case}_target")]),
        marker=None,
    ),
    Case(
        "sys_modules_alias",
        "sys.modules['pwned_alias'] = os, then GLOBAL pwned_alias.system",
        ("sys.modules", "builtins.__import__"),
        _sys_modules_alias,
    ),
    Case(
        "hidden_in_module",
        "a torch Sequential whose _modules['0'] is os.system(cmd); _modules['1'] is a real Linear",
        ("os.system",),
        _hidden_in_module,
    ),
    Case(
        "hidden_in_record",
        "a metta PolicyRecord whose PolicyMetadata item 'initial_uri' is builtins.exec(code)",
        ("builtins.exec",),
        _metadata_record(),
    ),
    Case(
        "torch_load_from_bytes",
        "torch.storage._load_from_bytes(legacy torch stream): an unsafe torch.load of an inner "
        "os.system payload",
        ("torch.storage._load_from_bytes",),
        _load_from_bytes,
        nested=("os.system",),
    ),
    Case(
        "torch_rebuild_from_type_v2",
        "torch._tensor._rebuild_from_type_v2(os.system, Tensor, (cmd,), {}) calls func(*args)",
        ("torch._tensor._rebuild_from_type_v2", "os.system"),
        _rebuild_from_type_v2,
    ),
    Case(
        "stack_global_os_system",
        "protocol 4 STACK_GLOBAL os.system: the name is not in the opcode argument",
        ("os.system",),
        lambda case: Call(Global("os", "system", stack=True), [Lit(shell(case))]),
        protocol=4,
    ),
    Case(
        "inst_os_system",
        "protocol 0 INST os.system: a call without GLOBAL or REDUCE",
        ("os.system",),
        lambda case: Inst("os", "system", [Lit(shell(case))]),
    ),
    Case(
        "numpy_runstring",
        "numpy.testing._private.utils.runstring(code, {}): an exec gadget outside the SPEC list",
        ("numpy.testing._private.utils.runstring",),
        lambda case: Call(
            Global("numpy.testing._private.utils", "runstring"), [Lit(py_source(case)), Dct([])]
        ),
    ),
    Case(
        "timeit_gadget",
        "timeit.timeit(code, 'pass', time.perf_counter, 1): exec through a harmless-looking module",
        ("timeit.timeit",),
        lambda case: Call(
            Global("timeit", "timeit"),
            [Lit(py_source(case)), Lit("pass"), Global("time", "perf_counter"), Lit(1)],
        ),
    ),
)


# --------------------------------------------------------------------------------------------
# containers


def zip_container(archive: str, payload: bytes, storages: dict[str, bytes]) -> bytes:
    """A torch zip archive: records under ``<archive>/``, STORED, data 64-byte aligned.

    Torch's reader takes the archive name from the first entry's directory and requires a
    ``version`` record; ``byteorder`` is read when present. The alignment is what torch's
    writer does (an "FB" extra field of padding); the reader does not need it but mmap loads do.
    """
    records = [("data.pkl", payload)]
    records += [(f"data/{key}", storages[key]) for key in sorted(storages)]
    records += [("version", b"3\n"), ("byteorder", b"little")]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in records:
            info = zipfile.ZipInfo(f"{archive}/{name}", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            header_end = buf.tell() + 30 + len(info.filename.encode()) + 4
            pad = -header_end % ALIGNMENT
            info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            zf.writestr(info, data)
    return buf.getvalue()


def build_case(case: Case, container: str) -> tuple[bytes, bytes]:
    """(file bytes, payload pickle bytes) of one case in one container."""
    style = "zip" if container == "pickle" else container
    payload, storages = assemble(case.build(case.name), style, case.protocol)
    if container == "zip":
        return zip_container(f"{case.name}_zip", payload, storages), payload
    if container == "legacy":
        return legacy_stream(payload, storages), payload
    return payload, payload


FILE_NAMES = {"zip": "{}_zip.pt", "legacy": "{}_legacy.pt", "pickle": "{}.pkl"}


# --------------------------------------------------------------------------------------------
# static self-checks (no unpickling)


def static_check(case: Case, container: str, path: Path, payload: bytes) -> list[str]:
    """Decode (never run) the written file; returns the globals its payload pickle names."""
    pickletools.dis(payload, out=io.StringIO())  # validates opcodes, MARKs and stack depth
    if main_pickle(path) != payload:
        raise AssertionError(f"{path}: payload not where a torch loader would read it")
    found = pickle_globals(payload)
    missing = set(case.dangerous) - set(found)
    if missing:
        raise AssertionError(f"{path}: static scan misses {sorted(missing)}")
    data = path.read_bytes()
    if container == "legacy":
        headers = [data[a:b] for a, b in split_pickles(data)[:3]]
        expected = [pickle.dumps(v, protocol=2) for v in (LEGACY_MAGIC, LEGACY_PROTOCOL)]
        if headers[:2] != expected:
            raise AssertionError(f"{path}: bad legacy header")
    if container == "zip":
        with zipfile.ZipFile(path) as zf:
            if zf.testzip() is not None or f"{path.stem}/version" not in zf.namelist():
                raise AssertionError(f"{path}: bad zip container")
    return found


def nested_globals(case: Case) -> list[str]:
    """Globals of the pickle smuggled in a bytes value (scanned from the bytes we built)."""
    if not case.nested:
        return []
    found = pickle_globals(inner_os_system(case.name))
    if set(case.nested) - set(found):
        raise AssertionError(f"{case.name}: nested scan misses {case.nested}")
    return found


TORCH_READER_CHECK = """
import json, sys, torch
from torch.serialization import _is_zipfile
ok = []
for path in sys.argv[1:]:
    with open(path, "rb") as fh:
        assert _is_zipfile(fh), path
    reader = torch._C.PyTorchFileReader(path)  # opens the archive; unpickles nothing
    records = sorted(reader.get_all_records())
    assert "data.pkl" in records and "version" in records, (path, records)
    pkl = reader.get_record("data.pkl")
    ok.append({"file": path.rsplit("/", 1)[-1], "records": records, "data_pkl_bytes": len(pkl)})
print(json.dumps({"torch": torch.__version__, "opened": len(ok)}))
"""


def check_torch_reader(pythons: Sequence[str], zips: Sequence[Path]) -> None:
    for python in pythons:
        result = subprocess.run(
            [python, "-c", TORCH_READER_CHECK, *map(str, zips)],
            check=True,
            capture_output=True,
            text=True,
        )
        print(f"torch reader check with {python}: {result.stdout.strip()}")


# --------------------------------------------------------------------------------------------


def write_corpus(out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*"):
        if stale.suffix in (".pt", ".pkl"):
            stale.unlink()
    files: dict[str, Any] = {}
    for case in CASES:
        marker = None if case.marker is None else f"{MARKER_PREFIX}{case.name}"
        for container, pattern in FILE_NAMES.items():
            path = out / pattern.format(case.name)
            data, payload = build_case(case, container)
            path.write_bytes(data)
            found = static_check(case, container, path, payload)
            files[path.name] = {
                "case": case.name,
                "container": container,
                "description": case.description,
                "dangerous_globals": list(case.dangerous),
                "nested_dangerous_globals": list(case.nested),
                "globals": found,
                "nested_globals": nested_globals(case),
                "pickle_protocol": case.protocol,
                "marker": marker,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
            }
    manifest = {
        "what": "hostile checkpoints: loading any of them must be refused and must run nothing",
        "generator": "fixtures_src/make_hostile_corpus.py",
        "python_version": ".".join(map(str, sys.version_info[:3])),
        "marker_rule": (
            "a payload that ran would create its 'marker' (and possibly other PWNED_* helper "
            "files) in the current working directory: chdir to an empty tmp dir, attempt the "
            "load, assert no PWNED_* exists. shutil_rmtree has no marker: it would delete "
            "./PWNED_shutil_rmtree_target (create it first and assert it survives)"
        ),
        "marker_glob": f"{MARKER_PREFIX}*",
        "containers": {
            "zip": "torch zip archive (<archive>/data.pkl, data/<key>, version, byteorder)",
            "legacy": "legacy torch stream: magic, protocol, sys_info, payload, keys, storages",
            "pickle": "the bare payload pickle",
        },
        "total_bytes": sum(f["bytes"] for f in files.values()),
        "files": files,
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(files)} hostile files ({manifest['total_bytes']} bytes) to {out}")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check-torch-reader", nargs="*", default=[], metavar="PYTHON")
    args = parser.parse_args(argv)
    manifest = write_corpus(args.out)
    zips = [args.out / name for name, f in manifest["files"].items() if f["container"] == "zip"]
    check_torch_reader(args.check_torch_reader, zips)
    return 0


if __name__ == "__main__":
    sys.exit(main())
