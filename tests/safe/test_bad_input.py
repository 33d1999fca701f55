"""Bad input gets a documented exception naming the file, never a crash or a huge allocation."""

from __future__ import annotations

import io
import pickletools
import random
import sys
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from craft import Storage, Tensor, dumps, fake_module, nested_dicts, zip_checkpoint
from safe_paths import CORPUS, HOSTILE

import compat
import compat.engine._safe as safe
from checkpoint.errors import UnreadableCheckpointError, UnsafeCheckpointError
from compat.engine._containers import Format, main_pickle
from zipedit import flip_record_byte

SMALL_ZIP = CORPUS / "torch-2.0.1" / "state_dict_zip.pt"
SMALL_LEGACY = CORPUS / "torch-2.0.1" / "state_dict_legacy.pt"
FOUR_FLOATS = np.arange(4, dtype=np.float32).tobytes()


def _unreadable(path: Path, reason: str = "") -> UnreadableCheckpointError:
    with pytest.raises(UnreadableCheckpointError) as caught:
        safe.load(path)
    assert str(path) in str(caught.value)
    assert reason in str(caught.value)
    return caught.value


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    _unreadable(path, "not a checkpoint")
    with pytest.raises(UnreadableCheckpointError):
        safe.inspect(path)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.pt"
    path.write_bytes(random.Random(4).randbytes(4096))
    _unreadable(path)


def test_missing_file(tmp_path: Path) -> None:
    _unreadable(tmp_path / "absent.pt", "cannot be read")


@pytest.mark.parametrize("source", [SMALL_ZIP, SMALL_LEGACY], ids=["zip", "legacy"])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.99])
def test_truncated(tmp_path: Path, source: Path, fraction: float) -> None:
    data = source.read_bytes()
    path = tmp_path / source.name
    path.write_bytes(data[: int(len(data) * fraction)])
    _unreadable(path, "truncated")


def test_zip_without_a_torch_layout(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "plain.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    _unreadable(path, "data.pkl")


def test_valid_crafted_tensor_loads(tmp_path: Path) -> None:
    storage = Storage("0", 4)
    state = {"w": Tensor(storage, 1, (3,), (1,))}
    path = zip_checkpoint(tmp_path / "ok.pt", dumps(state), {"0": FOUR_FLOATS})
    result = safe.load(path)
    assert result.state_dict["w"].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("offset", "size", "stride"),
    [(10, (4,), (1,)), (0, (5,), (1,)), (0, (2, 2), (4, 1)), (0, (1 << 40,), (1,))],
)
def test_tensor_outside_its_storage(
    tmp_path: Path, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
) -> None:
    state = {"w": Tensor(Storage("0", 4), offset, size, stride)}
    path = zip_checkpoint(tmp_path / "overrun.pt", dumps(state), {"0": FOUR_FLOATS})
    _unreadable(path, "overruns its storage")


@pytest.mark.parametrize("numel", [1000, 1 << 60])
def test_storage_larger_than_its_record(tmp_path: Path, numel: int) -> None:
    state = {"w": Tensor(Storage("0", numel), 0, (1,), (1,))}
    path = zip_checkpoint(tmp_path / "short.pt", dumps(state), {"0": FOUR_FLOATS})
    _unreadable(path, "storage '0'")


def test_missing_storage_record(tmp_path: Path) -> None:
    state = {"w": Tensor(Storage("7", 4), 0, (4,), (1,))}
    path = zip_checkpoint(tmp_path / "missing.pt", dumps(state), {"0": FOUR_FLOATS})
    _unreadable(path, "no record")


def test_legacy_storage_larger_than_the_file(tmp_path: Path) -> None:
    data = SMALL_LEGACY.read_bytes()
    main = main_pickle(SMALL_LEGACY, Format.TORCH_LEGACY)
    # the storage numel follows the location string 'cpu' in each persistent id
    ops = list(pickletools.genops(io.BytesIO(main.data)))
    cpu = next(index for index, (_, arg, _) in enumerate(ops) if arg == "cpu")
    op, _, at = next(entry for entry in ops[cpu:] if entry[0].name.startswith("BININT"))
    start = main.end - len(main.data) + at
    width = {"BININT1": 1, "BININT2": 2, "BININT": 4}[op.name]
    absurd = b"J" + (0x7FFFFFFF).to_bytes(4, "little")
    path = tmp_path / "absurd_legacy.pt"
    path.write_bytes(data[:start] + absurd + data[start + 1 + width :])
    _unreadable(path, "more than the file holds")


