"""The README's PolicyStore migration table, row by row, on a run that ``ckpt migrate``
converted: each old call on the legacy files and its replacement on the migrated copy
give the same answer (or the difference the row states).

The legacy run is the real Metta records of ../shared/fixtures/metta, copied into a
temporary PolicyStore-era run directory inside each test session (never into the
repository); the tests skip, saying so, when ../shared is absent. Rows about ranking by a
score also run on the Sep 2025 fixtures, whose names carry one for every checkpoint.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from format_truth import FORMATS, checkpoint_truths
from param_truth import trainable_parameters
from torch import nn

import compat
from checkpoint import (
    CheckpointInfo,
    CheckpointManager,
    CheckpointNotFoundError,
    LegacyCheckpointError,
    UnknownArchitectureError,
)
from checkpoint.errors import CompatDeprecationWarning, MetricMissingWarning
from compat.cli import main
from compat_policy_store import (
    MockPolicyRecord,
    PolicyCache,
    PolicyMissingError,
    PolicyRecord,
    PolicyStore,
    SimpleCheckpointInfo,
)
from digest import state_dict_digest

ROOT = FORMATS.parents[2]
README = ROOT / "README.md"
METTA = ROOT.parent / "shared" / "fixtures" / "metta"
RUN = "metta_run"
#: shared fixture -> its epoch; each becomes ``model_<epoch>.pt`` of one PolicyStore run.
RECORDS = {
    "arena_run3_model_0000.pt": 0,
    "exp119_model_0001.pt": 1,
    "arena_run3_model_0010.pt": 10,
    "daphne_nav_v100_model.pt": 5050,
}
#: The "old call" column of the README's migration table, row by row.
ROWS = [
    "`PolicyStore(...)`, `PolicyStore.create(device, data_dir, wandb_config)`",
    "`store.policy_record(uri).policy` (kickstarter teacher)",
    '`store.policy_record(uri, selector_type="top", metric=m)`',
    '`store.policy_records(uri, "top", n=k, metric=m)`',
    '`store.policy_records(uri, "latest")` / `"all"`',
    "`store.load_from_uri(uri)`",
    "`store.save(pr, path)`",
    "`store.add_to_wandb_run(run_id, pr)`, `add_to_wandb_sweep`, `add_to_wandb_artifact`",
    "`store.policy_record_or_mock(uri)`",
    "`pr.metadata.epoch`, `PolicyMetadata(...)`",
    "`pr.num_params()`",
    "`pr.key_and_version()`, `SimpleCheckpointInfo(...)`",
    "`PolicyCache(max_size)`",
    "`MockPolicyRecord.from_key_and_version(k, v)`",
    "`except PolicyMissingError`",
]

requires_metta = pytest.mark.skipif(
    not (METTA / "MANIFEST.json").is_file(),
    reason=f"the shared Metta fixtures are not on this machine ({METTA}); they are never "
    "copied into the repository",
)


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", CompatDeprecationWarning)


def _table_rows() -> list[str]:
    """The first cell of each row of the README's PolicyStore migration table."""
    text = README.read_text()
    section = text[text.index("## Migrating off PolicyStore") :]
    table = section[section.index("| old call | new call |") :].split("\n\n", 1)[0]
    rows = table.splitlines()[2:]
    return [re.split(r" \| ", row.strip("| "), maxsplit=1)[0] for row in rows]


def test_the_readme_table_has_exactly_the_rows_tested_here() -> None:
    assert _table_rows() == ROWS


def _migrate(legacy_root: Path, out: Path) -> None:
    assert main(["migrate", str(legacy_root), "--out", str(out), "--json"]) == 0


@pytest.fixture(scope="module")
def metta_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(legacy checkpoints directory, migrated checkpoints directory) of the Metta records."""
    if not (METTA / "MANIFEST.json").is_file():
        pytest.skip(f"the shared Metta fixtures are not on this machine ({METTA})")
    root = tmp_path_factory.mktemp("readme_rows")
    legacy = root / "train_dir" / RUN / "checkpoints"
    legacy.mkdir(parents=True)
    for fixture, epoch in RECORDS.items():
        shutil.copyfile(METTA / fixture, legacy / f"model_{epoch:04d}.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _migrate(root / "train_dir", root / "v1")
    yield legacy, root / "v1" / RUN / "checkpoints"


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same for the Sep 2025 fixture run, every checkpoint scored in its name."""
    root = tmp_path_factory.mktemp("scored_rows")
    source = FORMATS / "sep2025_epoch_names" / "fixture_sep_e" / "checkpoints"
    legacy = root / "train_dir" / "fixture_sep_e" / "checkpoints"
    shutil.copytree(source, legacy, ignore=shutil.ignore_patterns("*.json"))
    _migrate(root / "train_dir", root / "v1")
    return legacy, root / "v1" / "fixture_sep_e" / "checkpoints"


def _manifest() -> dict[str, dict[str, object]]:
    files: dict[str, dict[str, object]] = json.loads((METTA / "MANIFEST.json").read_text())["files"]
    return files


