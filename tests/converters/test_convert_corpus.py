"""``compat.convert`` on every committed legacy file and every shared Metta file.

Each output must load with plain ``torch.load(weights_only=True)`` and equal the ground
truth the old torch wrote, bit for bit; hostile files are refused and nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from convert_helpers import HOSTILE, LEGACY, METTA, metta_manifest, requires_metta

import compat
from checkpoint import read_sidecar
from checkpoint.errors import ConversionTargetError, UnconvertibleCheckpointError
from compat.cli import main
from compat.upgrade._bitwise import differences
from digest import flatten_optimizer_state, state_dict_digest
from zipedit import flip_record_byte

LEGACY_FILES = sorted(p for p in LEGACY.glob("torch-*/*.pt") if not p.name.endswith(".truth.pt"))
TRAINER_KINDS = {"optimizer", "trainer_state", "trainer_state_object"}


@pytest.mark.parametrize("source", LEGACY_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_legacy_corpus_converts_to_its_truth(source: Path, tmp_path: Path) -> None:
    truth = torch.load(source.with_suffix(".truth.pt"), weights_only=True)
    expected = json.loads(source.with_suffix(".truth.json").read_text())
    info = compat.convert(source, tmp_path / "run.e00000009.pt")
    assert (info.run_name, info.epoch) == ("run", 9)
    if truth["kind"] in TRAINER_KINDS:
        assert info.path == tmp_path / "run.e00000009.trainer.pt"
        written = torch.load(info.path, weights_only=True)
        assert written["epoch"] == 9
        assert differences(truth["optimizer_state_dict"], written["optimizer"]) == []
        state = flatten_optimizer_state(written["optimizer"])
        assert [o["sha256"] for o in written["extra"]["converted_from"]] == [_sha256(source)]
    else:
        state = torch.load(info.path, weights_only=True, mmap=True)
        sidecar = read_sidecar(info.path.with_suffix(".yaml"))
        assert sidecar.converted_from is not None
        assert sidecar.converted_from.sha256 == _sha256(source)
        assert sidecar.converted_from.path == str(source.resolve())
        assert set(expected.get("legacy_classes", [])) <= set(sidecar.converted_from.legacy_classes)
        assert sidecar.converted_from.migrations  # the chain ran
    assert list(state) == list(truth["state_dict"])
    assert differences(truth["state_dict"], state) == []
    assert state_dict_digest(state) == expected["state_dict"]["sha256"]


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_a_policy_record_keeps_its_metadata_and_figures(fmt: str, tmp_path: Path) -> None:
    source = LEGACY / "torch-1.13.1" / f"record_{fmt}.pt"
    truth = torch.load(source.with_suffix(".truth.pt"), weights_only=True)
    info = compat.convert(source, tmp_path)
    sidecar = yaml.safe_load(info.path.with_suffix(".yaml").read_text())
    metadata = truth["metadata"]
    assert info.path.name == f"record_{fmt}.e{metadata['epoch']:08d}.pt"
    assert sidecar["epoch"] == metadata["epoch"]
    assert sidecar["agent_step"] == metadata["agent_step"]
    assert sidecar["total_time"] == metadata["train_time"]
    assert sidecar["score"] == metadata["score"]
    assert sidecar["legacy_metadata"] == metadata
    assert sidecar["converted_from"]["format"] == f"policy_record/torch-{fmt}"
    assert (
        "legacyproj.agent.policy_metadata.PolicyMetadata"
        in (sidecar["converted_from"]["legacy_classes"])
    )


def test_a_raw_dict_gives_its_extras_and_epoch(tmp_path: Path) -> None:
    source = LEGACY / "torch-2.0.1" / "raw_dict_zip.pt"
    truth = torch.load(source.with_suffix(".truth.pt"), weights_only=True)
    info = compat.convert(source, tmp_path)
    sidecar = read_sidecar(info.path.with_suffix(".yaml"))
    assert sidecar.epoch == truth["object"]["epoch"] == 7
    extras = truth["object"]["extras"]  # small tensors in metadata are kept as lists
    expected = {**truth["object"], "extras": {**extras, "counts": extras["counts"].tolist()}}
    assert sidecar.legacy_metadata == expected


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


METTA_FILES = sorted(metta_manifest())


@requires_metta
@pytest.mark.parametrize("name", METTA_FILES)
def test_metta_files_convert_to_their_manifest_digest(name: str, tmp_path: Path) -> None:
    entry = metta_manifest()[name]
    source = METTA / name
    recovered = compat.load(source)
    info = compat.convert(source, tmp_path)
    if "expected_state_dict_sha256" not in entry:  # trainer states: no weights
        written = torch.load(info.path, weights_only=True)
        assert info.path.name.endswith(".trainer.pt")
        assert recovered.trainer_state is not None
        assert written["optimizer"]["param_groups"]
        optimizer = next(v for k, v in recovered.trainer_state.items() if "optimizer" in k)
        assert differences(optimizer["state"], written["optimizer"]["state"]) == []
        return
    state = torch.load(info.path, weights_only=True)
    assert len(state) == entry["expected_n_tensors"]
    assert sum(t.numel() for t in state.values()) == entry["expected_numel"]
    assert state_dict_digest(state) == entry["expected_state_dict_sha256"]
    assert differences(recovered.state_dict, state) == []
    sidecar = read_sidecar(info.path.with_suffix(".yaml"))
    if "expected_epoch" in entry:
        assert sidecar.epoch == entry["expected_epoch"]
        assert sidecar.agent_step == entry["expected_agent_step"]
        assert sorted(sidecar.legacy_metadata) == sorted(entry["expected_metadata_keys"])


HOSTILE_FILES = sorted(p for p in HOSTILE.iterdir() if p.suffix in (".pt", ".pkl"))


@pytest.mark.parametrize("source", HOSTILE_FILES, ids=lambda p: p.name)
def test_hostile_files_are_refused_with_exit_3_and_nothing_written(
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "PWNED_shutil_rmtree_target").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    assert main(["convert", str(source), str(out / "run.e00000001.pt")]) == 3
    assert "refused" in capsys.readouterr().err
    assert list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["PWNED_shutil_rmtree_target", "out"]


def test_a_source_with_a_flipped_tensor_byte_is_not_converted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``compat.load`` leaves tensor CRCs unchecked, like torch.load; convert checks them,
    so a damaged file never comes out as a v1 checkpoint with a fresh, valid sha256."""
    source = tmp_path / "damaged.pt"
    torch.save({"w": torch.arange(1000.0)}, source)
    flip_record_byte(source, "data/0", 100)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["convert", str(source), str(out / "run.e00000001.pt")]) == 1
    assert "'data/0' fails its CRC check" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_metadata_too_large_for_a_sidecar_fails_with_nothing_written(tmp_path: Path) -> None:
    """A list shared 2**20 times through the pickle's memo is a few hundred bytes; written
    out in a sidecar (which has no aliases) it would be a million values. The conversion
    fails naming the file and the limit, before the trainer file or anything is written."""
    shared: list[object] = ["leaf"]
    for _ in range(20):
        shared = [shared, shared]
    source = tmp_path / "shared.pt"
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    torch.save(
        {
            "model_state_dict": {"w": torch.ones(2)},
            "optimizer": optimizer.state_dict(),
            "history": shared,
        },
        source,
    )
    out = tmp_path / "out"
    with pytest.raises(
        UnconvertibleCheckpointError, match="more than 100000 plain values"
    ) as caught:
        compat.convert(source, f"{out}/")
    assert str(source) in str(caught.value)
    assert not out.exists() or list(out.iterdir()) == []


