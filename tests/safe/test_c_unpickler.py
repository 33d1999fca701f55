"""The C unpickler path: taken only where the scan proves it safe, and it reads what the
opcode-watching unpickler reads."""

from __future__ import annotations

import math
import os
import pickle
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from craft import Storage, Tensor, dumps, fake_module, zip_checkpoint
from safe_paths import CORPUS, HOSTILE, METTA

import compat
import compat.engine._safe as safe
from checkpoint.errors import UnreadableCheckpointError, UnsafeCheckpointError
from compat.engine._allowlist import Allowlist
from compat.engine._inert import FastInertUnpickler, needs_watching
from compat.engine._placeholder import Placeholder
from compat.engine._scan import scan_pickle
from digest import state_dict_digest

FOUR_FLOATS = np.arange(4, dtype=np.float32).tobytes()
REAL_FILES = sorted(
    path
    for directory in (CORPUS, METTA, CORPUS.parents[2] / "examples" / "legacy_run")
    if directory.is_dir()
    for path in directory.glob("*/*.pt" if directory == CORPUS else "*.pt")
    if path.parent != HOSTILE and safe.inspect(path).verdict is not safe.Verdict.REFUSED
)


def _same(a: object, b: object) -> bool:
    """Deep equality that compares tensors and arrays by value, NaN equal to NaN."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))
        )
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return type(a) is type(b) and np.array_equal(a, b, equal_nan=True)  # type: ignore[arg-type]
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, type) and issubclass(a, Placeholder):  # each load makes its own types
        return (
            isinstance(b, type)
            and issubclass(b, Placeholder)
            and a.qualified_name() == b.qualified_name()
        )
    if type(a) is object:  # a bare ``object()`` sentinel
        return type(b) is object
    return type(a) is type(b) and a == b


def _both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[safe.LoadResult, ...]:
    with compat.plugins.disabled("torch_load"):
        fast = safe.load(path)
        with monkeypatch.context() as patched:
            patched.setattr(safe, "needs_watching", lambda scan, allowlist: True)
            watched = safe.load(path)
    return fast, watched


# -- the two unpicklers agree on every real file --------------------------------------------


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_both_unpicklers_build_the_same_checkpoint(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    main = safe._main_pickle(path, safe._detect(path))
    assert main is not None
    assert not needs_watching(scan_pickle(main.data), safe._allowlist(None))
    fast, watched = _both(path, monkeypatch)
    assert state_dict_digest(fast.state_dict) == state_dict_digest(watched.state_dict)
    assert _same(fast.metadata, watched.metadata)
    assert _same(fast.trainer_state, watched.trainer_state)
    assert fast.placeholders == watched.placeholders
    assert fast.legacy_classes == watched.legacy_classes


def test_the_real_files_cover_numpy_and_records() -> None:
    """The agreement above means something: the corpus has the hard cases in it."""
    names = set()
    for path in REAL_FILES:
        main = safe._main_pickle(path, safe._detect(path))
        assert main is not None
        names |= scan_pickle(main.data).built
    assert {"numpy.dtype", "collections.OrderedDict"} <= names
    assert any("_reconstruct" in name for name in names)


# -- what the scan proves ----------------------------------------------------------------


class _BuiltTensor(Tensor):
    """A tensor whose pickle then sets its state: torch's own legacy Tensor.__setstate__."""

    def __reduce__(self) -> tuple[object, ...]:
        return (*super().__reduce__(), (None, False, OrderedDict()))


def _watch(data: bytes, allowlist: Allowlist | None = None) -> bool:
    return needs_watching(scan_pickle(data), allowlist or Allowlist())


def test_builds_of_tensors_and_globals_need_watching() -> None:
    assert _watch(dumps({"w": _BuiltTensor(Storage("0", 4), 0, (4,), (1,))}))
    set_a_global = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n}b."
    assert scan_pickle(set_a_global).opaque_builds == 1
    assert _watch(set_a_global)


def test_builds_of_placeholders_dict_subclasses_and_numpy_do_not() -> None:
    class Meta(dict):  # type: ignore[type-arg]
        pass

    class Agent:
        pass

    with fake_module("fakeproj", Meta=Meta, Agent=Agent):
        agent = Agent()
        agent.__dict__.update(weights=Tensor(Storage("0", 4), 0, (4,), (1,)), n=3)
        data = dumps({"meta": Meta(epoch=3), "agent": agent, "array": np.arange(3.0)})
    scan = scan_pickle(data)
    assert {"fakeproj.Agent", "numpy.dtype"} <= scan.built
    assert not needs_watching(scan, Allowlist())


def test_a_contributed_class_needs_watching() -> None:
    class Point:
        pass

    with fake_module("fakeproj", Point=Point):
        data = dumps(Point())
    renamed = Allowlist([{"renames": {"fakeproj.Point": "fractions.Fraction"}}])
    assert not _watch(data)
    assert _watch(data, renamed)


# -- the C path on its own: refusals, numpy checks, and what it hands back ----------------


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Path]:
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(previous)


@pytest.mark.parametrize("name", sorted(p.name for p in HOSTILE.glob("*_zip.pt")))
def test_the_c_unpickler_refuses_hostile_pickles_on_its_own(name: str, sandbox: Path) -> None:
    """Defence in depth: with the scan bypassed, its find_class alone refuses them."""
    main = safe._main_pickle(HOSTILE / name, safe._detect(HOSTILE / name))
    assert main is not None
    unpickler = FastInertUnpickler(main.data, source=name, allowlist=Allowlist())
    with pytest.raises((UnsafeCheckpointError, pickle.UnpicklingError, ValueError)):
        unpickler.load()
    assert not list(sandbox.glob("PWNED_*"))


