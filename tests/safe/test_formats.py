"""Containers other than torch zip/legacy: v1 checkpoints, bare pickles, safetensors, tar."""

from __future__ import annotations

import argparse
import io
import json
import pickle
import struct
import tarfile
from pathlib import Path

import pytest
import torch
from craft import fake_module

import compat.engine._safe as safe
from checkpoint import CheckpointManager
from checkpoint.errors import PluginError, UnreadableCheckpointError


def test_v1_checkpoint_takes_its_metadata_from_the_sidecar(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, "run")
    info = manager.save_agent({"w": torch.arange(3.0)}, 5, {"score": 0.5})
    result = safe.load(info.path)
    assert result.source_format is safe.Format.V1
    assert result.kind is safe.Kind.STATE_DICT
    assert result.state_dict["w"].tolist() == [0.0, 1.0, 2.0]
    assert (result.metadata["epoch"], result.metadata["run_name"]) == (5, "run")
    assert safe.inspect(info.path).verdict is safe.Verdict.WEIGHTS_ONLY


def test_bare_pickle_of_plain_data(tmp_path: Path) -> None:
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"epoch": 3, "tags": ("a", "b")}, protocol=0))
    result = safe.load(path)
    assert result.source_format is safe.Format.PICKLE
    assert result.metadata == {"epoch": 3, "tags": ("a", "b")}


def _safetensors(path: Path, header: dict[str, object], data: bytes) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def test_safetensors_loads_without_any_pickle(tmp_path: Path) -> None:
    header = {
        "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b": {"dtype": "BF16", "shape": [2], "data_offsets": [16, 20]},
        "__metadata__": {"epoch": "3"},
    }
    weights = torch.arange(4, dtype=torch.float32)
    bias = torch.tensor([1.5, -2.0], dtype=torch.bfloat16)
    data = weights.numpy().tobytes() + bias.view(torch.int16).numpy().tobytes()
    path = _safetensors(tmp_path / "model.safetensors", header, data)
    report = safe.inspect(path)
    assert (report.format, report.verdict) == (safe.Format.SAFETENSORS, safe.Verdict.NO_PICKLE)
    assert report.reasons == ("2 tensors, no code",)
    result = safe.load(path)
    assert list(result.state_dict) == ["w", "b"]
    assert torch.equal(result.state_dict["w"], weights.reshape(2, 2))
    assert torch.equal(result.state_dict["b"], bias)
    assert result.metadata == {"epoch": "3"}


@pytest.mark.parametrize(
    "entry",
    [
        {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]},
        {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]},
        {"dtype": "F32", "shape": [1], "data_offsets": [12, 8]},
        {"dtype": "OBJ", "shape": [1], "data_offsets": [0, 4]},
        {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]},
    ],
)
def test_safetensors_entries_outside_the_data(tmp_path: Path, entry: dict[str, object]) -> None:
    path = _safetensors(tmp_path / "bad.safetensors", {"w": entry}, b"\x00" * 16)
    with pytest.raises(UnreadableCheckpointError, match="'w'"):
        safe.load(path)


def test_ancient_tar_format_is_inspected(tmp_path: Path) -> None:
    path = tmp_path / "ancient.pt"
    with tarfile.open(path, "w") as archive:
        for name, data in (("sys_info", b"x"), ("pickle", pickle.dumps({"a": 1}, protocol=2))):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    report = safe.inspect(path)
    assert report.format is safe.Format.TORCH_TAR
    assert report.verdict is safe.Verdict.WEIGHTS_ONLY
    assert any("0.1.10" in hint for hint in report.torch_version_hints)
    with pytest.raises(UnreadableCheckpointError, match="torch-tar"):
        safe.load(path)


def test_protocol_0_objects_stay_inert(tmp_path: Path) -> None:
    class Point:
        def __init__(self) -> None:
            self.x = 1

    with fake_module("fakeproj", Point=Point):
        data = pickle.dumps({"p": Point()}, protocol=0)
    assert b"copy_reg" in data
    path = tmp_path / "old.pkl"
    path.write_bytes(data)
    result = safe.load(path)
    assert result.metadata == {"p": {"__class__": "fakeproj.Point", "x": 1}}
    assert result.placeholders == {"fakeproj.Point": 1}


def test_a_renamed_class_gets_its_state(tmp_path: Path) -> None:
    class Options:
        def __init__(self) -> None:
            self.lr = 0.5

    with fake_module("fakeproj", Options=Options):
        (tmp_path / "options.pkl").write_bytes(pickle.dumps({"o": Options()}, protocol=2))
    renames = {"renames": {"fakeproj.Options": "argparse.Namespace"}}
    result = safe.load(tmp_path / "options.pkl", safe_globals=[renames])
    assert result.metadata == {"o": argparse.Namespace(lr=0.5)}
    assert result.placeholders == {}


def test_a_rename_to_nothing_is_a_plugin_error(tmp_path: Path) -> None:
    class Options:
        pass

    with fake_module("fakeproj", Options=Options):
        (tmp_path / "options.pkl").write_bytes(pickle.dumps(Options(), protocol=2))
    renames = {"renames": {"fakeproj.Options": "no_such_module.Options"}}
    with pytest.raises(PluginError, match="no_such_module"):
        safe.load(tmp_path / "options.pkl", safe_globals=[renames])


class _Record:
    """Shaped like a 2025 PolicyRecord: the policy behind a property, in a private slot."""

    def __init__(self, policy: torch.nn.Module) -> None:
        self._cached_policy_value = policy
        self._metadata = {"epoch": 3, "agent_step": 30}


def test_a_record_keeping_its_policy_as_cached_policy_value(tmp_path: Path) -> None:
    policy = torch.nn.Linear(3, 2)
    path = tmp_path / "model_0003.pt"
    with fake_module("oldproj"), fake_module("oldproj.records", PolicyRecord=_Record):
        torch.save(_Record(policy), path)
    result = safe.load(path)
    assert result.kind is safe.Kind.RECORD
    assert result.metadata == {"epoch": 3, "agent_step": 30}
    assert result.state_dict.keys() == policy.state_dict().keys()
    assert all(torch.equal(result.state_dict[k], v) for k, v in policy.state_dict().items())
