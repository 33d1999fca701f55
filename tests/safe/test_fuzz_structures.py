"""Structure-aware fuzzing under a memory limit: shared references, length fields, nesting
depth, memo indices, tensor geometry and zip layouts, drawn by hypothesis and assembled with
the red-team's opcode language (``tests/redteam/cases.py``), in every container.

Whatever is drawn, ``inspect``, ``load`` and ``convert`` raise only the named errors (each
naming the file), and the process's peak RSS grows by no more than the documented budget,
``max(4 x file size, 256 MiB)``. The examples run in a child process with an address-space
limit as well, so a bomb the budget misses fails the test instead of the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
REDTEAM = HERE.parent / "redteam"
if str(REDTEAM) not in sys.path:
    sys.path.insert(0, str(REDTEAM))

import cases as rt  # noqa: E402

#: The budget the README and SECURITY.md state, for files this small.
BUDGET = 256 << 20
#: Address space the child may add after its imports: the budget plus the allocator's and
#: torch's thread pools' reservations. Only a safety net: the RSS check is the assertion.
ADDRESS_SPACE_SLACK = 3 << 30
EXAMPLES = 250


# -- what is drawn -----------------------------------------------------------------------


def _raw(protocol: int, body: bytes) -> bytes:
    return b"\x80" + bytes([protocol]) + body + b"."


_LENGTH_FIELDS = {  # opcode, struct format of its length, protocol
    "BINBYTES8": (b"\x8e", "<Q", 4),
    "BINUNICODE8": (b"\x8d", "<Q", 4),
    "BYTEARRAY8": (b"\x96", "<Q", 5),
    "FRAME": (b"\x95", "<Q", 4),
    "LONG4": (b"\x8b", "<i", 2),
    "BINBYTES": (b"B", "<I", 3),
    "BINUNICODE": (b"X", "<I", 2),
}


@st.composite
def length_field(draw: st.DrawFn) -> bytes:
    """A length field that claims more (or much more) than the bytes that follow."""
    name = draw(st.sampled_from(sorted(_LENGTH_FIELDS)))
    opcode, fmt, protocol = _LENGTH_FIELDS[name]
    present = draw(st.binary(max_size=16))
    limit = 2**31 - 1 if fmt == "<i" else 2 ** (8 * struct.calcsize(fmt)) - 1
    declared = draw(st.sampled_from([len(present) + 1, 2**20, 2**31 - 1, limit]))
    return _raw(protocol, opcode + struct.pack(fmt, min(declared, limit)) + present)


@st.composite
def nesting(draw: st.DrawFn) -> bytes:
    """Containers nested up to 200,000 deep, as the opcodes build them."""
    depth = draw(st.integers(1, 200_000))
    kind = draw(st.sampled_from(["list", "tuple", "dict"]))
    if kind == "list":
        return _raw(2, b"]" * depth + b"a" * (depth - 1))
    if kind == "tuple":
        return _raw(2, b")" + b"\x85" * depth)
    key = b"X\x01\x00\x00\x00k"
    return _raw(2, b"}" + (key + b"}") * depth + b"s" * depth)


@st.composite
def memo_index(draw: st.DrawFn) -> bytes:
    """A memo index anywhere in 32 bits, put and maybe got back (or got unset)."""
    put = draw(st.integers(0, 2**32 - 1))
    get = draw(st.one_of(st.just(put), st.integers(0, 2**32 - 1)))
    return _raw(2, b"Nr" + struct.pack("<I", put) + b"0j" + struct.pack("<I", get))


@st.composite
def shared_graph(draw: st.DrawFn) -> rt.Expr:
    """References shared through the memo: read as a tree, each is exponential."""
    kind = draw(st.sampled_from(["list", "dict", "tuple", "modules", "spaces", "deep_spaces"]))
    if kind == "list":
        return rt.raw_dict([("extras", rt.memo_list_bomb(draw(st.integers(1, 60))))])
    if kind in ("dict", "tuple"):
        depth, width = draw(st.integers(1, 12)), draw(st.integers(2, 12))
        return rt.raw_dict([("extras", rt.laughs(kind, depth, width))])
    if kind == "modules":
        return rt.module_dag(draw(st.integers(1, 60)))
    depth = draw(st.integers(1, 3_000 if kind == "deep_spaces" else 60))
    spaces = rt.gym_nested(depth, shared=kind == "spaces")
    return rt.raw_dict([("observation_space", spaces)])


@st.composite
def tensor_geometry(draw: st.DrawFn) -> rt.Expr:
    """A tensor whose declared storage, shape, stride or offset lies about its bytes."""
    held = draw(st.integers(0, 4))
    rank = draw(st.integers(0, 3))
    huge = st.sampled_from([0, 1, 2, 2**20, 2**31, 2**40, 2**62])
    tensor = rt.TensorX(
        "t0",
        rt.floats(*range(held)),
        draw(st.one_of(st.just(held), huge)),
        tuple(draw(st.lists(huge, min_size=rank, max_size=rank))),
        tuple(draw(st.lists(huge, min_size=rank, max_size=rank))),
        draw(st.one_of(st.just(0), huge)),
    )
    return rt.state_dict([("w", tensor)])


ZIP_LAYOUTS = ("plain", "prepended", "two_central_directories", "duplicate_pickle")


def _zip(case: str, pickled: tuple[bytes, dict[str, bytes]], layout: str, junk: bytes) -> bytes:
    if layout == "plain":
        return rt.zip_container(case, *pickled)
    if layout == "prepended":
        return rt.plain_zip(rt.torch_records(case, *pickled), prefix=junk)
    benign = rt._benign_p(via_strategy=False)
    same_names = [len(key) for key in sorted(pickled[1])] == [len(key) for key in sorted(benign[1])]
    if layout == "two_central_directories" and same_names:  # the builder needs equal sizes
        return rt.two_central_directories(case, pickled, benign)
    records = [rt.Rec(f"{case}/data.pkl", pickled[0]), rt.Rec(f"{case}/data.pkl", benign[0])]
    storages = {**pickled[1], **benign[1]}
    records += [rt.Rec(f"{case}/data/{key}", storages[key]) for key in sorted(storages)]
    return rt.plain_zip(records)


@st.composite
def hostile_file(draw: st.DrawFn) -> tuple[str, bytes]:
    """``(file name, bytes)``: one structure in one container (and zip layout)."""
    container = draw(st.sampled_from(["pkl", "zip", "legacy"]))
    if draw(st.booleans()):
        raw = draw(st.one_of(length_field(), nesting(), memo_index()))
        pickled: tuple[bytes, dict[str, bytes]] = (raw, {})
    else:
        expr = draw(st.one_of(shared_graph(), tensor_geometry()))
        pickled = rt.assemble(expr, "legacy" if container == "legacy" else "zip", 2)
    name = rt.FILE_NAMES[container]
    if container == "pkl":
        return name, pickled[0]
    if container == "legacy":
        return name, rt.legacy_bytes(*pickled)
    layout = draw(st.sampled_from(ZIP_LAYOUTS))
    return name, _zip("fuzz", pickled, layout, draw(st.binary(min_size=1, max_size=64)))


# -- what must hold ----------------------------------------------------------------------


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_examples(examples: int) -> None:
    """The child: every drawn file through inspect, load and convert, then the RSS check."""
    import compat
    from checkpoint.errors import CheckpointError

    # Warm every code path a legitimate file takes, so imports are not counted as growth.
    with tempfile.TemporaryDirectory() as directory:
        warm = Path(directory) / "warm.pt"
        warm.write_bytes(rt.zip_container("warm", *rt._benign_p(via_strategy=False)))
        compat.inspect(warm)
        compat.convert(warm, f"{directory}/out/")
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + ADDRESS_SPACE_SLACK
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    baseline = _peak_rss()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile_file())
    def every_path_names_its_error(case: tuple[str, bytes]) -> None:
        name, data = case
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / name
            path.write_bytes(data)
            for call in (
                compat.inspect,
                compat.load,
                lambda p: compat.convert(p, f"{directory}/out/"),
            ):
                try:
                    call(path)
                except CheckpointError as exc:  # every named error; nothing else may escape
                    assert str(path) in str(exc), f"{type(exc).__name__} without the file: {exc}"

    every_path_names_its_error()
    growth = _peak_rss() - baseline
    assert growth <= BUDGET, f"peak RSS grew by {growth >> 20} MiB: over the budget"
    print(f"{examples} examples; peak RSS growth {growth >> 20} MiB (budget {BUDGET >> 20} MiB)")


def _address_space() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def test_structures_stay_within_the_budget_and_raise_named_errors() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.run(
        [sys.executable, __file__, "--examples", str(EXAMPLES)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,  # a hang detector, not a speed assertion
        check=False,
    )
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-8000:]
    assert "peak RSS growth" in child.stdout


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=EXAMPLES)
    run_examples(parser.parse_args().examples)