def test_absurd_length_in_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "absurd.pkl"
    path.write_bytes(b"\x80\x04\x8e" + (1 << 62).to_bytes(8, "little") + b"xyz.")
    _unreadable(path)


def test_deep_nesting_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.pkl"
    path.write_bytes(b"\x80\x02}X\x05\x00\x00\x00extra" + nested_dicts(50_000)[2:-1] + b"s.")
    _unreadable(path, "nested deeper")


def test_deeply_nested_modules_are_a_clear_error(tmp_path: Path) -> None:
    class Layer:
        def __init__(self, child: object) -> None:
            self._parameters: dict[str, object] = {}
            self._modules = {"inner": child} if child is not None else {}

    with fake_module("fakeproj", Layer=Layer):
        layer: object = None
        for _ in range(300):
            layer = Layer(layer)
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(10_000)  # the pickler (not the engine) recurses per level
        try:
            data = dumps(layer)
        finally:
            sys.setrecursionlimit(limit)
    path = tmp_path / "deep_modules.pkl"
    path.write_bytes(data)
    _unreadable(path, "nested deeper")


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.pkl"
    path.write_bytes(dumps({"x": np.array([1, "a"], dtype=object)}))
    _unreadable(path, "object arrays are refused")


def test_numeric_arrays_come_back(tmp_path: Path) -> None:
    path = tmp_path / "arrays.pkl"
    array = np.arange(6, dtype=np.float64).reshape(2, 3)
    path.write_bytes(dumps({"x": array, "s": np.float32(2.5)}))
    result = safe.load(path)
    np.testing.assert_array_equal(result.metadata["x"], array)
    assert result.metadata["s"] == np.float32(2.5)


def test_unvetted_function_calls_and_classes_stay_inert(tmp_path: Path) -> None:
    """SPEC §8 as amended: a call of a function nobody vetted is an inert call, not run."""
    ran: list[int] = []

    def helper(value: int) -> int:
        ran.append(value)
        return value

    class Thing:
        def __init__(self, value: int) -> None:
            self.value = value

        def __reduce__(self) -> tuple[object, tuple[int]]:
            return Thing, (self.value,)

    class Call:
        def __reduce__(self) -> tuple[object, tuple[int]]:
            return helper, (1,)

    with fake_module("fakeproj", helper=helper, Thing=Thing, Call=Call):
        calls, things = dumps({"x": Call()}), dumps({"x": Thing(3)})
    (tmp_path / "calls.pkl").write_bytes(calls)
    (tmp_path / "things.pkl").write_bytes(things)
    with fake_module("fakeproj", helper=helper):  # importable, still never called
        calls_report = safe.inspect(tmp_path / "calls.pkl")
        called = safe.load(tmp_path / "calls.pkl")
    assert ran == []
    assert (calls_report.verdict, calls_report.refused_globals) == (safe.Verdict.INERT, ())
    assert called.placeholders == {"fakeproj.helper": 1}
    assert called.metadata == {"x": {"__call__": "fakeproj.helper", "__args__": [1]}}
    result = safe.load(tmp_path / "things.pkl")
    assert result.placeholders == {"fakeproj.Thing": 1}
    assert result.metadata == {"x": {"__class__": "fakeproj.Thing", "__args__": [3]}}


def _write_ratio(path: Path, text: str) -> None:
    """A pickle of ``{"r": fakeproj.Ratio(text)}``, whose class then disappears."""

    class Ratio:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return Ratio, (text,)

    with fake_module("fakeproj", Ratio=Ratio):
        path.write_bytes(dumps({"r": Ratio()}))


