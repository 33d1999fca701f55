"""The policy_store plugin's shims behave like the PolicyX API callers depended on."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from sample_agents import NavAgent

import compat
from checkpoint import CheckpointInfo, CheckpointManager, read_sidecar
from checkpoint.errors import (
    CompatDeprecationWarning,
    UnreadableCheckpointError,
    UnresolvableURIError,
)
from compat_policy_store import (
    MockPolicyRecord,
    PolicyCache,
    PolicyMetadata,
    PolicyMissingError,
    PolicyRecord,
    PolicyStore,
    SimpleCheckpointInfo,
    checkpoint_identity,
)


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", CompatDeprecationWarning)


@pytest.fixture
def store(tmp_path: Path) -> PolicyStore:
    return PolicyStore(device="cpu", data_dir=str(tmp_path))


def epochs(records: list[PolicyRecord]) -> list[int]:
    return [record.metadata.epoch for record in records]


@pytest.mark.parametrize("form", ["file://{}", "{}", "pytorch://{}"])
def test_uri_forms_of_a_directory(store, nav_run, form) -> None:
    assert epochs(store.policy_records(form.format(nav_run), "all")) == [4, 3, 2, 1, 0]


def test_uri_of_a_single_file(store, nav_run) -> None:
    record = store.load_from_uri(f"file://{nav_run}/nav_run.e00000002.pt")
    assert record.metadata.epoch == 2 and record.run_name == "nav_run"
    assert record.file_path == str(nav_run / "nav_run.e00000002.pt")


def test_config_objects_with_a_uri(store, nav_run) -> None:
    class Config:
        uri = str(nav_run)

    assert store.policy_record(Config(), "latest").metadata.epoch == 4
    assert store.policy_record({"uri": str(nav_run)}, "latest").metadata.epoch == 4
    with pytest.raises(TypeError, match="expected a policy URI"):
        store.policy_record(42)


def test_top_reads_eval_scores_then_metadata(store, nav_run) -> None:
    assert epochs(store.policy_records(nav_run, "top", n=2, metric="navigation")) == [3, 1]
    assert epochs(store.policy_records(nav_run, "top", n=1, metric="score")) == [3]
    # a metric nobody has: the latest
    assert epochs(store.policy_records(nav_run, "top", n=2, metric="nope")) == [4]


def test_top_falls_back_to_latest_when_under_80_percent_scored(tmp_path, store) -> None:
    manager = CheckpointManager(tmp_path / "run", "run")
    for epoch in range(5):
        scores = {"navigation": float(epoch)} if epoch in (0, 1, 4) else {}
        manager.save_agent(NavAgent(), epoch, {"eval_scores": scores})
    assert epochs(store.policy_records(tmp_path / "run", "top", metric="navigation")) == [4]
    manager.save_agent(NavAgent(), 5, {"eval_scores": {"navigation": -1.0}})
    manager.delete(2)  # now 4 of 5 are scored: exactly 80%
    assert epochs(store.policy_records(tmp_path / "run", "top", n=1, metric="navigation")) == [4]


def test_rand_and_invalid_selector(store, nav_run) -> None:
    [record] = store.policy_records(nav_run, "rand")
    assert record.metadata.epoch in range(5)
    with pytest.raises(ValueError, match="invalid selector type 'best'"):
        store.policy_records(nav_run, "best")


def test_missing_and_remote_uris(store, tmp_path) -> None:
    with pytest.raises(PolicyMissingError, match="no policies found"):
        store.policy_record(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyMissingError):
        store.policy_record(str(tmp_path / "empty"))
    with pytest.raises(UnresolvableURIError, match="compat_resolve_uri hook"):
        store.policy_record("wandb://metta/nav/model:v3")


def test_a_uri_naming_a_device_says_so(store, tmp_path) -> None:
    (tmp_path / "run").mkdir()
    device = tmp_path / "run" / "run.e00000001.pt"
    device.symlink_to("/dev/zero")
    with pytest.raises(UnreadableCheckpointError, match="not a regular file"):
        store.policy_record(f"file://{device}")


def test_a_plugin_resolving_wandb_uris(store, nav_run) -> None:
    class Downloader:
        @compat.hookimpl
        def compat_resolve_uri(self, uri: str) -> list[Path] | None:
            return [nav_run / "nav_run.e00000001.pt"] if uri.startswith("wandb://") else None

    name = compat.plugins.register(Downloader(), "downloader")
    try:
        assert store.policy_record("wandb://metta/nav/model:v1").metadata.epoch == 1
    finally:
        compat.plugins.unregister(name)


def test_stats_client_selection_is_refused_clearly(store, nav_run) -> None:
    with pytest.raises(ValueError, match="stats_client"):
        store.policy_records(nav_run, "top", stats_client=object(), eval_name="nav")


def test_policy_loads_lazily_through_the_manager(store, nav_run) -> None:
    record = store.policy_record(nav_run, "latest")
    assert record._cached_policy is None
    policy = record.policy
    expected = CheckpointManager(nav_run, "nav_run").load_state_dict(4)
    assert type(policy) is NavAgent
    assert all(torch.equal(policy.state_dict()[k], v) for k, v in expected.items())
    assert record.policy is policy  # cached
    assert record.num_params() == sum(v.numel() for v in expected.values())


def test_save_writes_a_v1_checkpoint_not_a_pickle(store, nav_run, tmp_path) -> None:
    record = store.policy_record(nav_run, "top", metric="navigation")
    saved = store.save(record, str(tmp_path / "exported" / "model_0003.pt"))
    path = Path(saved.file_path)
    assert path == tmp_path / "exported" / "nav_run.e00000003.pt"
    weights = torch.load(path, weights_only=True)  # a plain state_dict
    assert set(weights) == set(NavAgent().state_dict())
    sidecar = read_sidecar(path.with_suffix(".yaml"))
    assert (sidecar.epoch, sidecar.agent_step, sidecar.metrics["eval_scores"]) == (
        3,
        300,
        {"navigation": 0.9},
    )
    assert sidecar.architecture is not None  # the loaded agent was registered
    assert saved.metadata.epoch == 3


def test_policy_record_or_mock(store, nav_run) -> None:
    mock = store.policy_record_or_mock(None, run_name="m")
    assert isinstance(mock, MockPolicyRecord) and mock.run_name == "m"
    assert mock.policy(torch.ones(2)).tolist() == [1.0, 1.0]
    assert store.policy_record_or_mock(str(nav_run)).metadata.epoch == 3  # top by score


def test_metadata_required_fields_and_attribute_access() -> None:
    metadata = PolicyMetadata(agent_step=5, epoch=2, generation=1, train_time=3.5, score=0.7)
    assert (metadata.epoch, metadata["score"], metadata.score) == (2, 0.7, 0.7)
    metadata.note = "x"
    assert metadata["note"] == "x"
    del metadata.note
    with pytest.raises(AttributeError, match="no field 'note'"):
        _ = metadata.note
    assert PolicyMetadata() == {"agent_step": 0, "epoch": 0, "generation": 0, "train_time": 0.0}
    with pytest.raises(ValueError, match=r"missing required fields \['generation', 'train_time'\]"):
        PolicyMetadata.from_dict({"agent_step": 1, "epoch": 1})
    assert PolicyMetadata.from_dict(dict(metadata)) == metadata


def test_record_metadata_becomes_policy_metadata() -> None:
    record = PolicyRecord(None, "run", "file:///tmp/x.pt", {"epoch": 3, "agent_step": 9})
    assert isinstance(record.metadata, PolicyMetadata)
    assert (record.metadata.epoch, record.metadata.generation) == (3, 0)
    assert record.key_and_version() == ("run", 3)
    wandb = PolicyRecord(None, "run", "wandb://metta/nav/model:v7", {})
    assert wandb.extract_wandb_run_info() == ("metta", "nav", "model", "v7")
    with pytest.raises(ValueError, match="not a wandb"):
        record.extract_wandb_run_info()


def test_policy_cache_is_an_lru() -> None:
    cache = PolicyCache(max_size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert (cache.get("b"), cache.get("a"), cache.get("c"), len(cache)) == (None, 1, 3, 2)
    with pytest.raises(ValueError, match="max_size"):
        PolicyCache(max_size=0)


def test_policy_cache_is_thread_safe() -> None:
    cache = PolicyCache(max_size=50)
    errors: list[BaseException] = []

    def hammer(offset: int) -> None:
        try:
            for i in range(2000):
                cache.put(f"{(offset + i) % 80}", i)
                cache.get(f"{i % 80}")
                assert len(cache) <= 50
        except BaseException as exc:  # report from the thread
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n * 7,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(cache) == 50


def test_identity_of_every_era(nav_run) -> None:
    manager = CheckpointManager(nav_run, "nav_run")
    info = manager.latest()
    assert isinstance(info, CheckpointInfo)
    simple = SimpleCheckpointInfo.from_checkpoint_manager(manager)
    chosen = SimpleCheckpointInfo.from_checkpoint_manager(
        manager, str(nav_run / "nav_run.e00000002.pt")
    )
    record = PolicyRecord(None, "nav_run", info.uri, {"epoch": 4})
    mock = MockPolicyRecord.from_key_and_version("nav_run", 4)
    identities = {checkpoint_identity(x) for x in (info, simple, record, mock, ("nav_run", 4))}
    assert identities == {("nav_run", 4)}
    assert chosen.key_and_version() == ("nav_run", 2)
    with pytest.raises(TypeError, match="key_and_version"):
        checkpoint_identity(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tuple"):
        checkpoint_identity(("nav_run", "4"))  # type: ignore[arg-type]


def test_every_stub_warns_with_the_exact_replacement(store, nav_run) -> None:
    warnings.resetwarnings()
    with pytest.warns(CompatDeprecationWarning) as caught:
        PolicyStore()
        store.policy_record(nav_run, "latest")
        MockPolicyRecord.from_key_and_version("k", 1)
        PolicyMetadata()
        PolicyCache()
    messages = [str(w.message) for w in caught]
    assert any(
        "PolicyStore is deprecated" in m and "CheckpointManager(run_dir" in m for m in messages
    )
    assert any(
        "policy_record is deprecated" in m and 'select(strategy="best"' in m for m in messages
    )
    assert all("removed in 1.0.0" in m for m in messages)
    assert {w.filename for w in caught} == {__file__}


def test_sidecar_is_yaml_only(nav_run) -> None:
    text = (nav_run / "nav_run.e00000000.yaml").read_text()
    assert yaml.safe_load(text)["run_name"] == "nav_run"


# -- behaviour of the August 2025 PolicyStore (Metta-AI/metta 5ed446daf4, policy_store.py) ----


def _scored_run(tmp_path: Path, metadata: list[dict[str, object]]) -> Path:
    """A v1 run whose epoch i has ``metadata[i]``."""
    manager = CheckpointManager(tmp_path / "scored", "scored")
    for epoch, extra in enumerate(metadata):
        manager.save_agent(NavAgent(), epoch, extra)
    return tmp_path / "scored"


def test_top_also_tries_the_metric_without_its_score_suffix(store, nav_run) -> None:
    """sim.py asked for ``<simulation>_score``; eval_scores holds ``<simulation>``."""
    assert epochs(store.policy_records(nav_run, "top", n=2, metric="navigation_score")) == [3, 1]


def test_top_decides_where_the_metric_lives_from_the_latest_record(tmp_path, store) -> None:
    # the latest keeps "nav" at the top level: the others' eval_scores are not looked at
    run = _scored_run(
        tmp_path, [{"eval_scores": {"nav": float(e)}} for e in range(4)] + [{"nav": 1.0}]
    )
    assert epochs(store.policy_records(run, "top", n=2, metric="nav")) == [4]  # 1 of 5 scored


def test_top_counts_a_record_scored_elsewhere_as_unscored(tmp_path, store) -> None:
    metadata: list[dict[str, object]] = [{"nav": 9.0}]  # epoch 0: not in eval_scores
    metadata += [{"eval_scores": {"nav": float(e)}} for e in (1, 2, 3, 4)]
    run = _scored_run(tmp_path, metadata)
    # 4 of 5 scored in eval_scores: exactly 80%, so top ranks them, best first
    assert epochs(store.policy_records(run, "top", n=5, metric="nav")) == [4, 3, 2, 1]


def test_top_keeps_the_newest_first_order_among_equal_scores(tmp_path, store) -> None:
    run = _scored_run(tmp_path, [{"score": s} for s in (0.5, 0.9, 0.5, 0.9)])
    assert epochs(store.policy_records(run, "top", n=4, metric="score")) == [3, 1, 2, 0]


def test_top_over_values_that_do_not_compare_says_so(tmp_path, store) -> None:
    run = _scored_run(tmp_path, [{"nav": 1.0}, {"nav": "high"}])
    with pytest.raises(TypeError, match="cannot rank policy records by 'nav'"):
        store.policy_records(run, "top", n=2, metric="nav")


@pytest.mark.parametrize("form", ["file://./nav_run", "file://nav_run", "nav_run", "./nav_run"])
def test_relative_file_uris_are_relative_to_the_working_directory(
    store, nav_run, monkeypatch, form
) -> None:
    monkeypatch.chdir(nav_run.parent)
    records = store.policy_records(form, "all")
    assert epochs(records) == [4, 3, 2, 1, 0]
    assert records[0].file_path == str(nav_run.resolve() / "nav_run.e00000004.pt")
    single = store.load_from_uri(f"{form}/nav_run.e00000002.pt")
    assert single.metadata.epoch == 2


def test_file_uris_are_not_percent_decoded(store, tmp_path) -> None:
    run = tmp_path / "run%20one"
    CheckpointManager(run, "run").save_agent(NavAgent(), 1)
    record = store.policy_record(f"file://{run}", "latest")
    assert record.file_path == str(run / "run.e00000001.pt")
    with pytest.raises(PolicyMissingError):
        store.policy_record(f"file://{tmp_path / 'run one'}")
    with pytest.raises(PolicyMissingError, match="names no path"):
        store.policy_record("file://")


def test_add_to_wandb_without_a_plugin_names_the_hook(store, nav_run) -> None:
    from checkpoint.errors import UnpublishableArtifactError

    record = store.policy_record(nav_run, "latest")
    with pytest.raises(UnpublishableArtifactError, match="compat_add_to_wandb_artifact hook"):
        store.add_to_wandb_run("run7", record)
    with pytest.raises(ValueError, match=r"nav_run\.e00000004\.pt"):  # a ValueError, as before
        store.add_to_wandb_sweep("sweep7", record)


def test_add_to_wandb_goes_through_a_plugin(nav_run) -> None:
    calls: list[dict[str, object]] = []

    class Uploader:
        @compat.hookimpl
        def compat_add_to_wandb_artifact(
            self,
            name: str,
            artifact_type: str,
            metadata: dict[str, object],
            file_path: str,
            additional_files: list[str],
            wandb_run: object,
        ) -> str:
            calls.append(
                {
                    "name": name,
                    "artifact_type": artifact_type,
                    "metadata": metadata,
                    "file_path": file_path,
                    "additional_files": additional_files,
                    "wandb_run": wandb_run,
                }
            )
            return f"entity/project/{name}:v0"

    run = object()
    store = PolicyStore(wandb_run=run)
    record = store.policy_record(nav_run, "latest")
    name = compat.plugins.register(Uploader(), "uploader")
    try:
        assert store.add_to_wandb_run("run7", record) == "entity/project/run7:v0"
        assert store.add_to_wandb_sweep("sw", record, ["notes.txt"]) == "entity/project/sw:v0"
        assert (
            store.add_to_wandb_artifact("art", "custom", {"a": 1}, "/x/model.pt")
            == "entity/project/art:v0"
        )
    finally:
        compat.plugins.unregister(name)
    file_path = str(nav_run / "nav_run.e00000004.pt")
    assert [
        (c["name"], c["artifact_type"], c["file_path"], c["additional_files"]) for c in calls
    ] == [
        ("run7", "model", file_path, []),
        ("sw", "sweep_model", file_path, ["notes.txt"]),
        ("art", "custom", "/x/model.pt", []),
    ]
    assert all(c["wandb_run"] is run for c in calls)
    assert calls[0]["metadata"] == dict(record.metadata) and calls[2]["metadata"] == {"a": 1}


def test_add_to_wandb_warns_with_its_deprecation(store, nav_run) -> None:
    record = store.policy_record(nav_run, "latest")
    warnings.resetwarnings()
    for call in (store.add_to_wandb_run, store.add_to_wandb_sweep):
        with (
            pytest.warns(CompatDeprecationWarning, match="removed in 1.0.0") as caught,
            pytest.raises(ValueError),
        ):
            call("x", record)
        assert f"PolicyStore.{call.__name__} is deprecated" in str(caught[0].message)
