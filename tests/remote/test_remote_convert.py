"""`compat.convert`, `ckpt convert` and `ckpt migrate` with s3:// on either side (moto server).

Each remote result is checked against the same conversion done locally: the same statuses,
the same output names, and outputs that load to the same tensors bit for bit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import s3fs
import torch

import compat
from checkpoint import CheckpointManager, read_sidecar
from checkpoint._sidecar import parse_sidecar
from checkpoint._store import FsspecStore
from checkpoint.errors import CheckpointExistsError, StorageError
from compat import convert
from compat.cli import main
from compat.engine._inventory import tensors_in
from compat.upgrade._bitwise import same_tensor

EXAMPLE = Path(__file__).parents[2] / "examples" / "legacy_run"
RECORD = Path(__file__).parents[1] / "fixtures" / "legacy" / "torch-2.0.1" / "record_zip.pt"


def _same_file_content(remote_url: str, local: Path, scratch: Path) -> None:
    """The object at ``remote_url`` loads to exactly the tensors of ``local``."""
    copy = scratch / local.name
    s3fs.S3FileSystem().get_file(remote_url, str(copy))
    ours = dict(tensors_in(torch.load(copy, weights_only=True)))
    theirs = dict(tensors_in(torch.load(local, weights_only=True)))
    assert ours.keys() == theirs.keys() and ours
    for key, tensor in theirs.items():
        mine = ours[key]
        assert isinstance(mine, torch.Tensor) and isinstance(tensor, torch.Tensor), key
        assert same_tensor(mine, tensor), key
    copy.unlink()


# -- convert --------------------------------------------------------------------------------


def test_convert_local_to_a_remote_run_then_again(bucket: str, tmp_path: Path) -> None:
    url = f"s3://{bucket}/runs/legacy_run/"
    info = convert(EXAMPLE / "model_0002.pt", url)
    assert info.url == f"{url}legacy_run.e00000002.pt"
    local = convert(EXAMPLE / "model_0002.pt", f"{tmp_path}/local/")
    _same_file_content(info.url, local.path, tmp_path)
    manager = CheckpointManager(url, "legacy_run")
    assert [i.epoch for i in manager.list()] == [2]
    loaded = manager.load_state_dict(2)
    assert all(torch.equal(loaded[k], v) for k, v in torch.load(local.path).items())
    raw = FsspecStore(url).get("legacy_run.e00000002.yaml", 1 << 20)
    sidecar = parse_sidecar(raw, Path("legacy_run.e00000002.yaml"))
    assert sidecar.converted_from is not None
    assert sidecar.converted_from.sha256 == read_sidecar(local.sidecar_path).converted_from.sha256
    # again: nothing uploaded, and said so
    assert convert(EXAMPLE / "model_0002.pt", url).url == info.url
    assert main(["convert", str(EXAMPLE / "model_0002.pt"), url, "--json"]) == 0


def test_convert_remote_source_records_its_url(bucket: str, tmp_path: Path) -> None:
    url = f"s3://{bucket}/old/legacy_run/model_0003.pt"
    s3fs.S3FileSystem().put_file(str(EXAMPLE / "model_0003.pt"), url)
    info = convert(url, f"{tmp_path}/out/")
    assert info.path.name == "legacy_run.e00000003.pt", "the run is named after its folder"
    origin = read_sidecar(info.sidecar_path).converted_from
    assert origin is not None and origin.path == url
    expected = convert(EXAMPLE / "model_0003.pt", f"{tmp_path}/expected/")
    assert all(
        torch.equal(torch.load(info.path)[k], v) for k, v in torch.load(expected.path).items()
    )


def test_convert_remote_to_remote_under_a_v1_name(bucket: str, tmp_path: Path) -> None:
    source = f"s3://{bucket}/old/record_zip.pt"
    s3fs.S3FileSystem().put_file(str(RECORD), source)
    dst = f"s3://{bucket}/new/arena.e00000007.pt"
    info = convert(source, dst)
    assert info.url == dst
    expected = convert(RECORD, tmp_path / "arena.e00000007.pt")
    _same_file_content(dst, expected.path, tmp_path)


def test_convert_onto_other_weights_is_refused(bucket: str) -> None:
    url = f"s3://{bucket}/runs/legacy_run/"
    convert(EXAMPLE / "model_0001.pt", url + "legacy_run.e00000001.pt")
    with pytest.raises(CheckpointExistsError, match="already holds other weights"):
        convert(EXAMPLE / "model_0002.pt", url + "legacy_run.e00000001.pt")


# -- migrate --------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The README's legacy run (a hostile file, a trainer state merging into epoch 3), a
    nested run, a file that is no checkpoint and a hidden folder."""
    root = tmp_path / "tree"
    shutil.copytree(EXAMPLE, root / "legacy_run")
    (root / "arena" / "run3").mkdir(parents=True)
    shutil.copy(EXAMPLE / "model_0001.pt", root / "arena" / "run3" / "model_0005.pt")
    (root / "notes.txt").write_text("not a checkpoint\n")
    (root / ".cache").mkdir()
    (root / ".cache" / "x.pt").write_bytes(b"hidden")
    return root


