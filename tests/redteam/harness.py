"""Run one red-team case against one entry point in a fresh, fenced process; classify it.

Each run gets its own temporary root: ``case/`` (the crafted files, built fresh), ``cwd/``
(an empty working directory, where a payload that ran would leave ``PWNED_*``), ``out/``
(what convert/migrate write) and the child's result file and output streams.

Processes. CLI verbs run the real ``.venv/bin/ckpt`` (a fresh interpreter per run). The
Python API entry points run in a child forked from a per-worker *zygote* that has imported
only third-party libraries (torch, numpy, yaml, pydantic, pluggy): no module of this
project is loaded before the fork, so each run imports ``compat``/``checkpoint`` fresh from
``src/`` and starts from pristine state, while skipping the ~3 s torch import. Pass
``isolation="exec"`` (``run.py --isolation exec``) to run the API entry points in a fresh
interpreter too (``python harness.py child REQUEST.json``), or ``cli="fork"`` to run the CLI
verbs through ``compat.cli.main`` in a zygote child (same code path as the console script,
much faster).

Fences, on every child and its descendants (one process group):
- ``RLIMIT_AS`` (default 32 GiB), ``RLIMIT_FSIZE`` (2 GiB) and no core dumps. torch's
  import alone maps ~0.75 GB of address space (measured: VmPeak 744 MB after a load), so
  a low cap would be possible, but it would turn a bomb that fills memory into an instant
  ``MemoryError`` that the code under test may catch and report as a clean error. With the
  kernel's heuristic overcommit a single allocation beyond RAM fails anyway; below that,
  the RSS watchdog is the real fence, as it would be on a user's machine;
- an RSS watchdog polling the process group's resident memory every 50 ms, which kills the
  group above ``rss_limit`` (default 1.5 GiB; an honest load of these KB-sized files peaks
  near 200 MB, most of it torch's shared libraries);
- a wall-clock timeout (default 15 s; the issue's red team used 45 s, but a few-KB file that
  takes 15 s on this machine is unbounded work, and the matrix has ~1,100 runs) that kills
  the group.

Outcomes: ``executed`` (a ``PWNED_*`` marker appeared in the cwd, from a payload or a
canary class's ``__init__``), ``refused`` (UnsafeCheckpointError / exit 3), ``unreadable``
(any other ``checkpoint.errors`` exception / exit 1), ``uncaught`` (any other exception, a
traceback on the CLI's stderr, a usage exit, a ``MemoryError`` that escaped), ``oom`` (killed
by the RSS watchdog or the kernel), ``timeout``, ``crashed`` (killed
by a signal such as SIGSEGV: native memory corruption, worse than uncaught), ``loaded``
and ``accepted`` (completed, but a post-condition shows the hostile bytes were taken up: a
``PWNED_`` key in loaded or written weights, a forged provenance, an epoch slot stolen, a
symlink out of the tree converted, an ``encodings.*`` module the file named imported, a
killed conversion reported "already done" on a rerun).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENV = REPO / ".venv" / "bin"
PYTHON = VENV / "python"
CKPT = VENV / "ckpt"
MARKER = "PWNED_"
GIB = 1 << 30

OUTCOMES = (
    "executed",
    "refused",
    "unreadable",
    "uncaught",
    "oom",
    "timeout",
    "crashed",
    "loaded",
    "accepted",
)


# --------------------------------------------------------------------------------------------
# entry points


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # "api" (Python, forked or exec'd child) or "cli" (the ckpt console script)
    short: str  # column header in the table
    help: str


ENTRIES: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry(
            "api.inspect",
            "api",
            "ins",
            "compat.inspect(path): verdict 'refused' counts as refused",
        ),
        Entry("api.load", "api", "ld", "compat.load(path)"),
        Entry("api.load_crc", "api", "crc", "compat.load(path, check_crc=True)"),
        Entry("api.load_trust", "api", "tru", "compat.load(path, trust=True)"),
        Entry("api.convert", "api", "cnv", "compat.convert(path, outdir)"),
        Entry(
            "policy_store",
            "api",
            "ps",
            "PolicyStore().load_from_uri('file://'+path).state_dict()",
        ),
        Entry("manager.list", "api", "mL", "CheckpointManager(dir, run).list()"),
        Entry(
            "manager.load_state_dict",
            "api",
            "mSD",
            "CheckpointManager(dir, run).load_state_dict()",
        ),
        Entry(
            "manager.load_trainer_state",
            "api",
            "mTS",
            "CheckpointManager(dir, run).load_trainer_state()",
        ),
        Entry(
            "manager.load_agent",
            "api",
            "mAG",
            "CheckpointManager(dir, run).load_agent()",
        ),
        Entry("cli.inspect", "cli", "Cins", "ckpt inspect FILE"),
        Entry("cli.verify", "cli", "Cver", "ckpt verify FILE|DIR"),
        Entry("cli.convert", "cli", "Ccnv", "ckpt convert FILE OUTDIR"),
        Entry("cli.migrate", "cli", "Cmig", "ckpt migrate DIR --out OUT"),
        Entry("cli.ls", "cli", "Cls", "ckpt ls DIR"),
    )
}

_FILE_ENTRIES = (
    "api.inspect",
    "api.load",
    "api.load_crc",
    "api.load_trust",
    "api.convert",
    "policy_store",
    "cli.inspect",
    "cli.verify",
    "cli.convert",
)
_V1_ENTRIES = (
    "manager.list",
    "manager.load_state_dict",
    "manager.load_trainer_state",
    "manager.load_agent",
    "api.inspect",
    "api.load",
    "api.load_trust",
    "policy_store",
    "cli.ls",
    "cli.verify",
    "cli.inspect",
)
DEFAULT_ENTRIES: dict[str, tuple[str, ...]] = {
    "pkl": _FILE_ENTRIES,
    "zip": _FILE_ENTRIES,
    "legacy": _FILE_ENTRIES,
    "safetensors": tuple(e for e in _FILE_ENTRIES if e != "api.load_trust"),
    "v1": _V1_ENTRIES,
    "yaml": _V1_ENTRIES,
    "index": (
        "manager.list",
        "manager.load_state_dict",
        "cli.ls",
        "cli.verify",
        "policy_store",
    ),
    "tree": ("cli.migrate", "cli.verify", "cli.ls", "manager.list", "policy_store"),
}


def entries_for(record: Any) -> tuple[str, ...]:
    """The entry points that apply to a built case (its own list, else its container's)."""
    return tuple(record.entries) if record.entries else DEFAULT_ENTRIES[record.container]


def _file_of(record: dict[str, Any]) -> str:
    return record.get("file") or record["path"]


def _dir_of(record: dict[str, Any]) -> str:
    path = Path(record["path"])
    return str(path if path.is_dir() else path.parent)


def cli_argv(entry: str, record: dict[str, Any], out: Path) -> list[str]:
    verb = entry.removeprefix("cli.")
    if verb == "inspect":
        return ["inspect", _file_of(record)]
    if verb == "verify":
        return ["verify", record["path"]]
    if verb == "convert":
        return ["convert", _file_of(record), str(out)]
    if verb == "migrate":
        return ["migrate", _dir_of(record), "--out", str(out / "migrated")]
    if verb == "ls":
        return ["ls", _dir_of(record)]
    raise ValueError(entry)


# --------------------------------------------------------------------------------------------
# canary classes (built on first access: they need torch, the harness parent does not)


def _marker(what: str) -> None:
    Path(f"{MARKER}{os.environ.get('REDTEAM_CASE', 'case')}_{what}").touch()


def _build_canaries() -> None:
    import torch
    from torch import nn

    class RedteamCanary(nn.Module):
        """A plugin renames a legacy class to this one: any ``__init__`` call is a finding."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            _marker("canary_init")
            super().__init__()

    class RedteamAgent(nn.Module):
        """A registered, rebuildable agent whose config is ``{"width": int}``.

        ``load_agent`` calling ``__init__`` with that config is legitimate; any other
        keyword, or a width that is not an int, came from a forged sidecar.
        """

        def __init__(self, width: int = 4, **extra: object) -> None:
            if extra or type(width) is not int:
                _marker("agent_init_kwargs")
            super().__init__()
            self.width = width
            self.w = nn.Parameter(torch.zeros(2))

        def checkpoint_config(self) -> dict[str, int]:
            return {"width": self.width}

    for cls in (RedteamCanary, RedteamAgent):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
        globals()[cls.__name__] = cls


def __getattr__(name: str) -> Any:
    if name in ("RedteamCanary", "RedteamAgent"):
        _build_canaries()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------------
# the child: runs one entry point, writes one result file (imports the project only here)


def _bounded(obj: object, budget: int = 4000, depth: int = 20) -> str:
    """A repr that stops after ``budget`` nodes: a shared-reference bomb must not go off
    in the harness itself."""
    parts: list[str] = []
    seen = [0]

    def walk(value: object, level: int) -> None:
        seen[0] += 1
        if seen[0] > budget or level > depth:
            parts.append("…")
            return
        if isinstance(value, dict):
            parts.append("{")
            for key, item in list(value.items())[:50]:
                parts.append(f"{str(key)[:80]!r}: ")
                walk(item, level + 1)
                parts.append(", ")
            parts.append("}")
        elif isinstance(value, list | tuple):
            parts.append("[")
            for item in list(value[:50]):
                walk(item, level + 1)
                parts.append(", ")
            parts.append("]")
        else:
            parts.append(
                repr(value)[:200]
                if isinstance(value, str | int | float | bool | None)
                else type(value).__name__
            )

    walk(obj, 0)
    return "".join(parts)[:8000]


def _keys(mapping: object) -> list[str]:
    if not hasattr(mapping, "keys"):
        return []
    keys = [str(k) for k in list(mapping.keys())[:100000]]  # type: ignore[attr-defined]
    return keys[:40] + [k for k in keys[40:] if k.startswith(MARKER)]


def _setup(setup: dict[str, Any]) -> None:
    import warnings

    warnings.simplefilter("ignore")
    if setup.get("agent"):
        from checkpoint import register_agent_class

        harness = __import__("harness")
        register_agent_class(harness.RedteamAgent)
    if setup.get("safe_globals"):
        import compat

        contribution = setup["safe_globals"]

        class RedteamSafeGlobals:
            @compat.hookimpl
            def compat_safe_globals(self) -> Any:
                return contribution

        compat.plugins.register(RedteamSafeGlobals(), "redteam-safe-globals")


def _api(entry: str, record: dict[str, Any], out: Path) -> dict[str, Any]:
    """Call one public API; return a summary of what came back."""
    import compat

    path = _file_of(record)
    if entry == "api.inspect":
        report = compat.inspect(path)
        verdict = str(report.verdict)
        return {
            "status": "refused" if verdict == "refused" else "loaded",
            "verdict": verdict,
            "refused_even_with_trust": report.refused_even_with_trust,
            "refused_globals": list(report.refused_globals)[:20],
        }
    if entry.startswith("api.load"):
        kwargs = {
            "api.load_crc": {"check_crc": True},
            "api.load_trust": {"trust": True},
        }.get(entry, {})
        result = compat.load(path, **kwargs)
        return {
            "status": "loaded",
            "kind": str(result.kind),
            "strategy": result.strategy,
            "keys": _keys(result.state_dict),
            "agent": type(result.agent).__name__ if result.agent is not None else None,
            "text": _bounded(result.metadata),
        }
    if entry == "api.convert":
        info = compat.convert(path, out)
        return {"status": "loaded", "written": str(info.path)}
    if entry == "policy_store":
        from metta.agent.policy_store import PolicyStore

        target = record["path"] if record["container"] == "tree" else path
        pr = PolicyStore().load_from_uri("file://" + str(target))
        keys = _keys(pr.state_dict())
        if (record.get("setup") or {}).get("agent"):  # a v1 record: .policy rebuilds the agent
            keys = _keys(pr.policy.state_dict())
        return {"status": "loaded", "keys": keys}
    if entry.startswith("manager."):
        from checkpoint import CheckpointManager

        manager = CheckpointManager(_dir_of(record), record.get("run") or "run")
        if entry == "manager.list":
            infos = manager.list()
            return {
                "status": "loaded",
                "n": len(infos),
                "text": _bounded([i.metadata for i in infos]),
            }
        if entry == "manager.load_state_dict":
            return {"status": "loaded", "keys": _keys(manager.load_state_dict())}
        if entry == "manager.load_trainer_state":
            state = manager.load_trainer_state()
            return {"status": "loaded", "keys": _keys(state or {})}
        if entry == "manager.load_agent":
            agent = manager.load_agent()
            return {
                "status": "loaded",
                "keys": _keys(agent.state_dict()),
                "agent": type(agent).__name__,
            }
    raise ValueError(f"unknown entry {entry}")


def _classify_exception(exc: BaseException) -> dict[str, Any]:
    from checkpoint.errors import CheckpointCompatError, UnsafeCheckpointError

    tail = traceback.format_exception(exc)[-4:]
    info = {
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "message": str(exc)[:600],
    }
    if isinstance(exc, UnsafeCheckpointError):
        return {"status": "refused", **info}
    if isinstance(exc, CheckpointCompatError):
        return {"status": "unreadable", **info}
    # MemoryError included: an allocation the file asked for failed and escaped the API
    # (a watchdog kill, when the memory really fills, is "oom" instead)
    return {"status": "uncaught", **info, "where": "".join(tail)[-1500:]}


def child_main(request: dict[str, Any]) -> int:
    """Body of a child process (forked or exec'd): run the entry, write the result file."""
    sys.path.insert(0, str(HERE))
    record, entry, out = request["record"], request["entry"], Path(request["out"])
    started = time.monotonic()
    if ENTRIES[entry].kind == "cli":  # --cli fork: the console script's code path, in process
        from compat.cli import main

        try:
            code = main(request["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        return int(code or 0)
    before: set[str] = set()
    try:
        _setup(record.get("setup") or {})
        before = set(sys.modules)
        result = _api(entry, record, out)
    except BaseException as exc:
        try:
            result = _classify_exception(exc)
        except BaseException as inner:  # the error classes themselves failed to import
            result = {
                "status": "uncaught",
                "type": type(exc).__name__,
                "message": f"{exc} ({inner})",
            }
    result["seconds"] = round(time.monotonic() - started, 3)
    if before:  # what the entry point imported: a codec lookup named by the file shows here
        result["new_modules"] = sorted(set(sys.modules) - before)
    text = json.dumps(result, default=str)
    Path(request["result"]).write_text(text)
    return 0


# --------------------------------------------------------------------------------------------
# process fences


def apply_limits(as_limit: int, fsize_limit: int = 2 * GIB) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


_PAGE = os.sysconf("SC_PAGE_SIZE")


def group_rss(pgid: int) -> int:
    """Resident bytes of every process in process group ``pgid``."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            if int(fields[2]) != pgid:  # fields after the comm: state ppid pgrp ...
                continue
            with open(f"/proc/{name}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def child_env(case: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPAT_", "PYTHON"))}
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        REDTEAM_CASE=case,
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        TERM="dumb",
    )
    env.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
    return env


# ---- zygote: a pre-warmed interpreter that forks one child per run


PRELOAD = ("torch", "numpy", "yaml", "pydantic", "pluggy", "packaging.version", "rich")


def zygote_main() -> int:
    """Serve fork requests (JSON lines on stdin); report pids and exit statuses on stdout."""
    os.environ["OMP_NUM_THREADS"] = "1"
    for module in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(module)
    for leaked in [
        m
        for m in sys.modules
        if m.split(".")[0]
        in (
            "compat",
            "checkpoint",
            "compat_policy_store",
            "compat_torch_load",
            "compat_converters",
            "metta",
        )
    ]:
        raise SystemExit(f"zygote imported project module {leaked}; fix PRELOAD")
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    out = sys.stdout.buffer

    def send(message: dict[str, Any]) -> None:
        out.write(json.dumps(message).encode() + b"\n")
        out.flush()

    send({"ready": True, "pid": os.getpid()})
    children: dict[int, str] = {}
    buffer = b""
    while True:
        try:
            ready, _, _ = select.select([0, wake_r], [], [], 1.0)
        except InterruptedError:
            ready = []
        if wake_r in ready:
            os.read(wake_r, 4096)
        if 0 in ready:
            data = os.read(0, 1 << 16)
            if not data:
                return 0
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _zygote_child(request, wake_r, wake_w)
                children[pid] = request["id"]
                send({"id": request["id"], "pid": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            send({"id": children.pop(pid, "?"), "pid": pid, "status": status})


def _zygote_child(request: dict[str, Any], wake_r: int, wake_w: int) -> None:
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(wake_r)
        os.close(wake_w)
        apply_limits(request["as_limit"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            target = os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["ckpt", *request.get("argv", [])]
        code = child_main(request)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


class Zygote:
    """The parent's handle on one zygote process (one per worker thread)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [str(PYTHON), str(Path(__file__).resolve()), "zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=tempfile.gettempdir(),
            env=child_env("zygote"),
        )
        self._buffer = b""
        hello = self._message(120.0)
        if not hello or not hello.get("ready"):
            raise RuntimeError("the zygote did not start")

    def _message(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                data = os.read(fd, 1 << 16)
                if not data:
                    raise RuntimeError("the zygote died")
                self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def spawn(self, request: dict[str, Any]) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        reply = self._message(60.0)
        if not reply or reply.get("id") != request["id"]:
            raise RuntimeError(f"zygote answered {reply}")
        return int(reply["pid"])

    def wait(self, timeout: float) -> int | None:
        """The raw wait status of the running child, or None if it is still running."""
        message = self._message(timeout)
        return None if message is None else int(message["status"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        with contextlib.suppress(Exception):
            self.proc.kill()


_local = threading.local()


def zygote() -> Zygote:
    z = getattr(_local, "zygote", None)
    if z is None or z.proc.poll() is not None:
        z = _local.zygote = Zygote()
    return z


def close_zygote() -> None:
    z = getattr(_local, "zygote", None)
    if z is not None:
        z.close()
        _local.zygote = None


# --------------------------------------------------------------------------------------------
# one run


@dataclasses.dataclass
class Options:
    timeout: float = 15.0
    rss_limit: int = 1536 << 20
    as_limit: int = 32 * GIB
    isolation: str = "fork"  # API entry points: "fork" (zygote) or "exec"
    cli: str = "exec"  # CLI verbs: "exec" (the real ckpt script) or "fork"
    keep: bool = False  # keep each run's temporary root (for debugging)


@dataclasses.dataclass
class RunResult:
    case: str
    entry: str
    outcome: str
    expected: tuple[str, ...]
    match: bool
    detail: str
    seconds: float
    peak_rss_mb: int
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _markers(cwd: Path) -> list[str]:
    return sorted(p.name for p in cwd.iterdir() if p.name.startswith(MARKER))


def _search(root: Path, pattern: str, text: str) -> list[str]:
    hits = []
    needle = text.encode()
    for path in root.glob(pattern):
        if path.is_file() and not path.is_symlink():
            with contextlib.suppress(OSError):
                if needle in path.read_bytes():
                    hits.append(str(path.relative_to(root)))
    return hits


def _post_checks(
    record: dict[str, Any], entry: str, out: Path, child: dict[str, Any]
) -> str | None:
    """Why a completed run counts as ``accepted`` (hostile bytes taken up), or None."""
    checks = record.get("checks") or {}
    prefix = checks.get("forbid_key_prefix")
    if prefix:
        forged = [k for k in child.get("keys", []) if k.startswith(prefix)]
        if forged:
            return f"loaded forged key {forged[0]}"
        written = _search(out, "**/*", prefix)
        if written:
            return f"wrote the forged key into {written[0]}"
    forbid = checks.get("out_forbid")
    if forbid:
        hits = _search(out, forbid["glob"], forbid["text"])
        if hits:
            return f"output {hits[0]} holds {forbid['text']!r}"
    pattern = checks.get("out_forbid_glob")  # an output that only a hostile input can produce
    if pattern:
        made = sorted(str(p.relative_to(out)) for p in out.glob(pattern))
        if made:
            return f"wrote {made[0]}"
    text = checks.get("result_forbid")
    if text and text in child.get("text", ""):
        return f"result metadata holds {text!r}"
    modules = set(checks.get("forbid_modules", ())) & set(child.get("new_modules", ()))
    if modules and entry != "api.load_trust":
        return f"imported {', '.join(sorted(modules))}, named by the file"
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_one(case: Any, entry: str, options: Options, build: Any) -> RunResult:
    """Build ``case`` fresh in a temporary root and run ``entry`` on it."""
    root = Path(tempfile.mkdtemp(prefix=f"redteam-{case.name[:40]}-"))
    try:
        record = build(case, root / "case")
        return _run_built(record, entry, options, root)
    finally:
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)


def _run_built(record_obj: Any, entry: str, options: Options, root: Path) -> RunResult:
    record = record_obj.to_json()
    cwd, out = root / "cwd", root / "out"
    cwd.mkdir()
    out.mkdir()
    spec = ENTRIES[entry]
    started = time.monotonic()
    status, killed, peak, paths = _watch(record, entry, spec, options, root, "child")
    outcome, detail, child = _classify(record, entry, status, killed, paths, cwd, out, spec)
    rerun = (record.get("checks") or {}).get("rerun")
    if rerun and entry == "cli.migrate" and outcome != "executed":
        # The same command again, as a user would after a killed or failed run: a file
        # whose first conversion never verified must not come back "already done".
        status2, killed2, peak2, paths2 = _watch(record, entry, spec, options, root, "rerun")
        outcome2, detail2, _ = _classify(record, entry, status2, killed2, paths2, cwd, out, spec)
        peak = max(peak, peak2)
        said = _read(paths2["stdout"]) + _read(paths2["stderr"])
        if rerun in said:
            outcome, detail = (
                "accepted",
                f"rerun said {rerun!r} after: {outcome} ({detail[:200]})",
            )
        else:
            detail = f"{detail[:300]}; rerun: {outcome2} ({detail2[:200]})"
    seconds = time.monotonic() - started
    acceptable = record_obj.acceptable(entry)
    return RunResult(
        record["case"],
        entry,
        outcome,
        acceptable,
        outcome in acceptable,
        detail,
        round(seconds, 2),
        peak >> 20,
        {
            k: v
            for k, v in child.items()
            if k
            in (
                "strategy",
                "kind",
                "verdict",
                "keys",
                "refused_even_with_trust",
                "type",
            )
        },
    )


def _watch(
    record: dict[str, Any],
    entry: str,
    spec: Entry,
    options: Options,
    root: Path,
    tag: str,
) -> tuple[int, str | None, int, dict[str, str]]:
    """Start one child for ``entry`` and fence it: (wait status, why killed, peak RSS, paths)."""
    cwd, out = root / "cwd", root / "out"
    paths = {name: str(root / f"{tag}.{name}") for name in ("stdout", "stderr", "result")}
    request: dict[str, Any] = {
        "id": f"{record['case']}:{entry}:{tag}",
        "record": record,
        "entry": entry,
        "out": str(out),
        "cwd": str(cwd),
        "as_limit": options.as_limit,
        "env": child_env(record["case"]),
        **paths,
    }
    if spec.kind == "cli":
        request["argv"] = cli_argv(entry, record, out)
    forked = (spec.kind == "api" and options.isolation == "fork") or (
        spec.kind == "cli" and options.cli == "fork"
    )
    started = time.monotonic()
    killed: str | None = None
    peak = 0
    if forked:
        z = zygote()
        pid = z.spawn(request)

        def poll(wait: float) -> int | None:
            return z.wait(wait)
    else:
        if spec.kind == "cli":
            argv = [str(CKPT), *request["argv"]]
        else:
            request_path = root / f"{tag}.request.json"
            request_path.write_text(json.dumps(request))
            argv = [
                str(PYTHON),
                str(Path(__file__).resolve()),
                "child",
                str(request_path),
            ]
        with open(paths["stdout"], "wb") as so, open(paths["stderr"], "wb") as se:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=request["env"],
                stdin=subprocess.DEVNULL,
                stdout=so,
                stderr=se,
                start_new_session=True,
                preexec_fn=lambda: apply_limits(options.as_limit),  # noqa: PLW1509
            )
        pid = proc.pid

        def poll(wait: float) -> int | None:
            deadline = time.monotonic() + wait
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return status
                if time.monotonic() >= deadline:
                    return None
                time.sleep(0.01)

    status: int | None = None
    while status is None:
        status = poll(0.05)
        if status is not None:
            break
        rss = group_rss(pid)
        peak = max(peak, rss)
        elapsed = time.monotonic() - started
        if rss > options.rss_limit and killed is None:
            killed = f"oom: RSS {rss >> 20} MB > {options.rss_limit >> 20} MB after {elapsed:.1f}s"
            kill_group(pid)
        elif elapsed > options.timeout and killed is None:
            killed = f"timeout after {options.timeout:.0f}s"
            kill_group(pid)
    kill_group(pid)  # stragglers (migrate workers) die with the run
    return status, killed, peak, paths


def _read(path: str, limit: int = 200_000) -> str:
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        return fh.read(limit).decode(errors="replace")
    return ""


def _last_line(*texts: str) -> str:
    for text in texts:
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        if lines:
            return lines[-1][:300]
    return ""


def _classify(
    record: dict[str, Any],
    entry: str,
    status: int,
    killed: str | None,
    paths: dict[str, str],
    cwd: Path,
    out: Path,
    spec: Entry,
) -> tuple[str, str, dict[str, Any]]:
    child: dict[str, Any] = {}
    markers = _markers(cwd)
    if markers:
        return "executed", f"markers {', '.join(markers)}", child
    if killed:
        return killed.split(":")[0].split(" ")[0], killed, child
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGKILL:
            return "oom", "SIGKILL (kernel OOM killer?)", child
        return "crashed", f"killed by {_signal_name(sig)}", child
    code = os.WEXITSTATUS(status)
    stderr = _read(paths["stderr"])
    if spec.kind == "cli":
        if "Traceback (most recent call last)" in stderr:
            return "uncaught", f"exit {code}, traceback: {_last_line(stderr)}", child
        message = _last_line(stderr, _read(paths["stdout"]))
        outcome = {0: "loaded", 1: "unreadable", 3: "refused"}.get(code, "uncaught")
        detail = f"exit {code}: {message}"
    else:
        text = _read(paths["result"])
        if not text:
            last = _last_line(stderr) or "no output"
            return "uncaught", f"child exit {code} without a result: {last}", child
        child = json.loads(text)
        outcome = child.get("status", "uncaught")
        if outcome == "loaded":
            bits = ("verdict", "strategy", "kind", "n", "agent")
            detail = " ".join(f"{k}={child[k]}" for k in bits if child.get(k) is not None)
        else:
            detail = f"{child.get('type', '')}: {child.get('message', '')}".strip(": ")
            frames = [
                line.strip()
                for line in (child.get("where") or "").splitlines()
                if line.strip().startswith("File ")
            ]
            if outcome == "uncaught" and frames:
                detail += " | at " + frames[-1][:200]
    if outcome in ("loaded", "refused", "unreadable"):
        # a run that completed (even with an error) may still have taken up hostile bytes:
        # a migrate that failed one file may have converted the forged one
        why = _post_checks(record, entry, out, child)
        if why:
            return "accepted", f"{why} ({outcome}: {detail[:200]})", child
    return outcome, detail[:700], child


# --------------------------------------------------------------------------------------------
# checks needing torch (run in the venv): do the zip readers really disagree?

ZIP_VIEWS = r"""
import hashlib, json, sys, zipfile
import torch
out = {}
for path in sys.argv[1:]:
    view = {}
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            data = archive.read(names[-1])
            sha = hashlib.sha256(data).hexdigest()[:12]
            view["zipfile"] = {"sha": sha, "forged": b"PWNED_" in data}
    except Exception as exc:
        view["zipfile"] = {"error": f"{type(exc).__name__}: {str(exc)[:120]}"}
    try:
        reader = torch._C.PyTorchFileReader(path)  # reads records as bytes; unpickles nothing
        data = bytes(reader.get_record("data.pkl"))
        sha = hashlib.sha256(data).hexdigest()[:12]
        view["torch"] = {"sha": sha, "forged": b"PWNED_" in data}
    except Exception as exc:
        view["torch"] = {"error": f"{type(exc).__name__}: {str(exc)[:120]}"}
    out[path] = view
print(json.dumps(out))
"""


def zip_reader_views(paths: list[str]) -> dict[str, Any]:
    """For each zip, what Python's zipfile and torch's PyTorchFileReader find as data.pkl."""
    done = subprocess.run(
        [str(PYTHON), "-c", ZIP_VIEWS, *paths],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="redteam-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["zygote"]:
        return zygote_main()
    if argv[:1] == ["child"]:
        return child_main(json.loads(Path(argv[1]).read_text()))
    print("usage: harness.py zygote | child REQUEST.json   (run tests/redteam/run.py instead)")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