def _epochs(records: list[PolicyRecord]) -> list[int]:
    return [int(record.metadata.epoch) for record in records]


@requires_metta
def test_row_policy_store_becomes_a_checkpoint_manager(metta_run: tuple[Path, Path]) -> None:
    legacy, migrated = metta_run
    store = PolicyStore.create(device="cpu", data_dir=str(legacy.parent), wandb_config=None)
    mgr = CheckpointManager(migrated, RUN)
    assert sorted(_epochs(store.policy_records(str(legacy), "all"))) == sorted(RECORDS.values())
    assert [info.epoch for info in mgr.list()] == sorted(RECORDS.values())
    assert not any(info.legacy for info in mgr.list())


def _shaped_like(state: dict[str, torch.Tensor]) -> nn.Module:
    """A module whose state_dict has ``state``'s names and shapes (a stand-in for the agent
    class a caller would pass as ``model=``)."""
    root = nn.Module()
    for key, tensor in state.items():
        *path, leaf = key.split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, nn.Module())
            module = getattr(module, part)
        module.register_buffer(leaf, torch.zeros_like(tensor))
    return root


@requires_metta
def test_row_policy_becomes_load_agent(metta_run: tuple[Path, Path]) -> None:
    legacy, migrated = metta_run
    expected = _manifest()["daphne_nav_v100_model.pt"]["expected_state_dict_sha256"]
    record = PolicyStore().policy_record(str(legacy))  # "top" by "score": only 5050 has one
    with pytest.raises(LegacyCheckpointError, match="renames"):
        _ = record.policy  # the old call needs the class mapped
    assert state_dict_digest(record.state_dict()) == expected
    mgr = CheckpointManager(migrated, RUN)
    with pytest.raises(UnknownArchitectureError):
        mgr.load_agent()  # a migrated legacy run records no class to rebuild
    agent = mgr.load_agent(5050, model=_shaped_like(mgr.load_state_dict(5050)))
    assert state_dict_digest(agent.state_dict()) == expected
    assert state_dict_digest(mgr.load_state_dict()) == expected  # latest


@requires_metta
@pytest.mark.parametrize(
    ("old", "new"), [("navigation", "eval_scores.navigation"), ("score", "score")]
)
def test_row_top_one_becomes_select_best(metta_run: tuple[Path, Path], old: str, new: str) -> None:
    legacy, migrated = metta_run
    top = PolicyStore().policy_record(str(legacy), selector_type="top", metric=old)
    with pytest.warns(MetricMissingWarning, match="3 of the 4 checkpoints"):  # unscored ones
        best = CheckpointManager(migrated, RUN).select("best", n=1, metric=new)[0]
    assert top.metadata.epoch == best.epoch == 5050


def test_row_top_k_is_best_first_in_both(scored_run: tuple[Path, Path]) -> None:
    legacy, migrated = scored_run
    scores = {
        truth["epoch"]: truth["name_fields"]["score"]
        for truth in checkpoint_truths().values()
        if truth["run_name"] == "fixture_sep_e"
    }
    truth_order = sorted(scores, key=scores.__getitem__, reverse=True)[:2]
    assert truth_order == [2, 3]
    old = PolicyStore().policy_records(str(legacy), "top", n=2, metric="score")
    new = CheckpointManager(migrated, "fixture_sep_e").select("best", n=2, metric="score")
    assert _epochs(old) == [info.epoch for info in new] == truth_order


@requires_metta
def test_row_top_k_without_enough_scores(metta_run: tuple[Path, Path]) -> None:
    """Under 80% scored, the old call gave the latest alone; select ranks unscored last."""
    legacy, migrated = metta_run
    old = PolicyStore().policy_records(str(legacy), "top", n=2, metric="navigation")
    with pytest.warns(MetricMissingWarning, match="3 of the 4 checkpoints"):
        new = CheckpointManager(migrated, RUN).select("best", n=2, metric="eval_scores.navigation")
    assert _epochs(old) == [5050]
    assert [info.epoch for info in new] == [5050, 10]  # unscored: newer epoch first


@requires_metta
def test_row_latest_and_all(metta_run: tuple[Path, Path]) -> None:
    legacy, migrated = metta_run
    store, mgr = PolicyStore(), CheckpointManager(migrated, RUN)
    assert _epochs(store.policy_records(str(legacy), "latest")) == [5050]
    assert [info.epoch for info in mgr.select("latest")] == [5050]
    newest_first = sorted(RECORDS.values(), reverse=True)
    assert _epochs(store.policy_records(str(legacy), "all")) == newest_first
    assert [info.epoch for info in mgr.select("all")] == newest_first[::-1]  # oldest first


@requires_metta
def test_row_load_from_uri(metta_run: tuple[Path, Path]) -> None:
    legacy, migrated = metta_run
    manifest = _manifest()
    for fixture, epoch in RECORDS.items():
        expected = manifest[fixture]["expected_state_dict_sha256"]
        path = legacy / f"model_{epoch:04d}.pt"
        record = PolicyStore().load_from_uri(f"file://{path}")
        assert state_dict_digest(record.state_dict()) == expected
        assert state_dict_digest(compat.load(path).state_dict) == expected
        assert (
            state_dict_digest(CheckpointManager(migrated, RUN).load_state_dict(epoch)) == expected
        )