def _migrate_json(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["migrate", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _by_source(report: dict[str, Any], root: str) -> dict[str, tuple[str, list[str]]]:
    return {
        r["source"].removeprefix(root): (
            r["status"],
            sorted(o.rpartition("/")[2] for o in r["outputs"]),
        )
        for r in report["results"]
    }


def test_migrate_s3_to_s3_matches_a_local_migration(
    bucket: str,
    tree: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, out = f"s3://{bucket}/old", f"s3://{bucket}/new"
    s3fs.S3FileSystem().put(str(tree) + "/", source + "/", recursive=True)
    staged: list[int] = []
    download = FsspecStore.download

    def counting(self: FsspecStore, name: str, local: Path) -> None:
        root = next((p for p in local.parents if p.name.startswith("ckpt-migrate-")), None)
        if root is not None and local.is_relative_to(root / "src"):  # a source, not a trainer
            staged.append(sum(1 for p in (root / "src").rglob("*") if p.is_file()))
        download(self, name, local)

    monkeypatch.setattr(FsspecStore, "download", counting)
    code, remote = _migrate_json(source, "--out", out, capsys=capsys)
    local_code, local = _migrate_json(str(tree), "--out", str(tmp_path / "local-v1"), capsys=capsys)
    assert code == local_code == 3  # the hostile model_0004.pt is refused, the rest converted
    assert remote["counts"] == local["counts"]
    assert _by_source(remote, source) == _by_source(local, str(tree))
    assert len(staged) == 6 and max(staged) == 0, "one source on local disk at a time"
    for result in local["results"]:
        for output in result["outputs"]:
            relative = Path(output).relative_to(tmp_path / "local-v1").as_posix()
            _same_file_content(f"{out}/{relative}", Path(output), tmp_path)
    # the trainer state merged into epoch 3 with model_0003.pt's part, as locally
    assert any(
        r["source"].endswith("trainer_state.pt") and r["status"] == "converted"
        for r in remote["results"]
    )

    again_code, again = _migrate_json(source, "--out", out, capsys=capsys)
    assert again_code == 3, again
    assert again["counts"]["already done"] == remote["counts"]["converted"]
    assert again["counts"]["converted"] == 0


@pytest.mark.parametrize("remote_side", ["source", "out"])
def test_migrate_between_local_and_s3(
    remote_side: str, bucket: str, tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"s3://{bucket}/{remote_side}"
    if remote_side == "source":
        s3fs.S3FileSystem().put(str(tree) + "/", url + "/", recursive=True)
        root, out, shown = url, str(tmp_path / "v1"), url
    else:
        root, out, shown = str(tree), url, str(tree)
    code, report = _migrate_json(root, "--out", out, capsys=capsys)
    _, local = _migrate_json(str(tree), "--out", str(tmp_path / "local-v1"), capsys=capsys)
    assert code == 3 and report["counts"] == local["counts"]
    assert _by_source(report, shown) == _by_source(local, str(tree))


def test_migrate_url_usage_errors(bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = f"s3://{bucket}/old"
    assert main(["migrate", source, "--out", f"{source}/inside"]) == 2
    assert "lies inside it" in capsys.readouterr().err
    assert main(["migrate", source, "--jobs", "2"]) == 2
    assert "one file at a time" in capsys.readouterr().err


def test_migrate_of_an_empty_prefix_finds_nothing(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", f"s3://{bucket}/nothing-here"]) == 1
    assert "no checkpoint to migrate" in capsys.readouterr().err


def test_a_remote_dry_run_says_what_the_local_one_says_and_writes_nothing(
    bucket: str, tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = f"s3://{bucket}/old", f"s3://{bucket}/new"
    s3fs.S3FileSystem().put(str(tree) + "/", source + "/", recursive=True)
    code, remote = _migrate_json(source, "--out", out, "--dry-run", capsys=capsys)
    local_code, local = _migrate_json(
        str(tree), "--out", str(tmp_path / "v1"), "--dry-run", capsys=capsys
    )
    assert code == local_code == 3
    assert _by_source(remote, source) == _by_source(local, str(tree))
    assert remote["counts"]["to convert"] == 5 and remote["counts"]["refused"] == 1
    assert not s3fs.S3FileSystem(skip_instance_cache=True).exists(out)


def test_every_metta_format_migrates_from_s3_as_from_a_local_tree(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bundle prefixes (``<run>:v5/``), bundle zips, ``.mpt`` archives, Sep 2025 names and
    trainer states of every Metta era, each staged alone."""
    tree = Path(__file__).parents[1] / "fixtures" / "metta_formats"
    source, out = f"s3://{bucket}/metta", f"s3://{bucket}/metta-v1"
    s3fs.S3FileSystem().put(str(tree) + "/", source + "/", recursive=True)
    code, remote = _migrate_json(source, "--out", out, capsys=capsys)
    local_code, local = _migrate_json(str(tree), "--out", str(tmp_path / "v1"), capsys=capsys)
    assert code == local_code
    assert remote["counts"] == local["counts"] and local["counts"]["converted"] >= 8
    assert _by_source(remote, source) == _by_source(local, str(tree))
    for result in local["results"]:
        for output in result["outputs"]:
            relative = Path(output).relative_to(tmp_path / "v1").as_posix()
            _same_file_content(f"{out}/{relative}", Path(output), tmp_path)


def test_ctrl_c_stops_a_remote_migration_between_files_and_a_rerun_resumes(
    bucket: str, tmp_path: Path
) -> None:
    tree = tmp_path / "run"
    tree.mkdir()
    for epoch in range(1, 41):
        torch.save({"w": torch.full((64, 64), float(epoch))}, tree / f"model_{epoch:04d}.pt")
    source, out = f"s3://{bucket}/old/run", f"s3://{bucket}/new/run"
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.put(str(tree) + "/", source + "/", recursive=True)
    ckpt = [sys.executable, "-m", "compat.cli", "migrate", source, "--out", out, "--json"]
    process = subprocess.Popen(
        ckpt, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(fs.glob(f"{out}/*.yaml", refresh=True)) < 2:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "re-run the same command to resume" in stderr
    report = json.loads(stdout)
    finished = [r for r in report["results"] if r["status"] == "converted"]
    assert report["interrupted"] is True and 2 <= len(finished) < 40
    names = {path.rpartition("/")[2] for path in fs.find(out, refresh=True)}
    weights = {name for name in names if name.endswith(".pt")}
    assert {name.removesuffix(".pt") + ".yaml" for name in weights} <= names, (
        "no uncommitted weights"
    )

    again = subprocess.run(ckpt, capture_output=True, text=True, check=False, timeout=300)
    assert again.returncode == 0, again.stderr
    counts = json.loads(again.stdout)["counts"]
    assert counts["already done"] >= len(finished)
    assert counts["already done"] + counts["converted"] == 40


def test_publishing_never_replaces_weights_another_writer_is_uploading(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch.save writes different bytes each time: replacing another writer's weights
    under its sidecar-to-be would commit a pair that does not match."""
    url = f"s3://{bucket}/runs/legacy_run/"
    weights = f"{url}legacy_run.e00000002.pt"
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.pipe_file(weights, b"another writer's upload")
    with pytest.raises(CheckpointExistsError, match="being uploaded by another writer"):
        convert(EXAMPLE / "model_0002.pt", url)
    assert fs.cat_file(weights) == b"another writer's upload"
    assert not fs.exists(f"{url}legacy_run.e00000002.yaml")
    monkeypatch.setattr("checkpoint._remote.ORPHAN_GRACE_SECONDS", -60.0)  # now a dead one's
    info = convert(EXAMPLE / "model_0002.pt", url)
    assert CheckpointManager(url, "legacy_run").verify(2).url == info.url


@pytest.mark.parametrize("same_bytes", [True, False], ids=["its own bytes", "other bytes"])
def test_weights_a_dead_publish_of_the_same_conversion_left_are_taken_over(
    bucket: str, tmp_path: Path, same_bytes: bool
) -> None:
    """A re-run writes the same bytes (torch.save of the same tensors), so weights left
    without a sidecar that are exactly ours are adopted at once, not after the grace period;
    weights of the same size but other bytes are still another writer's."""
    url = f"s3://{bucket}/runs/legacy_run/"
    weights = f"{url}legacy_run.e00000002.pt"
    ours = convert(EXAMPLE / "model_0002.pt", f"{tmp_path}/local/").path.read_bytes()
    left = ours if same_bytes else ours[:-1] + bytes([ours[-1] ^ 1])
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.pipe_file(weights, left)
    if same_bytes:
        info = convert(EXAMPLE / "model_0002.pt", url)
        assert CheckpointManager(url, "legacy_run").verify(2).url == info.url
    else:
        with pytest.raises(CheckpointExistsError, match="being uploaded by another writer"):
            convert(EXAMPLE / "model_0002.pt", url)
        assert not fs.exists(f"{url}legacy_run.e00000002.yaml")
    assert fs.cat_file(weights) == left


def test_storage_options_reach_fsspec_for_inspect_load_and_convert(
    bucket: str,
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """With the endpoint only in ``storage_options``, the calls still reach the server."""
    url = f"s3://{bucket}/old/model_0002.pt"
    s3fs.S3FileSystem().put_file(str(EXAMPLE / "model_0002.pt"), url)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # fail fast where nothing answers
    # No cached filesystem that knows the endpoint is reused here, and none made here
    # without it is reused by later tests.
    s3fs.S3FileSystem.clear_instance_cache()
    request.addfinalizer(s3fs.S3FileSystem.clear_instance_cache)
    with pytest.raises(StorageError, match=rf"{url}: the storage endpoint cannot be reached"):
        compat.inspect(url)  # without the options: s3.amazonaws.com, not reachable here
    options = {"endpoint_url": s3_endpoint, "skip_instance_cache": True}
    assert compat.inspect(url, storage_options=options).url == url
    assert compat.load(url, storage_options=options).state_dict
    info = convert(url, f"s3://{bucket}/new/run/", storage_options=options)
    assert info.url == f"s3://{bucket}/new/run/old.e00000002.pt"