class _Forged:
    """Pickles as ``reduce_value`` with a hand-written BUILD state."""

    def __init__(self, reduce_value: tuple[object, ...]) -> None:
        self.reduce_value = reduce_value

    def __reduce__(self) -> tuple[object, ...]:
        return self.reduce_value


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_FIELDS = (3, "|", None, ("a",), {"a": (np.dtype("f8"), 0)}, 8, 1, 0)
_OVERFLOWING = (1, (2**32, 2**32), np.dtype("f4"), False, b"")


@pytest.mark.parametrize(
    ("forged", "reason"),
    [
        ((np.dtype, ("f8", False, True), _FIELDS), "structured or sub-array"),
        ((_RECONSTRUCT, (np.ndarray, (0,), b"b"), _OVERFLOWING), "does not match its"),
    ],
    ids=["dtype-made-structured", "array-size-overflow"],
)
def test_numpy_builds_are_checked_under_the_c_unpickler(
    forged: tuple[object, ...], reason: str, tmp_path: Path
) -> None:
    path = tmp_path / "forged.pkl"
    path.write_bytes(pickle.dumps({"x": _Forged(forged)}, protocol=2))
    main = safe._main_pickle(path, safe._detect(path))
    assert main is not None and not needs_watching(scan_pickle(main.data), Allowlist())
    with pytest.raises(UnreadableCheckpointError, match=reason):
        safe.load(path)


def test_numpy_objects_come_back_real_wherever_they_sit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    shared = (array, "shared")
    cycle: list[object] = []
    tuple_in_cycle = (cycle, np.arange(2))
    cycle.append(tuple_in_cycle)
    cases = {
        "nested": {"a": [array, (1, (array, np.float64(2.5)))], "b": shared, "c": shared},
        "dtype_key": {np.dtype("f4"): 1},
        "in_a_set": {frozenset({np.dtype("i8")})},
        "cycle": cycle,
    }
    for name, value in cases.items():
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(pickle.dumps(value, protocol=2))
        fast, watched = _both(path, monkeypatch)
        for result in (fast, watched):
            assert not any(type(v).__name__.startswith("Pending") for v in _walk(result.root))
        if name != "cycle":
            assert _same(fast.root, watched.root), name
    nested = safe.load(tmp_path / "nested.pkl").root
    assert isinstance(nested, dict) and nested["b"] is nested["c"]  # a shared tuple stays shared
    looped = safe.load(tmp_path / "cycle.pkl").root
    assert isinstance(looped, list) and looped[0][0] is looped
    assert np.array_equal(looped[0][1], np.arange(2))


def _walk(root: object) -> Iterator[object]:
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, dict):
            stack += [*obj.keys(), *obj.values()]
        elif isinstance(obj, list | tuple | set | frozenset):
            stack += list(obj)


# -- the scan reads bytes, bounded ----------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"\x80\x02]q", b"\x80\x02]r\x01\x00", b"\x80\x04\x95\xff\xff\xff\x00\x00\x00\x00\x00N."],
    ids=["binput-cut", "long-binput-cut", "frame-past-the-end"],
)
def test_truncated_operands_are_corrupt_pickles(data: bytes) -> None:
    with pytest.raises(ValueError, match="truncated"):
        scan_pickle(data)


def test_a_zip_checkpoint_read_by_the_c_unpickler_matches_its_bytes(tmp_path: Path) -> None:
    state = OrderedDict(a=Tensor(Storage("0", 4), 0, (2, 2), (2, 1)))
    path = zip_checkpoint(tmp_path / "crafted.pt", dumps(state), {"0": FOUR_FLOATS})
    result = safe.load(path)
    assert result.strategy == "inert engine"
    expected = torch.frombuffer(bytearray(FOUR_FLOATS), dtype=torch.float32).view(2, 2)
    assert torch.equal(result.state_dict["a"], expected)


# -- indirect calls ------------------------------------------------------------------------


def test_an_ordered_dict_attribute_cannot_smuggle_in_a_call(tmp_path: Path) -> None:
    """APPENDS calls the target's ``extend``: a BUILD must not set it on an ordered dict,
    or a vetted class would be called with its ``__init__``."""
    calls: list[object] = []

    class Spy:
        def __init__(self, *args: object) -> None:
            calls.append(args)

    smuggled = (
        b"\x80\x02ccollections\nOrderedDict\n)R"  # OrderedDict()
        b"}X\x06\x00\x00\x00extendcfakeproj\nSpy\nsb"  # BUILD {"extend": fakeproj.Spy}
        b"(K\x01e."  # APPENDS [1]
    )
    path = tmp_path / "smuggled.pkl"
    path.write_bytes(smuggled)
    with fake_module("spymod", Spy=Spy):
        renames = [{"renames": {"fakeproj.Spy": "spymod.Spy"}}]
        with pytest.raises(UnreadableCheckpointError, match="'extend' is not a plain attribute"):
            safe.load(path, safe_globals=renames)
        assert _watch(smuggled, Allowlist(renames))
    assert calls == []


@pytest.mark.parametrize("put", [b"q\x00", b"r\x00\x00\x00\x00"], ids=["binput", "long-binput"])
def test_a_memo_put_with_nothing_above_the_mark_is_an_underflow(put: bytes) -> None:
    """As in both unpicklers: the item below a MARK is out of reach until POP_MARK."""
    with pytest.raises(ValueError, match="underflow"):
        scan_pickle(b"\x80\x02N(" + put + b"1.")
