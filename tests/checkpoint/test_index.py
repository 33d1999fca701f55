"""The index commits keep (issue 16): correct whatever happens to it, maintained by saves.

The index is a cache: every test here compares a listing with a fresh parse of the sidecars
on disk, which is what the listing must equal whatever state the index is in.
"""

from __future__ import annotations

import json
import math
import random
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import checkpoint._catalog as catalog
import checkpoint._indexfile as indexfile
from checkpoint import (
    CheckpointManager,
    CheckpointNotFoundError,
    InvalidCheckpointRequestError,
    MetricMissingWarning,
    SidecarError,
    read_sidecar,
)
from checkpoint._naming import FileRole, parse_v1_name

RUN = "alpha"


def fresh_scan(run_dir: Path, run_name: str = RUN) -> list[tuple[int, str]]:
    """(epoch, metadata as canonical JSON) of every valid v1 checkpoint: what a listing
    must say, found without the index by parsing every sidecar."""
    found = []
    for path in sorted(run_dir.glob("*.yaml")):
        parsed = parse_v1_name(path.name)
        if parsed is None or parsed.role is not FileRole.SIDECAR or parsed.run_name != run_name:
            continue
        if not path.with_name(path.name[: -len(".yaml")] + ".pt").exists() or path.is_symlink():
            continue
        try:
            sidecar = read_sidecar(path)
        except SidecarError:
            continue
        if (sidecar.run_name, sidecar.epoch) != (parsed.run_name, parsed.epoch):
            continue
        found.append((parsed.epoch, _canonical(sidecar.flat_metadata())))
    return sorted(found)