@requires_metta
def test_row_save(metta_run: tuple[Path, Path], tmp_path: Path) -> None:
    legacy, migrated = metta_run
    record = PolicyStore().load_from_uri(str(legacy / "model_0010.pt"))
    saved = PolicyStore().save(record, str(tmp_path / "old"))
    mgr = CheckpointManager(tmp_path / "new", RUN)
    info = mgr.save_agent(CheckpointManager(migrated, RUN).load_state_dict(10), 10, {"x": 1})
    old_weights = torch.load(saved.file_path, weights_only=True)
    new_weights = torch.load(info.path, weights_only=True)
    assert state_dict_digest(old_weights) == state_dict_digest(new_weights)


@requires_metta
def test_row_add_to_wandb_has_no_replacement_call(metta_run: tuple[Path, Path]) -> None:
    legacy, migrated = metta_run
    from checkpoint.errors import UnpublishableArtifactError

    record = PolicyStore().load_from_uri(str(legacy / "model_0010.pt"))
    with pytest.raises(UnpublishableArtifactError, match="compat_add_to_wandb_artifact"):
        PolicyStore().add_to_wandb_run("metta_run", record)
    info = CheckpointManager(migrated, RUN).select("latest")[0]
    assert info.path.is_file() and info.sidecar_path is not None and info.sidecar_path.is_file()


@requires_metta
def test_row_record_or_mock_becomes_latest(metta_run: tuple[Path, Path], tmp_path: Path) -> None:
    legacy, migrated = metta_run
    store = PolicyStore()
    assert isinstance(store.policy_record_or_mock(None), MockPolicyRecord)
    assert CheckpointManager(tmp_path / "empty", RUN).latest() is None
    record = store.policy_record_or_mock(str(legacy))
    latest = CheckpointManager(migrated, RUN).latest()
    assert latest is not None and record.metadata.epoch == latest.epoch == 5050


@requires_metta
def test_row_metadata_becomes_a_plain_dict_with_the_records_numbers(
    metta_run: tuple[Path, Path],
) -> None:
    legacy, migrated = metta_run
    infos = {info.epoch: info for info in CheckpointManager(migrated, RUN).list()}
    for epoch in RECORDS.values():
        record = PolicyStore().load_from_uri(str(legacy / f"model_{epoch:04d}.pt"))
        info = infos[epoch]
        assert record.metadata.epoch == info.metadata["epoch"] == epoch
        assert record.metadata["agent_step"] == info.metadata["agent_step"]
        for key, value in record.metadata.items():  # every number the record held
            if key in ("epoch", "agent_step", "score", "total_time"):  # the sidecar's figures
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                assert info.metadata[key] == value
        if "eval_scores" in record.metadata:
            assert info.metadata["eval_scores"] == record.metadata["eval_scores"]
            assert info.metadata["score"] == record.metadata["score"]


@requires_metta
def test_row_num_params(metta_run: tuple[Path, Path]) -> None:
    legacy, _ = metta_run
    for epoch in RECORDS.values():
        path = legacy / f"model_{epoch:04d}.pt"
        assert PolicyStore().load_from_uri(str(path)).num_params() == trainable_parameters(path)


@requires_metta
def test_row_key_and_version(metta_run: tuple[Path, Path]) -> None:
    legacy, migrated = metta_run
    info = CheckpointManager(migrated, RUN).latest()
    assert info is not None
    record = PolicyStore().policy_record(str(legacy), "latest")
    simple = SimpleCheckpointInfo.from_checkpoint_manager(CheckpointManager(migrated, RUN))
    assert record.key_and_version() == simple.key_and_version() == info.key_and_version()
    assert info.key_and_version() == (RUN, 5050)


@requires_metta
def test_row_policy_cache_becomes_lru_cache(metta_run: tuple[Path, Path]) -> None:
    legacy, migrated = metta_run
    cache = PolicyCache(max_size=1)
    record = PolicyStore().load_from_uri(str(legacy / "model_0001.pt"))
    cache.put("a", record)
    assert cache.get("a") is record
    load = functools.lru_cache(maxsize=1)(CheckpointManager(migrated, RUN).load_state_dict)
    assert load(1) is load(1)


def test_row_mock_becomes_checkpoint_info(tmp_path: Path) -> None:
    mock = MockPolicyRecord.from_key_and_version("nav", 3)
    info = CheckpointInfo(run_name="nav", epoch=3, path=tmp_path / "nav.e00000003.pt")
    assert mock.key_and_version() == info.key_and_version() == ("nav", 3)


@requires_metta
def test_row_policy_missing_error(metta_run: tuple[Path, Path]) -> None:
    legacy, migrated = metta_run
    with pytest.raises(PolicyMissingError):
        PolicyStore().policy_record(str(legacy / "nothing_here"))
    with pytest.raises(CheckpointNotFoundError):
        CheckpointManager(migrated, RUN).load_state_dict(4)
