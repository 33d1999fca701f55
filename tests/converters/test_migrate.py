"""``ckpt migrate`` on metta-style run trees: complete, verified, safe to kill and re-run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
import torch
from convert_helpers import (
    HOSTILE,
    LEGACY,
    METTA,
    metta_manifest,
    popen_ckpt,
    requires_metta,
    run_ckpt,
)

from checkpoint import CheckpointManager, read_sidecar
from compat.cli import main
from digest import state_dict_digest

HOSTILE_FILE = HOSTILE / "os_system_zip.pt"
RECORDS = {  # metta fixture -> its PolicyStore-era name in a run's checkpoints/
    "arena_run3_model_0000.pt": "model_0000.pt",
    "arena_run3_model_0010.pt": "model_0010.pt",
    "exp119_model_0001.pt": "model_0001.pt",
}


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _metta_run(checkpoints: Path) -> None:
    """A run as Metta's PolicyStore left it, plus one hostile file and one v1 checkpoint."""
    checkpoints.mkdir(parents=True)
    for fixture, name in RECORDS.items():
        shutil.copyfile(METTA / fixture, checkpoints / name)
    shutil.copyfile(METTA / "cogames_trainer_state_heavyball.pt", checkpoints / "trainer_state.pt")
    shutil.copyfile(HOSTILE_FILE, checkpoints / "model_0004.pt")
    CheckpointManager(checkpoints, "already").save_agent({"w": torch.zeros(2)}, 3)


@pytest.fixture(scope="module")
def metta_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("metta") / "train_dir"
    _metta_run(root / "arena-run" / "checkpoints")
    return root


@pytest.fixture(scope="module")
def migrated(metta_tree: Path) -> tuple[Path, dict[str, object], dict[str, str]]:
    """The tree migrated once with ``--jobs 2``: (out, the JSON report, source hashes before)."""
    before = _hashes(metta_tree)
    out = metta_tree.parent / "v1"
    result = run_ckpt("migrate", metta_tree, "--out", out, "--jobs", "2", "--json")
    assert result.returncode == 3, result.stderr  # the hostile file was refused
    return out, json.loads(result.stdout), before


def _by_name(report: dict[str, object]) -> dict[str, dict[str, object]]:
    return {Path(r["source"]).name: r for r in report["results"]}  # type: ignore[attr-defined, index]


@requires_metta
def test_migrate_converts_everything_else_and_verifies_it(
    migrated: tuple[Path, dict[str, object], dict[str, str]],
) -> None:
    out, report, _ = migrated
    results = _by_name(report)
    assert results["model_0004.pt"]["status"] == "refused"
    assert "os.system" in str(results["model_0004.pt"]["detail"])
    assert results["already.e00000003.pt"]["status"] == "skipped"
    converted = {name for name, r in results.items() if r["status"] == "converted"}
    assert converted == {*RECORDS.values(), "trainer_state.pt"}
    checkpoints = out / "arena-run" / "checkpoints"
    manifest = metta_manifest()
    for fixture in RECORDS:
        entry = manifest[fixture]
        weights = checkpoints / f"arena-run.e{entry['expected_epoch']:08d}.pt"
        assert (
            state_dict_digest(torch.load(weights, weights_only=True))
            == (entry["expected_state_dict_sha256"])
        )
        origin = read_sidecar(weights.with_suffix(".yaml")).converted_from
        assert origin is not None
        assert origin.sha256 == manifest[fixture]["sha256"]
    # every record's tensors outside its state_dict have a trainer file; the run's
    # trainer_state.pt is merged into the newest named epoch's
    trainers = sorted(p.name for p in checkpoints.glob("*.trainer.pt"))
    assert trainers == [f"arena-run.e{epoch:08d}.trainer.pt" for epoch in (0, 1, 10)]
    newest = torch.load(checkpoints / trainers[-1], weights_only=True)
    assert newest["optimizer"]["param_groups"]
    assert "_cached_policy.action_index_tensor" in newest["extra"]["not_in_state_dict"]
    sources = {Path(origin["path"]).name for origin in newest["extra"]["converted_from"]}
    assert sources == {"model_0010.pt", "trainer_state.pt"}
    assert run_ckpt("verify", out).returncode == 0