def listed(manager: CheckpointManager) -> list[tuple[int, str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # damaged sidecars warn; that is tested elsewhere
        return sorted((info.epoch, _canonical(info.metadata)) for info in manager.list())


def _canonical(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, sort_keys=True)


def index_entries(run_dir: Path) -> dict[str, tuple[int, int, int]]:
    """What the index file alone says: sidecar name -> the stat it was indexed at."""
    raw = (run_dir / catalog.INDEX_NAME).read_bytes()
    index = indexfile._parse_snapshot(raw)
    assert index is not None, "the index does not parse"
    indexfile._apply_journal(index, raw[index.journal_at :])
    entries = {name: indexfile.row_key(index, row) for row, name in enumerate(index.names)}
    for name, entry in index.fresh.items():
        if entry is None:
            entries.pop(name, None)
        else:
            entries[name] = entry.key
    return entries


def on_disk_keys(run_dir: Path) -> dict[str, tuple[int, int, int]]:
    keys = {}
    for path in run_dir.glob("*.yaml"):
        status = path.stat()
        keys[path.name] = (status.st_ino, status.st_size, status.st_mtime_ns)
    return keys


@pytest.fixture
def small_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compact after a few hundred bytes of journal, so that compaction runs often."""
    monkeypatch.setattr(indexfile, "_COMPACT_MIN_BYTES", 600)
    monkeypatch.setattr(indexfile, "_COMPACT_FRACTION", 2)


@pytest.fixture
def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    parsed: list[Path] = []
    real = catalog.parse_sidecar
    monkeypatch.setattr(
        catalog, "parse_sidecar", lambda raw, path: parsed.append(path) or real(raw, path)
    )
    return parsed


def _state(value: float) -> dict[str, torch.Tensor]:
    return {"w": torch.full((3,), value)}


# -- maintained by the commits ---------------------------------------------------------------


def test_saves_deletes_and_retention_keep_the_index(
    tmp_path: Path, small_journal: None, count_parses: list[Path]
) -> None:
    manager = CheckpointManager(tmp_path, RUN, keep_last=20)
    for epoch in range(40):
        manager.save_agent(_state(epoch), epoch, {"score": float(epoch % 7), "loss": -epoch})
    manager.delete(30)
    assert index_entries(tmp_path) == on_disk_keys(tmp_path), "every commit is in the index"
    indexfile.memos.clear()  # a new process
    count_parses.clear()
    assert listed(CheckpointManager(tmp_path, RUN)) == fresh_scan(tmp_path)
    assert count_parses == [], "a new process lists from the index, reading no sidecar"
    best = CheckpointManager(tmp_path, RUN).find_best_checkpoint()
    assert best is not None and (best.epoch, best.metadata["score"]) == (34, 6.0)
    assert CheckpointManager(tmp_path, RUN).find_best_checkpoint("loss").epoch == 20


def test_a_listing_writes_back_what_it_had_to_read(tmp_path: Path, count_parses: list[Path]):
    manager = CheckpointManager(tmp_path, RUN)
    for epoch in range(5):
        manager.save_agent(_state(epoch), epoch)
    (tmp_path / catalog.INDEX_NAME).unlink()
    indexfile.memos.clear()
    assert listed(manager) == fresh_scan(tmp_path)
    assert len(count_parses) == 5
    indexfile.memos.clear()
    assert listed(manager) == fresh_scan(tmp_path)
    assert len(count_parses) == 5, "the first listing wrote the index back"


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"{not json",
        b"[" * 100_000 + b"]" * 100_000,  # issue 15: nested too deep for a recursive parser
        b'{"ckpt-index": 3, "rows": 99, "columns": 0, "journal_at": 5}\n',
        b'{"ckpt-index": 3, "rows": 1, "columns": 0, "journal_at": 80}\n' + b"x" * 100,
        b"\x00" * 4096,
    ],
    ids=["empty", "not-json", "deep", "lying-preamble", "short", "zeros"],
)
def test_a_damaged_index_is_ignored_and_replaced(tmp_path: Path, damage: bytes) -> None:
    manager = CheckpointManager(tmp_path, RUN)
    for epoch in range(3):
        manager.save_agent(_state(epoch), epoch, {"score": float(epoch)})
    expected = fresh_scan(tmp_path)
    (tmp_path / catalog.INDEX_NAME).write_bytes(damage)
    indexfile.memos.clear()
    assert listed(manager) == expected
    assert manager.find_best_checkpoint().epoch == 2
    assert manager.load_state_dict(1)["w"][0] == 1.0
    manager.save_agent(_state(3), 3)  # a commit replaces what it cannot extend
    indexfile.memos.clear()
    assert listed(manager) == fresh_scan(tmp_path)
    assert index_entries(tmp_path) == on_disk_keys(tmp_path)


def test_a_line_cut_by_a_crash_is_skipped_and_ended_by_the_next_commit(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, RUN)
    manager.save_agent(_state(0), 0)
    with (tmp_path / catalog.INDEX_NAME).open("ab") as index:
        index.write(b"P\talpha.e00000001.yaml\talpha\t1\t12")  # the writer died here
    indexfile.memos.clear()
    assert listed(manager) == fresh_scan(tmp_path)
    manager.save_agent(_state(1), 1)
    indexfile.memos.clear()
    assert listed(manager) == fresh_scan(tmp_path)
    assert index_entries(tmp_path) == on_disk_keys(tmp_path)


def test_a_stale_entry_never_wins_over_the_file(tmp_path: Path) -> None:
    """An index claiming other figures for a sidecar whose stat it got wrong is not used."""
    manager = CheckpointManager(tmp_path, RUN)
    manager.save_agent(_state(0), 0, {"score": 1.0})
    sidecar = tmp_path / "alpha.e00000000.yaml"
    text = sidecar.read_text()
    indexfile.memos.clear()
    manager.list()  # the memo holds the entry
    sidecar.write_text(text.replace("score: 1.0", "score: 7.5") + "# edited by hand\n")
    assert manager.find_best_checkpoint().metadata["score"] == 7.5
    indexfile.memos.clear()
    assert manager.find_best_checkpoint().metadata["score"] == 7.5


def test_another_process_commits_are_seen_through_the_journal(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, RUN)
    manager.save_agent(_state(0), 0)
    assert [info.epoch for info in manager.list()] == [0]
    code = (
        "import sys, torch\n"
        "from checkpoint import CheckpointManager\n"
        "m = CheckpointManager(sys.argv[1], 'alpha')\n"
        "m.delete(0)\n"
        "m.save_agent({'w': torch.zeros(3)}, 0, {'score': 5.0})\n"
        "m.save_agent({'w': torch.zeros(3)}, 1, {'score': 1.0})\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    assert listed(manager) == fresh_scan(tmp_path)
    assert manager.find_best_checkpoint().metadata["score"] == 5.0


# -- crashes and concurrency -----------------------------------------------------------------

_SAVER = """
import os, sys, torch
import checkpoint._catalog as catalog
import checkpoint._indexfile as indexfile
from checkpoint import CheckpointManager
indexfile._COMPACT_MIN_BYTES = 400  # compact every few saves: kills land mid-compaction too
indexfile._COMPACT_FRACTION = 1
run_dir, first, step, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
manager = CheckpointManager(run_dir, "alpha", keep_last=int(sys.argv[5]) or None)
for epoch in range(first, first + step * count, step):
    manager.save_agent({"w": torch.full((3,), float(epoch))}, epoch, {"score": epoch % 11})
    if epoch % 5 == 0:
        manager.list()  # a reader may write the index back too
    print(epoch, flush=True)
"""


def _saver(run_dir: Path, first: int, step: int, count: int, keep: int) -> subprocess.Popen[str]:
    args = [str(run_dir), str(first), str(step), str(count), str(keep)]
    return subprocess.Popen(
        [sys.executable, "-c", _SAVER, *args], stdout=subprocess.PIPE, text=True
    )


def test_sigkill_during_index_updates_leaves_correct_listings(tmp_path: Path) -> None:
    rng = random.Random(16)
    manager = CheckpointManager(tmp_path, RUN)
    committed = 0
    for kill in range(12):
        saver = _saver(tmp_path, kill * 1000, 1, 10_000, keep=0 if kill % 2 else 6)
        assert saver.stdout is not None
        saver.stdout.readline()  # its first commit: past the interpreter's start-up
        time.sleep(rng.uniform(0.0, 0.4))
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        committed += 1 + len(saver.stdout.read().split())
        saver.stdout.close()
        indexfile.memos.clear()
        assert listed(manager) == fresh_scan(tmp_path), f"after kill {kill}"
        assert listed(CheckpointManager(tmp_path, RUN)) == fresh_scan(tmp_path)
    assert committed > 50, "the savers hardly committed: the kills tested little"


def test_concurrent_savers_keep_the_index_right(tmp_path: Path) -> None:
    savers = [_saver(tmp_path, parity, 2, 60, keep=0) for parity in (0, 1)]
    for saver in savers:
        assert saver.stdout is not None
        saver.stdout.read()
        saver.stdout.close()
    assert [saver.wait(timeout=300) for saver in savers] == [0, 0]
    assert index_entries(tmp_path) == on_disk_keys(tmp_path), "no commit was lost"
    indexfile.memos.clear()
    assert listed(CheckpointManager(tmp_path, RUN)) == fresh_scan(tmp_path)
    assert len(fresh_scan(tmp_path)) == 120


# -- any interleaving ----------------------------------------------------------------------

EPOCHS = st.integers(0, 5)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["save", "save_elsewhere", "delete"]), EPOCHS),
        st.tuples(st.sampled_from(["remove_sidecar", "remove_weights", "edit"]), EPOCHS),
        st.tuples(st.sampled_from(["new_process", "drop_index", "retain"]), st.just(0)),
    ),
    max_size=25,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=OPERATIONS, compact_after=st.sampled_from([0, 700, 10**9]))
def test_any_interleaving_lists_what_a_fresh_scan_finds(
    operations: list[tuple[str, int]], compact_after: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compacting on every commit (snapshot rows), now and then, or never (journal lines)."""
    monkeypatch.setattr(indexfile, "_COMPACT_MIN_BYTES", compact_after)
    monkeypatch.setattr(indexfile, "_COMPACT_FRACTION", 10**6)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        indexfile.memos.clear()
        manager = CheckpointManager(run_dir, RUN)
        for operation, epoch in operations:
            _apply(operation, epoch, run_dir, manager)
            assert listed(manager) == fresh_scan(run_dir), (operation, epoch)


def _apply(operation: str, epoch: int, run_dir: Path, manager: CheckpointManager) -> None:
    sidecar = run_dir / f"{RUN}.e{epoch:08d}.yaml"
    weights = run_dir / f"{RUN}.e{epoch:08d}.pt"
    if operation in ("save", "save_elsewhere"):
        saver = manager if operation == "save" else CheckpointManager(run_dir, RUN)
        if not sidecar.exists():
            saver.save_agent(_state(epoch), epoch, {"score": float(epoch % 3)})
    elif operation == "delete":
        try:
            manager.delete(epoch)
        except CheckpointNotFoundError:
            assert not sidecar.exists() and not weights.exists()
    elif operation == "remove_sidecar":
        sidecar.unlink(missing_ok=True)
    elif operation == "remove_weights":
        weights.unlink(missing_ok=True)
    elif operation == "edit" and sidecar.exists():
        text = sidecar.read_text()
        sidecar.write_text(text.replace("agent_step: 0", "agent_step: 7") + "# by hand\n")
    elif operation == "new_process":
        indexfile.memos.clear()
    elif operation == "drop_index":
        (run_dir / catalog.INDEX_NAME).unlink(missing_ok=True)
    elif operation == "retain":
        CheckpointManager(run_dir, RUN, keep_last=2).save_trainer_state(None, 99, 0)


# -- selection: a metric nobody has, and deleting what is not there --------------------------


def test_best_by_a_metric_nobody_has_names_the_metrics_that_exist(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, RUN)
    for epoch in range(3):
        manager.save_agent(_state(epoch), epoch, {"score": epoch, "eval": {"nav": -epoch}})
    with pytest.raises(InvalidCheckpointRequestError, match="no_such_metric") as excinfo:
        manager.select("best", metric="no_such_metric")
    message = str(excinfo.value)
    assert "eval.nav" in message and "score" in message and "agent_step" in message
    with pytest.raises(InvalidCheckpointRequestError, match=r"'eval\.nope'"):
        manager.find_best_checkpoint("eval.nope")
    assert manager.find_best_checkpoint("eval.nav").epoch == 0


def test_best_by_a_metric_only_some_have_warns_how_many_lack_it(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, RUN)
    manager.save_agent(_state(0), 0, {"score": 0.5})
    manager.save_agent(_state(1), 1)
    manager.save_agent(_state(2), 2, {"score": math.nan})  # recorded: has it, ranks last
    manager.save_agent(_state(3), 3, {"score": 0.1})
    with pytest.warns(MetricMissingWarning, match="1 of the 4 checkpoints") as caught:
        assert [info.epoch for info in manager.select("best", n=4)] == [0, 3, 2, 1]
    assert caught[0].filename == __file__, "the warning points at the caller"
    indexfile.memos.clear()  # the same from the index's columns
    with pytest.warns(MetricMissingWarning, match="1 of the 4"):
        assert manager.find_best_checkpoint().epoch == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [info.epoch for info in manager.select("best", n=2, metric="epoch")] == [3, 2]


def test_min_mode_and_ties_from_the_index(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, RUN, mode="min")
    for epoch, loss in enumerate([3.0, 1.0, 2.0, 1.0, math.nan]):
        manager.save_agent(_state(epoch), epoch, {"score": loss})
    for _ in range(2):
        assert manager.find_best_checkpoint().epoch == 3  # a tie goes to the newer epoch
        assert [info.epoch for info in manager.select("best", n=5)] == [3, 1, 2, 0, 4]
        indexfile.memos.clear()


def test_deleting_an_epoch_that_is_not_there_raises(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path / "run", RUN)
    with pytest.raises(CheckpointNotFoundError, match="epoch 4"):
        manager.delete(4)  # not even a run directory
    manager.save_agent(_state(1), 1)
    with pytest.raises(CheckpointNotFoundError, match="epoch 4"):
        manager.delete(4)
    manager.save_trainer_state(None, 2, 0)
    manager.delete(2)  # a trainer state alone is something to delete
    manager.delete(1)
    assert manager.list() == []


# -- the sidecar parser ----------------------------------------------------------------------


@pytest.fixture
def one_pair(tmp_path: Path) -> Iterator[tuple[CheckpointManager, Path]]:
    manager = CheckpointManager(tmp_path, RUN)
    manager.save_agent(_state(0), 0, {"score": 0.0})
    manager.save_agent(_state(1), 1, {"score": 1.0})
    yield manager, tmp_path / "alpha.e00000001.yaml"


LAUGHS = (
    "{a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol], b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], "
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b], d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c], "
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d], f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e], "
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f], h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g], "
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]}"
)


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        (LAUGHS, "anchors or aliases"),
        ("{x: " + "[" * 20_000 + "]" * 20_000 + "}", "not valid YAML|nested"),
        ("{x: " + "[" * 60 + "]" * 60 + "}", "nested more than 48"),
        ("[" + "1, " * 250_000 + "1]", "more than 200000 values"),
    ],
    ids=["billion-laughs", "deep-20000", "deep-60", "many-values"],
)
def test_a_hostile_sidecar_is_a_named_error_and_quarantined(
    one_pair: tuple[CheckpointManager, Path], metrics: str, reason: str
) -> None:
    """Issue 15: no RecursionError or MemoryError from a sidecar, anywhere."""
    manager, sidecar = one_pair
    text = sidecar.read_text().replace("metrics: {}", f"metrics: {metrics}")
    assert text != sidecar.read_text()
    sidecar.write_text(text)
    with pytest.raises(SidecarError, match=reason):
        read_sidecar(sidecar)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert [info.epoch for info in manager.list()] == [0]
        assert manager.find_best_checkpoint().epoch == 0
    with pytest.raises(SidecarError, match=reason):
        manager.load_state_dict(1)
    indexfile.memos.clear()
    with pytest.raises(SidecarError, match=reason):
        manager.load_state_dict(1)


def test_a_symlinked_sidecar_is_not_followed(one_pair: tuple[CheckpointManager, Path]) -> None:
    manager, sidecar = one_pair
    outside = sidecar.parent.parent / "elsewhere.yaml"
    sidecar.rename(outside)
    sidecar.symlink_to(outside)
    with pytest.warns(Warning, match="symbolic link"):
        assert [info.epoch for info in manager.list()] == [0]


def test_saving_metadata_a_reader_would_refuse_is_refused_first(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, RUN)
    nested: dict[str, Any] = {}
    for _ in range(60):
        nested = {"a": nested}
    with pytest.raises(InvalidCheckpointRequestError, match="nested more than 48"):
        manager.save_agent(_state(0), 0, {"deep": nested})
    with pytest.raises(InvalidCheckpointRequestError, match="values"):
        manager.save_agent(_state(0), 0, {"many": list(range(300_000))})
    assert list(tmp_path.iterdir()) in ([], [tmp_path / ".ckpt.lock"])
