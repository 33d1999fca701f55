"""Unit tests of CheckpointManager: the SPEC §4 API on real files."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch import nn

from checkpoint import (
    CheckpointCorruptError,
    CheckpointManager,
    CheckpointNotFoundError,
    DamagedSidecarWarning,
    InvalidCheckpointRequestError,
    InvalidStateError,
    SidecarError,
    UnknownArchitectureError,
    read_sidecar,
)
from checkpoint.errors import UnsafeCheckpointError


def test_save_commits_plain_state_dict_and_sidecar(manager, run_dir, make_state) -> None:
    info = manager.save_agent(make_state(1.5), 3, {"score": 0.5, "agent_step": 300})

    assert info.path == run_dir / "alpha.e00000003.pt"
    assert info.key_and_version() == ("alpha", 3)
    assert info.uri == info.path.resolve().as_uri() and info.uri.startswith("file:///")
    plain = torch.load(info.path, weights_only=True, mmap=True)
    assert list(plain) == ["w", "b"]
    assert torch.equal(plain["w"], make_state(1.5)["w"])
    sidecar = read_sidecar(run_dir / "alpha.e00000003.yaml")
    assert (sidecar.epoch, sidecar.agent_step, sidecar.score) == (3, 300, 0.5)
    assert sidecar.size == info.path.stat().st_size
    assert sidecar.torch_version == torch.__version__
    assert yaml.safe_load((run_dir / "alpha.e00000003.yaml").read_text())["format_version"] == 1


def test_sidecar_sha256_matches_file(manager, make_state) -> None:
    import hashlib

    info = manager.save_agent(make_state(2.0, 100_000), 1)
    assert (
        read_sidecar(info.sidecar_path).sha256 == hashlib.sha256(info.path.read_bytes()).hexdigest()
    )
    assert manager.verify(1).epoch == 1


def test_names_sort_by_epoch(manager, run_dir, make_state) -> None:
    for epoch in (10, 2, 100, 1):
        manager.save_agent(make_state(epoch), epoch)
    weights = sorted(name for name in os.listdir(run_dir) if name.endswith(".pt"))
    assert [int(name.split(".e")[1][:8]) for name in weights] == [1, 2, 10, 100]
    assert [info.epoch for info in manager.list()] == [1, 2, 10, 100]


def test_load_state_dict_latest_and_by_epoch(manager, make_state) -> None:
    manager.save_agent(make_state(1.0), 1)
    manager.save_agent(make_state(2.0), 2)
    assert manager.load_state_dict()["w"][0].item() == 2.0
    assert manager.load_state_dict(1)["w"][0].item() == 1.0
    with pytest.raises(CheckpointNotFoundError, match="epoch 7"):
        manager.load_state_dict(7)


def test_empty_run_has_no_latest_and_clear_error(manager) -> None:
    assert manager.list() == [] and manager.latest() is None
    assert manager.find_best_checkpoint() is None
    assert manager.load_trainer_state() is None
    with pytest.raises(CheckpointNotFoundError, match="no committed v1 checkpoint"):
        manager.load_state_dict()


def test_load_agent_into_given_model(manager) -> None:
    source = nn.Linear(3, 2)
    manager.save_agent(source, 0)
    target = nn.Linear(3, 2)
    loaded = manager.load_agent(model=target)
    assert loaded is target
    assert torch.equal(target.weight, source.weight)


def test_load_agent_rebuilds_only_registered_classes(manager, tiny_agent_class, run_dir) -> None:
    agent = tiny_agent_class(width=6)
    manager.save_agent(agent, 4)
    rebuilt = manager.load_agent()
    assert type(rebuilt) is tiny_agent_class and rebuilt.width == 6
    x = torch.randn(2, 6)
    assert torch.equal(rebuilt(x), agent(x))

    from checkpoint import unregister_agent_class

    unregister_agent_class(tiny_agent_class)
    with pytest.raises(UnknownArchitectureError, match="register_agent_class"):
        manager.load_agent()


def test_sidecar_class_path_cannot_trigger_an_import(manager, run_dir, make_state) -> None:
    manager.save_agent(make_state(1.0), 0)
    sidecar = run_dir / "alpha.e00000000.yaml"
    data = yaml.safe_load(sidecar.read_text())
    data["architecture"] = {"class_path": "os.system", "config": {"command": "touch pwned"}}
    sidecar.write_text(yaml.safe_dump(data))
    with pytest.raises(UnknownArchitectureError, match="not registered"):
        manager.load_agent()
    assert not Path("pwned").exists()


def test_unregistered_agent_records_no_architecture(manager) -> None:
    info = manager.save_agent(nn.Linear(2, 2), 0)
    assert read_sidecar(info.sidecar_path).architecture is None
    with pytest.raises(UnknownArchitectureError, match="model="):
        manager.load_agent()


def test_trainer_state_round_trip_latest_by_default(manager) -> None:
    model = nn.Linear(4, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    rng = torch.get_rng_state()
    manager.save_trainer_state(optimizer, 1, 100, extra={"rng": rng, "note": ["a", 1]})
    manager.save_trainer_state(optimizer, 2, 200)

    latest = manager.load_trainer_state()
    assert (latest["epoch"], latest["agent_step"]) == (2, 200)
    first = manager.load_trainer_state(1)
    assert torch.equal(first["extra"]["rng"], rng) and first["extra"]["note"] == ["a", 1]
    fresh = torch.optim.Adam(nn.Linear(4, 4).parameters(), lr=1e-3)
    fresh.load_state_dict(latest["optimizer"])
    assert fresh.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
    assert manager.load_trainer_state(9) is None


def test_trainer_state_rejects_objects_weights_only_cannot_load(manager) -> None:
    with pytest.raises(InvalidStateError, match=r"\['extra'\]\['model'\]"):
        manager.save_trainer_state(None, 1, 0, extra={"model": nn.Linear(1, 1)})
    assert manager.load_trainer_state() is None


@pytest.mark.parametrize(
    ("scores", "mode", "expected"),
    [
        ([0.1, 0.9, 0.5], "max", 1),
        ([0.1, 0.9, 0.5], "min", 0),
        ([math.nan, 0.2, math.nan], "max", 1),
        ([math.nan, 0.2, math.nan], "min", 1),
        ([0.7, 0.7, 0.1], "max", 1),  # tie: the newer epoch wins
        ([math.nan, math.nan, math.nan], "max", 2),  # recorded, but all NaN: newest
    ],
)
def test_best_ranks_nan_last_and_ties_newer(tmp_path, make_state, scores, mode, expected) -> None:
    manager = CheckpointManager(tmp_path, "r", mode=mode)
    for epoch, score in enumerate(scores):
        manager.save_agent(make_state(epoch), epoch, {"score": score})
    assert manager.find_best_checkpoint().epoch == expected


def test_select_strategies_and_nested_metric(manager, make_state) -> None:
    for epoch, nav in enumerate([3.0, 1.0, 2.0, 5.0]):
        manager.save_agent(make_state(epoch), epoch, {"eval_scores": {"nav": nav}})
    assert [i.epoch for i in manager.select("latest", n=2)] == [3, 2]
    assert [i.epoch for i in manager.select("best", n=3, metric="eval_scores.nav")] == [3, 0, 2]
    assert [i.epoch for i in manager.select("all")] == [0, 1, 2, 3]
    assert manager.find_best_checkpoint("eval_scores.nav").epoch == 3
    with pytest.raises(InvalidCheckpointRequestError, match="strategy"):
        manager.select("top")  # type: ignore[arg-type]
    with pytest.raises(InvalidCheckpointRequestError, match="n=0"):
        manager.select("latest", n=0)


def test_retention_keeps_union_of_last_and_best(tmp_path, make_state) -> None:
    manager = CheckpointManager(tmp_path, "r", keep_last=2, keep_best=2)
    scores = [0.9, 0.1, 0.8, 0.2, 0.3, 0.05]
    for epoch, score in enumerate(scores):
        manager.save_agent(make_state(epoch), epoch, {"score": score})
    assert [info.epoch for info in manager.list()] == [0, 2, 4, 5]
    for epoch in (1, 3):
        assert not (tmp_path / f"r.e{epoch:08d}.pt").exists()
        assert not (tmp_path / f"r.e{epoch:08d}.yaml").exists()


def test_retention_never_deletes_newest_or_best(tmp_path, make_state) -> None:
    manager = CheckpointManager(tmp_path, "r", keep_best=1, metric="loss", mode="min")
    for epoch, loss in enumerate([0.5, 0.1, 0.9, 0.7]):
        manager.save_agent(make_state(epoch), epoch, {"loss": loss})
    assert [info.epoch for info in manager.list()] == [1, 3]


def test_retention_pairs_trainer_state_with_kept_epochs(tmp_path, make_state) -> None:
    manager = CheckpointManager(tmp_path, "r", keep_last=1)
    for epoch in range(3):
        manager.save_agent(make_state(epoch), epoch)
        manager.save_trainer_state(None, epoch, epoch * 10)
    trainer = sorted(p.name for p in tmp_path.glob("*.trainer.pt"))
    assert trainer == ["r.e00000002.trainer.pt"]
    assert manager.load_trainer_state()["agent_step"] == 20


def test_retention_ignores_other_runs_and_legacy_files(tmp_path, make_state) -> None:
    other = CheckpointManager(tmp_path, "other")
    other.save_agent(make_state(9.0), 0)
    (tmp_path / "model_0001.pt").write_bytes(b"legacy bytes")
    manager = CheckpointManager(tmp_path, "r", keep_last=1)
    for epoch in range(3):
        manager.save_agent(make_state(epoch), epoch)
    assert (tmp_path / "other.e00000000.pt").exists()
    assert (tmp_path / "model_0001.pt").read_bytes() == b"legacy bytes"
    assert [i.epoch for i in other.list() if not i.legacy] == [0]


def test_listing_flags_legacy_names(tmp_path, make_state) -> None:
    for name in (
        "model_0005.pt",
        "alpha__e7__s1000__t12__sc9000.pt",
        "alpha:v3.pt",
        "trainer_state.pt",
        "beta__e1__s1__t1__sc1.pt",
        "alpha:v8.mpt",
        "alpha:v10.zip",
        "notes.txt",
        "alpha.e00000002.yaml",  # a sidecar without its weights
    ):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "alpha:v9").mkdir()  # a bundle directory (Jan 2026)
    (tmp_path / "alpha:v9" / "weights.safetensors").write_bytes(b"x")
    manager = CheckpointManager(tmp_path, "alpha")
    manager.save_agent(make_state(1.0), 6)
    listed = {info.path.name: info for info in manager.list()}
    assert set(listed) == {
        "model_0005.pt",
        "alpha__e7__s1000__t12__sc9000.pt",
        "alpha:v3.pt",
        "trainer_state.pt",
        "alpha.e00000006.pt",
        "alpha:v8.mpt",
        "alpha:v9",
        "alpha:v10.zip",
    }
    schemes = {name: (info.legacy_scheme, info.epoch) for name, info in listed.items()}
    assert schemes["alpha:v8.mpt"] == ("policy_artifact", 8)
    assert schemes["alpha:v9"] == ("checkpoint_bundle", 9)
    assert schemes["alpha:v10.zip"] == ("checkpoint_bundle", 10)
    assert listed["model_0005.pt"].legacy and listed["model_0005.pt"].epoch == 5
    scm = listed["alpha__e7__s1000__t12__sc9000.pt"]
    assert (scm.legacy_scheme, scm.epoch, scm.metadata["agent_step"]) == (
        "simple_checkpoint_manager",
        7,
        1000,
    )
    assert listed["alpha:v3.pt"].epoch == 3
    assert not listed["alpha.e00000006.pt"].legacy
    # selection and loading consider committed v1 checkpoints only
    assert manager.latest().epoch == 6
    assert [i.epoch for i in manager.select("all")] == [6]


def test_weights_without_sidecar_are_invisible(manager, run_dir, make_state) -> None:
    manager.save_agent(make_state(1.0), 1)
    torch.save(make_state(2.0), run_dir / "alpha.e00000002.pt")
    assert [info.epoch for info in manager.list()] == [1]
    # and a later save of that epoch takes the orphan's place
    manager.save_agent(make_state(3.0), 2)
    assert manager.load_state_dict(2)["w"][0].item() == 3.0


def test_refuses_to_overwrite_a_committed_epoch(manager, make_state) -> None:
    manager.save_agent(make_state(1.0), 1)
    with pytest.raises(InvalidCheckpointRequestError, match="already committed"):
        manager.save_agent(make_state(2.0), 1)
    assert manager.load_state_dict(1)["w"][0].item() == 1.0
    manager.delete(1)
    manager.save_agent(make_state(2.0), 1)
    assert manager.load_state_dict(1)["w"][0].item() == 2.0


@pytest.mark.parametrize(
    "name", ["", " ", "a b", "a/b", "a\\b", "..", "a..b", "../x", ".hidden", "tab\t", "x\n"]
)
def test_invalid_run_names(tmp_path, name) -> None:
    with pytest.raises(InvalidCheckpointRequestError, match="invalid run name"):
        CheckpointManager(tmp_path, name)


@pytest.mark.parametrize("epoch", [-1, 1.5, True, "3"])
def test_invalid_epochs(manager, make_state, epoch) -> None:
    with pytest.raises(InvalidCheckpointRequestError, match="invalid epoch"):
        manager.save_agent(make_state(1.0), epoch)


def test_non_tensor_state_value_names_key(manager, run_dir) -> None:
    with pytest.raises(InvalidStateError, match="'extra'"):
        manager.save_agent({"w": torch.ones(2), "extra": 3}, 0)
    assert not run_dir.exists() or manager.list() == []


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"score": object()}, r"metadata\['score'\] is a builtins.object"),
        ({"agent_step": -5}, "agent_step"),
        ({"epoch": 99}, "disagrees"),
        ({1: 2}, "non-string key"),
    ],
)
def test_bad_metadata_is_rejected_before_writing(manager, run_dir, make_state, metadata, message):
    with pytest.raises((InvalidStateError, InvalidCheckpointRequestError), match=message):
        manager.save_agent(make_state(1.0), 0, metadata)
    assert not run_dir.exists() or os.listdir(run_dir) in ([], [".ckpt.lock"])


def test_metadata_of_an_info_saves_back_as_is(manager, make_state) -> None:
    first = manager.save_agent(make_state(1.0), 0, {"score": 0.5, "note": "x"})
    second = manager.save_agent(make_state(2.0), 1, {**first.metadata, "epoch": 1})
    assert second.metadata["size"] == second.path.stat().st_size != 0
    assert (second.metadata["score"], second.metadata["note"]) == (0.5, "x")
    assert read_sidecar(second.sidecar_path).metrics == {"note": "x"}


def test_tensor_and_numpy_scalars_become_numbers(manager) -> None:
    import numpy as np

    info = manager.save_agent(
        {"w": torch.ones(1)}, 0, {"score": torch.tensor(0.25), "n": np.int64(4)}
    )
    sidecar = read_sidecar(info.sidecar_path)
    assert sidecar.score == 0.25 and sidecar.metrics == {"n": 4}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text + "\n  : [unclosed", "not valid YAML"),
        (lambda text: text.replace("epoch: 1", "epoch: three"), "epoch"),
        (lambda text: text.replace("format_version: 1", "format_version: 2"), "format_version"),
        (lambda text: text + "surprise: 1\n", "surprise"),
        (lambda text: "!!python/object/apply:os.system ['touch pwned']\n", "not valid YAML"),
        (lambda text: text.replace("epoch: 1", "epoch: 2"), "named for run 'alpha' epoch 1"),
    ],
)
def test_a_hand_edited_sidecar_is_quarantined(manager, run_dir, make_state, edit, message) -> None:
    """Issue 16 item 3: one bad sidecar never blinds the run."""
    for epoch in range(3):
        manager.save_agent(make_state(float(epoch)), epoch, {"score": float(epoch)})
    sidecar = run_dir / "alpha.e00000001.yaml"
    sidecar.write_text(edit(sidecar.read_text()))
    import checkpoint._catalog as catalog
    import checkpoint._indexfile as indexfile

    for reader in (manager, CheckpointManager(run_dir, "alpha")):
        with pytest.warns(DamagedSidecarWarning, match=message) as caught:
            assert [info.epoch for info in reader.list()] == [0, 2]
        assert str(sidecar) in str(caught[0].message) and "delete" in str(caught[0].message)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once per file and process
            assert reader.latest().epoch == 2
            assert reader.find_best_checkpoint().epoch == 2
            assert [i.epoch for i in reader.select("best", n=3)] == [2, 0]
            assert reader.load_state_dict(0)["w"][0] == 0.0
        with pytest.raises(SidecarError, match=message) as excinfo:
            reader.load_state_dict(1)
        assert str(sidecar) in str(excinfo.value)
        indexfile.memos.clear()  # again as a new process, through the index a listing wrote
        catalog._warned.clear()
    reader.delete(1)  # the fix the message names
    assert [info.epoch for info in manager.list()] == [0, 2]
    assert not sidecar.exists()
    assert not Path("pwned").exists()


def test_a_damaged_sidecar_that_is_fixed_comes_back(manager, run_dir, make_state) -> None:
    manager.save_agent(make_state(1.0), 0)
    sidecar = run_dir / "alpha.e00000000.yaml"
    good = sidecar.read_bytes()
    sidecar.write_bytes(good.replace(b"epoch: 0", b"epoch: zero"))
    with pytest.warns(DamagedSidecarWarning):
        assert manager.list() == []
    sidecar.write_bytes(good)  # the same size, written in place: its mtime tells
    assert [info.epoch for info in manager.list()] == [0]


def test_verify_detects_flipped_byte_and_truncation(manager, run_dir, make_state) -> None:
    info = manager.save_agent(make_state(1.0, 1000), 0)
    data = bytearray(info.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    info.path.write_bytes(bytes(data))
    with pytest.raises(CheckpointCorruptError, match="sha256") as excinfo:
        manager.verify()
    assert str(info.path) in str(excinfo.value)
    info.path.write_bytes(bytes(data[:100]))
    with pytest.raises(CheckpointCorruptError, match="truncated"):
        manager.load_state_dict()


def test_stale_temp_files_are_swept_by_the_first_write(run_dir, make_state) -> None:
    manager = CheckpointManager(run_dir, "alpha")
    manager.save_agent(make_state(1.0), 0)
    stale = run_dir / ".alpha.e00000001.pt.4242.deadbeef.tmp"
    stale.write_bytes(b"half a checkpoint")
    reader = CheckpointManager(run_dir, "alpha")
    assert [info.epoch for info in reader.list()] == [0]
    assert stale.exists(), "a reader leaves the directory as it is"
    writer = CheckpointManager(run_dir, "alpha")
    writer.save_trainer_state(None, 0, 0)
    assert not stale.exists()
    assert [info.epoch for info in manager.list()] == [0]


def test_live_writers_temp_file_survives_sweep(run_dir, make_state) -> None:
    from checkpoint._storage import TempFile

    CheckpointManager(run_dir, "alpha").save_agent(make_state(1.0), 0)
    live = TempFile(run_dir / "alpha.e00000001.pt")
    try:
        CheckpointManager(run_dir, "alpha").save_agent(make_state(2.0), 2)
        assert live.path.exists()
    finally:
        live.discard()
        live.close()


def test_index_is_a_cache_rebuilt_when_missing_or_stale(
    manager, run_dir, make_state, monkeypatch
) -> None:
    import checkpoint._catalog as catalog
    import checkpoint._indexfile as indexfile

    manager.save_agent(make_state(1.0), 0, {"score": 1.0})
    manager.save_agent(make_state(2.0), 1, {"score": 2.0})
    reads: list[Path] = []
    real_parse = catalog.parse_sidecar
    monkeypatch.setattr(
        catalog, "parse_sidecar", lambda raw, path: reads.append(path) or real_parse(raw, path)
    )
    indexfile.memos.clear()  # as a new process
    assert [info.epoch for info in manager.list()] == [0, 1]
    assert reads == [], "the commits indexed both checkpoints"
    index = run_dir / ".ckpt-index.json"
    index.unlink()
    indexfile.memos.clear()
    assert [info.epoch for info in manager.list()] == [0, 1]
    assert len(reads) == 2, "without an index every sidecar is read"
    indexfile.memos.clear()
    manager.list()
    assert len(reads) == 2, "and that listing wrote the index back"
    index.write_text("{not json")
    indexfile.memos.clear()
    assert manager.find_best_checkpoint().epoch == 1
    # a sidecar replaced behind the manager's back is re-read, not served from the cache
    sidecar = run_dir / "alpha.e00000000.yaml"
    replacement: dict[str, Any] = yaml.safe_load(sidecar.read_text())
    replacement["score"] = 9.0
    tmp = run_dir / "edit.tmp"
    tmp.write_text(yaml.safe_dump(replacement))
    os.replace(tmp, sidecar)
    assert manager.find_best_checkpoint().epoch == 0
    # and so is one edited in place, even to the same size
    edited = sidecar.read_text().replace("score: 9.0", "score: 0.5")
    sidecar.write_text(edited)
    assert manager.find_best_checkpoint().epoch == 1
    assert manager.find_best_checkpoint().metadata["score"] == 2.0


@pytest.mark.parametrize("enabled_before", [True, False])
def test_a_listing_leaves_the_garbage_collector_as_it_found_it(
    manager, run_dir, make_state, monkeypatch, enabled_before: bool
) -> None:
    """Listings pause the cyclic GC while they build their objects, and only then."""
    import gc

    import checkpoint._catalog as catalog
    import checkpoint._indexfile as indexfile

    manager.save_agent(make_state(1.0), 0, {"score": 1.0})
    seen: list[bool] = []
    real_parse = catalog.parse_sidecar
    monkeypatch.setattr(
        catalog,
        "parse_sidecar",
        lambda raw, path: seen.append(gc.isenabled()) or real_parse(raw, path),
    )
    (run_dir / ".ckpt-index.json").unlink(missing_ok=True)
    indexfile.memos.clear()
    (gc.enable if enabled_before else gc.disable)()
    try:
        assert manager.list()[0].epoch == 0
        assert seen == [False]
        assert gc.isenabled() is enabled_before
        monkeypatch.setattr(catalog, "parse_sidecar", lambda raw, path: 1 / 0)
        (run_dir / ".ckpt-index.json").unlink(missing_ok=True)
        indexfile.memos.clear()
        with pytest.raises(ZeroDivisionError):
            manager.list()
        assert gc.isenabled() is enabled_before
    finally:
        gc.enable()


def test_before_torch_2_6_loads_verify_the_sha256_first(manager, make_state, monkeypatch) -> None:
    import checkpoint._manager as manager_module

    info = manager.save_agent(make_state(1.0, 1000), 0)
    data = bytearray(info.path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: the cheap check alone would let it through
    info.path.write_bytes(bytes(data))
    monkeypatch.setattr(manager_module, "WEIGHTS_ONLY_BYPASSABLE", True)
    with pytest.raises(CheckpointCorruptError, match="sha256"):
        manager.load_state_dict(0)


def test_trainer_states_never_reach_torch_load(manager, run_dir, monkeypatch) -> None:
    """A trainer state has no sha256 to check, so it never reaches torch.load, whose
    weights_only is bypassable before 2.6 and takes bytearray(n) on every release."""
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    manager.save_trainer_state(optimizer, 1, 100, extra={"note": ["a", 1]})
    expected = torch.load(run_dir / "alpha.e00000001.trainer.pt", weights_only=True)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    state = manager.load_trainer_state()
    assert {k: v for k, v in state.items() if k != "optimizer"} == {
        k: v for k, v in expected.items() if k != "optimizer"
    }
    assert state["optimizer"]["param_groups"] == expected["optimizer"]["param_groups"]
    for index, buffers in expected["optimizer"]["state"].items():
        assert torch.equal(
            state["optimizer"]["state"][index]["momentum_buffer"], buffers["momentum_buffer"]
        )
    hostile = Path(__file__).parents[1] / "fixtures" / "legacy" / "hostile" / "os_system_zip.pt"
    (run_dir / "alpha.e00000002.trainer.pt").write_bytes(hostile.read_bytes())
    monkeypatch.chdir(run_dir)
    with pytest.raises(UnsafeCheckpointError):
        manager.load_trainer_state(2)
    assert not list(run_dir.glob("PWNED_*"))


@pytest.fixture
def torch_2_5_save(monkeypatch):  # type: ignore[no-untyped-def]
    """``torch.save`` as torch 2.3-2.5 have it: a bare KeyError for uint16/32/64."""
    from checkpoint._plain import torch_can_save

    real_save = torch.save

    def old_save(obj: object, *args: object, **kwargs: object) -> None:
        if isinstance(obj, torch.Tensor) and obj.dtype in (torch.uint16, torch.uint32):
            raise KeyError(f"dtype {obj.dtype} is not recognized")
        real_save(obj, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, "save", old_save)
    torch_can_save.cache_clear()
    yield
    torch_can_save.cache_clear()


@pytest.mark.usefixtures("torch_2_5_save")
def test_a_dtype_torch_cannot_save_is_named_before_anything_is_written(manager, run_dir) -> None:
    state = {"w": torch.zeros(3), "counts": torch.zeros(3, dtype=torch.uint16)}
    with pytest.raises(InvalidStateError, match=r"'counts' is a torch.uint16 tensor.*int64"):
        manager.save_agent(state, 1)
    with pytest.raises(InvalidStateError, match=r"\['extra'\]\['ids'\] is a torch.uint32"):
        manager.save_trainer_state(None, 1, 0, extra={"ids": torch.ones(2, dtype=torch.uint32)})
    assert not list(run_dir.glob("*.pt"))
    assert manager.save_agent({"w": torch.zeros(3)}, 1).epoch == 1


def test_on_a_torch_that_cannot_save_uint16_the_error_is_clear(manager) -> None:
    """The real thing, on torch 2.3-2.5 (tests/torch_versions runs this module there)."""
    from checkpoint._plain import torch_can_save

    if torch_can_save(torch.uint16):
        pytest.skip(
            f"torch {torch.__version__} saves uint16; the test above simulates one that can't"
        )
    with pytest.raises(InvalidStateError, match=r"torch\.uint16 tensor"):
        manager.save_agent({"w": torch.zeros(2, dtype=torch.uint16)}, 1)


def test_a_temp_file_swept_before_its_lock_is_replaced(run_dir, monkeypatch) -> None:
    import checkpoint._storage as storage

    run_dir.mkdir(parents=True)
    real_flock = storage.fcntl.flock
    swept: list[str] = []

    def sweep_first(fd: int, operation: int) -> None:
        if not swept:  # another process's sweep wins the race once
            victim = next(path for path in run_dir.iterdir() if path.name.endswith(".tmp"))
            victim.unlink()
            swept.append(victim.name)
        real_flock(fd, operation)

    monkeypatch.setattr(storage.fcntl, "flock", sweep_first)
    temp = storage.TempFile(run_dir / "alpha.e00000001.pt")
    try:
        assert swept and temp.path.name != swept[0] and temp.path.exists()
    finally:
        temp.discard()
        temp.close()