def test_a_renamed_class_is_never_called(tmp_path: Path) -> None:
    """Issue 15: REDUCE of a rename's current class would run its ``__init__`` with the file's
    arguments; a renamed class is rebuilt only from its state (NEWOBJ and BUILD)."""
    calls: list[object] = []

    class Canary(Fraction):
        def __new__(cls, *args: object) -> Canary:
            calls.append(args)
            return super().__new__(cls, *args)  # type: ignore[arg-type]

    _write_ratio(tmp_path / "ratio.pkl", "1/3")
    with fake_module("canaries", Canary=Canary):
        renames = {"renames": {"fakeproj.Ratio": "canaries.Canary"}}
        with pytest.raises(UnsafeCheckpointError, match="rebuilt only from its state"):
            safe.load(tmp_path / "ratio.pkl", safe_globals=[renames])
    assert calls == []


def test_no_contribution_can_allow_the_dangerous_set(tmp_path: Path) -> None:
    with pytest.raises(UnsafeCheckpointError):
        safe.load(HOSTILE / "os_system.pkl", safe_globals=[{"allow": ["os.system"]}], trust=True)


def test_trust_warns_and_really_unpickles(tmp_path: Path) -> None:
    path = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 3), path)
    with pytest.warns(UserWarning, match="trust=True"):
        result = safe.load(path, trust=True)
    assert result.kind is safe.Kind.MODULE
    assert list(result.state_dict) == ["weight", "bias"]
    inert = safe.load(path)
    assert inert.kind is safe.Kind.MODULE
    assert all(torch.equal(inert.state_dict[k], v) for k, v in result.state_dict.items())


def test_a_plugin_contributes_renames_through_the_hook(tmp_path: Path) -> None:
    """A rename rebuilds the old class's object (NEWOBJ, then BUILD) as the current class."""

    class Point:
        def __init__(self, x: int, y: int) -> None:
            self.x, self.y = x, y

    with fake_module("fakeproj", Point=Point):
        (tmp_path / "point.pkl").write_bytes(dumps({"p": Point(1, 2)}))

    class Renames:
        @compat.hookimpl
        def compat_safe_globals(self) -> compat.SafeGlobals:
            return {"renames": {"fakeproj.Point": "types.SimpleNamespace"}}

    name = compat.plugins.register(Renames(), "test-renames")
    try:
        assert safe.load(tmp_path / "point.pkl").metadata == {"p": SimpleNamespace(x=1, y=2)}
    finally:
        compat.plugins.unregister(name)
    assert safe.load(tmp_path / "point.pkl").placeholders == {"fakeproj.Point": 1}


@pytest.mark.parametrize("torch_load", [True, False], ids=["fast-path", "inert"])
def test_a_flipped_tensor_byte_fails_the_crc_check_on_request(
    torch_load: bool, tmp_path: Path
) -> None:
    path = tmp_path / "flipped.pt"
    torch.save({"w": torch.arange(1000.0)}, path)
    flip_record_byte(path, "data/0", 100)
    with compat.plugins.disabled(*(() if torch_load else ("torch_load",))):
        loaded = safe.load(path).state_dict["w"]  # like torch.load: tensor bytes unchecked
        with pytest.raises(UnreadableCheckpointError, match="'data/0' fails its CRC check"):
            safe.load(path, check_crc=True)
    assert not torch.equal(loaded, torch.arange(1000.0))


def test_a_flipped_pickle_byte_always_fails_the_crc_check(tmp_path: Path) -> None:
    path = tmp_path / "flipped.pt"
    torch.save({"w": torch.arange(1000.0)}, path)
    flip_record_byte(path, "data.pkl", 3)
    _unreadable(path, "'data.pkl' fails its CRC check")


def test_records_saved_without_crcs_load_with_and_without_the_check(tmp_path: Path) -> None:
    """``set_crc32_options(False)`` writes CRC 0: torch's mark for "not computed"."""
    if not hasattr(torch.serialization, "set_crc32_options"):
        pytest.skip(f"torch {torch.__version__} always writes CRCs (the option came in 2.4)")
    path = tmp_path / "no_crc.pt"
    torch.serialization.set_crc32_options(False)
    try:
        torch.save({"w": torch.arange(10.0)}, path)
    finally:
        torch.serialization.set_crc32_options(True)
    for check_crc in (False, True):
        with compat.plugins.disabled("torch_load"):
            result = safe.load(path, check_crc=check_crc)
        assert torch.equal(result.state_dict["w"], torch.arange(10.0))
