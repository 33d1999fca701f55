"""Every checkpoint format Metta wrote after PolicyStore: inspected, loaded, converted and
migrated bit for bit, against the truth written when the fixtures were generated."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from format_truth import (
    FORMATS,
    LAYOUT_OF_FORMAT,
    SAFETENSORS_FORMATS,
    checkpoint_truths,
    expected_order,
    tensor_info,
    trainer_file_tensors,
    trainer_truths,
    truth_tensors,
)

import compat
from checkpoint import read_sidecar, scan, verify_checkpoint
from checkpoint.errors import UnsafeCheckpointError
from compat.cli import main
from digest import as_resolved, state_dict_digest

CHECKPOINTS = checkpoint_truths()
TRAINERS = trainer_truths()
HOSTILE = FORMATS.parents[0] / "legacy" / "hostile" / "os_system_zip.pt"


def _digest_in(order: list[str], state: dict[str, torch.Tensor]) -> str:
    return state_dict_digest({key: state[key] for key in order})


def _assert_bit_exact(state: dict[str, torch.Tensor], truth: dict[str, Any]) -> None:
    order, digest = expected_order(truth)
    assert list(state) == order
    assert {key: tensor_info(tensor) for key, tensor in state.items()} == truth["state_dict"][
        "tensors"
    ]
    assert state_dict_digest(state) == digest


def _as_json(value: object) -> object:
    """``value`` as the truth files hold it (tuples are JSON lists)."""
    return json.loads(json.dumps(value))


def _v1_name(truth: dict[str, Any], suffix: str = ".pt", epoch: int | None = None) -> str:
    return f"{truth['run_name']}.e{truth['epoch'] if epoch is None else epoch:08d}{suffix}"


def test_the_fixtures_cover_every_format() -> None:
    assert {truth["format"] for truth in CHECKPOINTS.values()} == set(LAYOUT_OF_FORMAT)
    assert len(TRAINERS) == 4


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_load_recovers_every_tensor_bit_for_bit(name: str) -> None:
    truth = CHECKPOINTS[name]
    result = compat.load(FORMATS / name, check_crc=True)
    _assert_bit_exact(dict(result.state_dict), truth)
    assert result.layout == LAYOUT_OF_FORMAT[truth["format"]]
    assert set(truth.get("legacy_classes", ())) <= set(result.legacy_classes)
    outside = truth.get("tensors_outside_state_dict", {})
    kept = (result.trainer_state or {}).get("not_in_state_dict", {})
    assert {key: tensor_info(kept[key]) for key in outside} == outside


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_inspect_reads_the_format_without_running_it(name: str) -> None:
    truth = CHECKPOINTS[name]
    report = compat.inspect(FORMATS / name)
    assert report.layout == LAYOUT_OF_FORMAT[truth["format"]]
    if truth["format"] in ("metta_mpt_safetensors", "metta_bundle_dir"):
        assert str(report.verdict) == "no pickle: tensors only"
        assert report.globals == ()
    if "pickle_globals" in truth:  # the whole-agent pickles, on their own or in a .mpt
        assert {info.name for info in report.globals} == as_resolved(truth["pickle_globals"])
        assert str(report.verdict) == "needs the inert engine"


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_convert_writes_a_verified_v1_checkpoint(name: str, tmp_path: Path) -> None:
    truth = CHECKPOINTS[name]
    source = FORMATS / name
    info = compat.convert(source, tmp_path)
    assert (info.run_name, info.epoch) == (truth["run_name"], truth["epoch"])
    assert info.path == tmp_path / _v1_name(truth)
    weights = torch.load(info.path, weights_only=True, mmap=True)
    _assert_bit_exact(weights, truth)
    sidecar = read_sidecar(info.path.with_suffix(".yaml"))
    names = truth["name_fields"]
    if truth["format"] == "metta_epoch_names_pt":  # the figures are in the name only
        assert (sidecar.agent_step, sidecar.total_time) == (
            names["agent_step"],
            float(names["total_time"]),
        )
        assert sidecar.score == names["score"]  # sc8765 is 0.8765, not 8765
    elif truth["format"] == "metta_bundle_zip":  # the zip's trainer_state.pt has agent_step
        assert sidecar.agent_step == truth["trainer_state"]["agent_step"] == truth["agent_step"]
        assert sidecar.score is None
    else:  # Metta kept no agent_step, total_time or score in these files
        assert (sidecar.agent_step, sidecar.total_time, sidecar.score) == (0, 0.0, None)
    if truth["format"] == "metta_mpt_safetensors":
        assert sidecar.legacy_metadata == {"architecture": truth["architecture_text"]}
    elif truth["format"] in ("metta_bundle_dir", "metta_bundle_zip"):
        assert sidecar.legacy_metadata == {"policy_spec": json.loads(truth["policy_spec_json"])}
        assert sidecar.legacy_metadata["policy_spec"] == truth["policy_spec"]
    assert sidecar.converted_from is not None
    assert sidecar.converted_from.format.split("/")[0] == (
        LAYOUT_OF_FORMAT[truth["format"]] or "agent"
    )


def test_a_bundle_zip_pairs_its_trainer_state_with_its_epoch(tmp_path: Path) -> None:
    name = "jan2026_bundle/remote/fixture_jan_bundle/fixture_jan_bundle:v10.zip"
    truth = CHECKPOINTS[name]
    compat.convert(FORMATS / name, tmp_path)
    state = torch.load(
        tmp_path / _v1_name(truth, ".trainer.pt"), weights_only=True, map_location="cpu"
    )
    member = truth["trainer_state"]
    assert (state["epoch"], state["agent_step"]) == (member["epoch"], member["agent_step"])
    assert trainer_file_tensors(state) == truth_tensors(member)
    assert _as_json(state["optimizer"]["param_groups"]) == member["optimizer_param_groups"]


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_trainer_states_of_every_era_convert_whole(name: str, tmp_path: Path) -> None:
    truth = TRAINERS[name]
    run = Path(name).parent.parent.name
    info = compat.convert(FORMATS / name, tmp_path)
    assert info.path == tmp_path / f"{run}.e{truth['epoch']:08d}.trainer.pt"
    state = torch.load(info.path, weights_only=True, map_location="cpu")
    assert (state["epoch"], state["agent_step"]) == (truth["epoch"], truth["agent_step"])
    assert trainer_file_tensors(state) == truth_tensors(truth)
    assert _as_json(state["optimizer"]["param_groups"]) == truth["optimizer_param_groups"]
    for key in truth["top_level_keys"]:
        assert key == "optimizer" or key in state["extra"]


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _expected_outputs() -> set[str]:
    """Every v1 file the migration of the fixture tree must write, from the truths alone."""
    expected = set()
    for name, truth in CHECKPOINTS.items():
        directory = Path(name).parent
        expected |= {str(directory / _v1_name(truth)), str(directory / _v1_name(truth, ".yaml"))}
        if truth.get("tensors_outside_state_dict") or truth["format"] == "metta_bundle_zip":
            expected.add(str(directory / _v1_name(truth, ".trainer.pt")))
    for name, truth in TRAINERS.items():
        run = Path(name).parent.parent.name
        expected.add(str(Path(name).parent / f"{run}.e{truth['epoch']:08d}.trainer.pt"))
    return expected


def test_migrate_converts_the_whole_tree_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _hashes(FORMATS)
    out = tmp_path / "v1"
    assert main(["migrate", str(FORMATS), "--out", str(out), "--json"]) == 0
    results = {r["source"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    converted = {
        str(Path(source).relative_to(FORMATS))
        for source, r in results.items()
        if r["status"] == "converted"
    }
    assert converted == set(CHECKPOINTS) | set(TRAINERS)
    # a bundle directory is one checkpoint: nothing inside it is reported on its own
    bundles = [FORMATS / name for name, t in CHECKPOINTS.items() if t["format"].endswith("dir")]
    assert bundles and not [s for s in results for b in bundles if Path(s).parent == b]
    written = {
        str(path.relative_to(out))
        for path in out.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }
    assert written == _expected_outputs()
    for name, truth in CHECKPOINTS.items():
        sidecar = out / Path(name).parent / _v1_name(truth, ".yaml")
        info = verify_checkpoint(sidecar)
        order, _ = expected_order(truth)
        weights = torch.load(info.path, weights_only=True)
        assert _digest_in(order, weights) == expected_order(truth)[1]
        assert read_sidecar(sidecar).converted_from.path == str((FORMATS / name).resolve())  # type: ignore[union-attr]
    for name, truth in TRAINERS.items():  # each run's trainer state, paired with its epoch
        run = Path(name).parent.parent.name
        trainer = out / Path(name).parent / f"{run}.e{truth['epoch']:08d}.trainer.pt"
        state = torch.load(trainer, weights_only=True, map_location="cpu")
        tensors = trainer_file_tensors(state)
        assert {path: tensors[path] for path in truth_tensors(truth)} == truth_tensors(truth)
    assert _hashes(FORMATS) == before  # the sources are only read
    assert main(["migrate", str(FORMATS), "--out", str(out), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["results"]
    assert {r["status"] for r in again if r["status"] != "skipped"} == {"already done"}


def test_sep2025_names_list_with_the_score_metta_meant(tmp_path: Path) -> None:
    """``sc8765`` is ``int(0.8765 * 10000)``: the listing reads it back as 0.8765."""
    run = tmp_path / "fixture_sep_e" / "checkpoints"
    shutil.copytree(FORMATS / "sep2025_epoch_names" / "fixture_sep_e" / "checkpoints", run)
    listed = {info.path.name: info for info in scan(run, "fixture_sep_e")}
    for name, truth in CHECKPOINTS.items():
        if truth["format"] == "metta_epoch_names_pt":
            info = listed[Path(name).name]
            fields = truth["name_fields"]
            assert info.metadata["score"] == fields["score"] == fields["score_int"] / 10000
            assert (info.epoch, info.metadata["agent_step"]) == (
                fields["epoch"],
                fields["agent_step"],
            )


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def test_a_hostile_policy_in_an_mpt_is_refused(tmp_path: Path) -> None:
    hostile = _zip(tmp_path / "evil:v1.mpt", {"policy.pt": HOSTILE.read_bytes()})
    assert str(compat.inspect(hostile).verdict) == "refused"
    with pytest.raises(UnsafeCheckpointError, match=r"member 'policy\.pt'"):
        compat.load(hostile)


def test_a_hostile_trainer_state_in_a_bundle_zip_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = (
        FORMATS / "jan2026_bundle" / "fixture_jan_bundle" / "checkpoints" / "fixture_jan_bundle:v5"
    )
    tree = tmp_path / "remote"
    tree.mkdir()
    members = {
        name: (bundle / name).read_bytes() for name in ("policy_spec.json", "weights.safetensors")
    }
    _zip(tree / "evil:v5.zip", {**members, "trainer_state.pt": HOSTILE.read_bytes()})
    with pytest.raises(UnsafeCheckpointError, match=r"member 'trainer_state\.pt'"):
        compat.load(tree / "evil:v5.zip")
    assert main(["migrate", str(tree), "--out", str(tmp_path / "out"), "--json"]) == 3
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert result["status"] == "refused"
    assert not list((tmp_path / "out").rglob("*.pt"))


def test_safetensors_formats_keep_no_pickle_at_all() -> None:
    for name, truth in CHECKPOINTS.items():
        if truth["format"] in SAFETENSORS_FORMATS:
            assert compat.load(FORMATS / name).legacy_classes == ()