@requires_metta
def test_migrate_never_touches_the_sources(
    metta_tree: Path, migrated: tuple[Path, dict[str, object], dict[str, str]]
) -> None:
    _, _, before = migrated
    assert _hashes(metta_tree) == before


@requires_metta
def test_a_rerun_reports_everything_already_done(
    metta_tree: Path, migrated: tuple[Path, dict[str, object], dict[str, str]]
) -> None:
    out, first, _ = migrated
    outputs = _hashes(out)
    result = run_ckpt("migrate", metta_tree, "--out", out, "--json")
    assert result.returncode == 3, result.stderr
    again = _by_name(json.loads(result.stdout))
    for name, earlier in _by_name(first).items():
        expected = "already done" if earlier["status"] == "converted" else earlier["status"]
        assert again[name]["status"] == expected, name
        if expected == "already done":
            assert again[name]["outputs"] == earlier["outputs"]
    assert _hashes(out) == outputs


@requires_metta
def test_jobs_2_gives_the_same_outputs_as_jobs_1(
    metta_tree: Path,
    migrated: tuple[Path, dict[str, object], dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, _, _ = migrated
    monkeypatch.chdir(tmp_path)
    assert main(["migrate", str(metta_tree), "--out", str(tmp_path / "v1"), "--jobs", "1"]) == 3
    assert _comparable(tmp_path / "v1") == _comparable(out)


def _comparable(out: Path) -> dict[str, object]:
    """Every output's bytes, sidecars without their creation time."""
    found: dict[str, object] = {}
    for path in sorted(out.rglob("*")):
        if path.suffix == ".yaml":
            found[path.name] = read_sidecar(path).model_dump(exclude={"created_at"})
        elif path.name.endswith(".pt"):
            found[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "run"
    tree.mkdir()
    shutil.copyfile(LEGACY / "torch-2.0.1" / "record_zip.pt", tree / "model_0003.pt")
    assert main(["migrate", str(tree), "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in report["results"]] == ["to convert"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert sorted(p.name for p in tree.iterdir()) == ["model_0003.pt"]


def test_a_dry_run_says_what_the_real_run_would_do_with_the_same_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hostile file would be refused and the text file named .pt would fail: the dry
    run says so from the static scan, and exits as the real run does."""
    tree = tmp_path / "run"
    tree.mkdir()
    shutil.copyfile(LEGACY / "torch-2.0.1" / "record_zip.pt", tree / "model_0003.pt")
    shutil.copyfile(HOSTILE_FILE, tree / "model_0004.pt")
    for broken in ([], ["model_0007.pt"]):
        for name in broken:
            (tree / name).write_text("not a checkpoint, just text\n")
        out = tmp_path / f"out{len(broken)}"
        dry = main(["migrate", str(tree), "--out", str(out), "--dry-run", "--json"])
        preview = _by_name(json.loads(capsys.readouterr().out))
        assert not out.exists()
        real = main(["migrate", str(tree), "--out", str(out), "--json"])
        done = _by_name(json.loads(capsys.readouterr().out))
        assert (dry, real) == ((1, 1) if broken else (3, 3))
        assert preview["model_0003.pt"]["status"] == "to convert"
        assert done["model_0003.pt"]["status"] == "converted"
        assert preview["model_0004.pt"]["status"] == done["model_0004.pt"]["status"] == "refused"
        assert "would be refused (unsafe: os.system" in preview["model_0004.pt"]["detail"]
        if broken:
            assert preview["model_0007.pt"]["status"] == done["model_0007.pt"]["status"]
            assert preview["model_0007.pt"]["detail"].startswith("unreadable (")
    again = main(["migrate", str(tree), "--out", str(tmp_path / "out1"), "--dry-run", "--json"])
    assert again == 1
    assert _by_name(json.loads(capsys.readouterr().out))["model_0003.pt"]["status"] == (
        "already done"
    )


@pytest.mark.parametrize("where", ["same", "inside", "file"])
def test_an_output_that_overlaps_the_source_or_is_a_file_is_a_usage_error(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "run"
    tree.mkdir()
    shutil.copyfile(LEGACY / "torch-2.0.1" / "record_zip.pt", tree / "model_0003.pt")
    out = {"same": tree, "inside": tree / "v1", "file": tmp_path / "notes.txt"}[where]
    if where == "file":
        out.write_text("keep me\n")
    before = _hashes(tmp_path)
    assert main(["migrate", str(tree), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert str(out) in error and "--out" in error
    assert _hashes(tmp_path) == before


def test_url_usage_errors_are_found_before_any_request_and_make_no_local_s3_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migrations to and from URLs run against moto in tests/remote; what is wrong with the
    command line is said without contacting any server."""
    monkeypatch.chdir(tmp_path)
    tree = tmp_path / "run"
    tree.mkdir()
    shutil.copyfile(LEGACY / "torch-2.0.1" / "record_zip.pt", tree / "model_0003.pt")
    for argv, reason in (
        (["migrate", str(tree), "--out", "s3://bucket/v1", "--jobs", "2"], "one file at a time"),
        (["migrate", "s3://b/run", "--out", "s3://b/run/v1"], "lies inside it"),
        (["migrate", "s3://b/run", "--out", "s3://b/run/"], "is the source tree"),
    ):
        assert main(argv) == 2
        assert reason in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]


def test_jobs_that_is_not_a_number_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["migrate", ".", "--jobs", "abc"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "'abc' is not a number of worker processes" in error and "_jobs" not in error


def test_the_default_output_is_a_sibling_tree_and_legacy_names_give_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "runs"
    tree.mkdir()
    state_dict = LEGACY / "torch-2.0.1" / "state_dict_zip.pt"
    shutil.copyfile(state_dict, tree / "alpha__e5__s1000__t12__sc9000.pt")
    shutil.copyfile(state_dict, tree / "beta:v7.pt")
    shutil.copyfile(state_dict, tree / "final_model.pt")
    assert main(["migrate", str(tree)]) == 0
    assert "3 converted" in capsys.readouterr().out
    out = tmp_path / "runs-v1"
    alpha = read_sidecar(out / "alpha.e00000005.yaml")
    # sc9000 is int(score * 10000): a score of 0.9
    assert (alpha.agent_step, alpha.total_time, alpha.score) == (1000, 12.0, 0.9)
    assert (out / "beta.e00000007.pt").exists()
    assert (out / "final_model.e00000000.pt").exists()


def test_a_broken_file_fails_alone_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "run"
    tree.mkdir()
    shutil.copyfile(LEGACY / "torch-2.0.1" / "record_zip.pt", tree / "model_0003.pt")
    (tree / "model_0004.pt").write_bytes(b"PK\x03\x04 not really a zip")
    (tree / "model_0005.pt").write_bytes(b"")
    assert main(["migrate", str(tree), "--json"]) == 1
    results = _by_name(json.loads(capsys.readouterr().out))
    assert results["model_0003.pt"]["status"] == "converted"
    assert results["model_0004.pt"]["status"] == "failed"
    assert results["model_0005.pt"]["status"] == "failed"


@requires_metta
def test_a_killed_migration_finishes_on_rerun(tmp_path: Path) -> None:
    root = tmp_path / "train_dir"
    for run in ("a", "b", "c", "d"):
        _metta_run(root / run / "checkpoints")
    before = _hashes(root)
    out = tmp_path / "v1"
    process = popen_ckpt("migrate", root, "--out", out)
    deadline = time.monotonic() + 120
    while not any(out.rglob("*.yaml")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    done_before_rerun = len(list(out.rglob("*.yaml")))
    assert 1 <= done_before_rerun < 4 * len(RECORDS)
    result = run_ckpt("migrate", root, "--out", out, "--json")
    assert result.returncode == 3, result.stderr
    statuses = [r["status"] for r in json.loads(result.stdout)["results"]]
    assert statuses.count("refused") == 4
    assert statuses.count("skipped") == 4
    assert statuses.count("already done") >= done_before_rerun
    assert statuses.count("already done") + statuses.count("converted") == 4 * len(RECORDS) + 4
    assert len(list(out.rglob("*.yaml"))) == 4 * len(RECORDS)
    assert not [p for p in out.rglob("*") if p.name.startswith(".") and "tmp" in p.name]
    assert run_ckpt("verify", out).returncode == 0
    assert _hashes(root) == before