def test_metadata_too_deep_for_a_sidecar_fails_with_nothing_written(tmp_path: Path) -> None:
    """A sidecar nests at most 48 levels: 50 nested dicts of metadata fail the conversion,
    naming the file and the depth, before the trainer file or anything is written."""
    deep: dict[str, object] = {"leaf": 1}
    for _ in range(50):
        deep = {"a": deep}
    source = tmp_path / "deep.pt"
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    torch.save(
        {"model_state_dict": {"w": torch.ones(2)}, "optimizer": optimizer.state_dict(), "x": deep},
        source,
    )
    out = tmp_path / "out"
    with pytest.raises(UnconvertibleCheckpointError, match="more than 48 levels deep") as caught:
        compat.convert(source, f"{out}/")
    assert str(source) in str(caught.value)
    assert not out.exists() or list(out.iterdir()) == []


TRAINER_SOURCES = [LEGACY / "torch-2.0.1" / f"trainer_state_{fmt}.pt" for fmt in ("zip", "legacy")]


def test_a_trainer_state_is_not_converted_over_another_files(tmp_path: Path) -> None:
    first = TRAINER_SOURCES[0]
    target = tmp_path / "run.e00000009.pt"
    written = compat.convert(first, target).path
    before = written.read_bytes()
    assert compat.convert(first, target).path == written  # the same source again: a no-op
    other = torch.load(first.with_suffix(".truth.pt"), weights_only=True)["object"]
    other["optimizer"] = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.5).state_dict()
    second = tmp_path / "other_trainer_state.pt"
    torch.save(other, second)
    with pytest.raises(ConversionTargetError, match="trainer state of another file"):
        compat.convert(second, target)
    assert written.read_bytes() == before


def test_the_same_state_in_two_containers_merges_into_one_trainer_file(tmp_path: Path) -> None:
    """The zip and legacy copies hold the same state: no conflict, both sources recorded."""
    target = tmp_path / "run.e00000009.pt"
    for source in TRAINER_SOURCES:
        written = compat.convert(source, target).path
    state = torch.load(written, weights_only=True)
    recorded = [origin["sha256"] for origin in state["extra"]["converted_from"]]
    assert sorted(recorded) == sorted(_sha256(source) for source in TRAINER_SOURCES)


def test_the_trainer_file_at_the_target_is_read_by_the_safe_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It is whatever sits in the output directory: never handed to torch.load."""
    from compat.upgrade._v1write import trainer_provenance

    written = compat.convert(TRAINER_SOURCES[0], tmp_path / "run.e00000009.pt").path

    def forbidden(*args: object, **kwargs: object) -> None:
        pytest.fail("torch.load read the trainer file already at the target")

    monkeypatch.setattr(torch, "load", forbidden)
    assert [o["sha256"] for o in trainer_provenance(written)] == [_sha256(TRAINER_SOURCES[0])]
    monkeypatch.chdir(tmp_path)
    written.write_bytes((HOSTILE / "os_system_zip.pt").read_bytes())
    assert trainer_provenance(written) == []
    assert not list(tmp_path.glob("PWNED_*"))


def test_a_conversion_stopped_after_its_trainer_part_writes_the_weights_when_rerun(
    tmp_path: Path,
) -> None:
    """The trainer file is committed before the weights: a run killed between the two left
    the trainer file naming the source, and a re-run took that for done and never wrote the
    weights."""
    source = Path(__file__).parents[2] / "examples" / "legacy_run" / "model_0003.pt"
    first = compat.convert(source, f"{tmp_path}/out/")
    trainer = first.path.with_name(first.path.name.replace(".pt", ".trainer.pt"))
    assert trainer.exists(), "this record has a trainer part"
    expected = torch.load(first.path, weights_only=True)
    first.path.with_suffix(".yaml").unlink()  # as if killed before the weights' commit
    first.path.unlink()
    again = compat.convert(source, f"{tmp_path}/out/")
    assert again.path == first.path and again.path.with_suffix(".yaml").exists()
    assert not differences(expected, torch.load(again.path, weights_only=True))
    assert main(["convert", str(source), f"{tmp_path}/out/", "--json"]) == 0


def test_a_trainer_state_converted_again_is_already_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = str(tmp_path / "run.e00000009.pt")
    reports = []
    for _ in range(2):
        assert main(["convert", str(TRAINER_SOURCES[0]), target, "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert [report["already_done"] for report in reports] == [False, True]
    assert reports[0]["trainer_state"] == reports[1]["trainer_state"]
    assert reports[1]["weights"] is None
