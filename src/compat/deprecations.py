"""Every deprecated name of checkpoint-compat, in one place.

Each constant below is one deprecated API: what it is, since which version, the version
that removes it, what replaces it and a one-line migration hint. Shims refer to these
constants and never spell a deprecation inline, so this module is the whole removal
schedule (the CHANGELOG repeats each ``removed_in``). To deprecate something, add a
constant here and pass it to ``compat.deprecated`` (or a sibling helper) in the shim.
Third-party plugins keep their own registry module the same way, with
``distribution=`` naming their own package so ``removed_in`` is compared with its version.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Deprecation:
    """One deprecated API and its way out."""

    #: What the caller wrote, e.g. ``"metta.agent.policy_store.PolicyStore"``.
    name: str
    #: First version that warns.
    deprecated_in: str
    #: First version whose shim raises ``RemovedAPIError`` instead of working.
    removed_in: str
    #: What to use instead, e.g. ``"checkpoint.CheckpointManager"``.
    replacement: str
    #: One line on how to migrate a call site.
    hint: str
    #: The distribution whose installed version is compared with ``removed_in``.
    distribution: str = "checkpoint-compat"

    def __post_init__(self) -> None:
        from packaging.version import Version

        if Version(self.deprecated_in) >= Version(self.removed_in):
            raise ValueError(
                f"{self.name}: deprecated_in {self.deprecated_in} must come before "
                f"removed_in {self.removed_in}"
            )

    def warning_message(self) -> str:
        return (
            f"{self.name} is deprecated since {self.distribution} {self.deprecated_in} and is "
            f"removed in {self.removed_in}; use {self.replacement} instead. {self.hint}"
        )


# -- Deprecated APIs ----------------------------------------------------------------------
# One constant per deprecated name, grouped by the plugin that shims it.


def _policy_x(name: str, replacement: str, hint: str) -> Deprecation:
    """The PolicyX API of metta.agent (August 2025): deprecated in 0.1, gone in 1.0."""
    return Deprecation(f"metta.agent.{name}", "0.1.0", "1.0.0", replacement, hint)


# policy_store plugin: the legacy module paths
POLICY_STORE_MODULE = _policy_x(
    "policy_store", "checkpoint", "import CheckpointManager from checkpoint"
)
POLICY_RECORD_MODULE = _policy_x(
    "policy_record", "checkpoint", "import CheckpointInfo from checkpoint"
)
POLICY_METADATA_MODULE = _policy_x(
    "policy_metadata", "checkpoint", "read CheckpointInfo.metadata, a plain dict"
)
POLICY_CACHE_MODULE = _policy_x(
    "policy_cache", "functools", "cache loaded agents with functools.lru_cache"
)
MOCKS_MODULE = _policy_x(
    "mocks", "checkpoint", "build a checkpoint.CheckpointInfo in tests instead of a mock"
)
MOCK_POLICY_RECORD_MODULE = _policy_x(
    "mocks.mock_policy_record", "checkpoint", "build a checkpoint.CheckpointInfo in tests"
)

# policy_store plugin: the classes and calls
POLICY_STORE = _policy_x(
    "policy_store.PolicyStore",
    "checkpoint.CheckpointManager",
    "mgr = CheckpointManager(run_dir, run_name) replaces the store",
)
POLICY_STORE_CREATE = _policy_x(
    "policy_store.PolicyStore.create",
    "checkpoint.CheckpointManager",
    "mgr = CheckpointManager(run_dir, run_name); no wandb config is needed",
)
POLICY_STORE_POLICY_RECORD = _policy_x(
    "policy_store.PolicyStore.policy_record",
    "CheckpointManager.select",
    'info = mgr.select(strategy="best", n=1, metric=metric)[0] ("top" is "best")',
)
POLICY_STORE_POLICY_RECORDS = _policy_x(
    "policy_store.PolicyStore.policy_records",
    "CheckpointManager.select",
    'infos = mgr.select(strategy="best", n=n, metric=metric) ("top" is "best")',
)
POLICY_STORE_LOAD_FROM_URI = _policy_x(
    "policy_store.PolicyStore.load_from_uri",
    "CheckpointManager.load_agent / compat.load",
    "v1: mgr.load_agent(epoch); a legacy file: compat.load(path).state_dict",
)
POLICY_STORE_SAVE = _policy_x(
    "policy_store.PolicyStore.save",
    "CheckpointManager.save_agent",
    "mgr.save_agent(agent, epoch, metadata) writes a v1 checkpoint",
)
POLICY_STORE_RECORD_OR_MOCK = _policy_x(
    "policy_store.PolicyStore.policy_record_or_mock",
    "CheckpointManager.latest",
    "info = mgr.latest(); handle None explicitly instead of using a mock",
)
POLICY_STORE_ADD_TO_WANDB_RUN = _policy_x(
    "policy_store.PolicyStore.add_to_wandb_run",
    "wandb.Artifact + run.log_artifact",
    "upload the v1 pair yourself: artifact.add_file(str(info.path)) and "
    "artifact.add_file(str(info.sidecar_path)), then run.log_artifact(artifact)",
)
POLICY_STORE_ADD_TO_WANDB_SWEEP = _policy_x(
    "policy_store.PolicyStore.add_to_wandb_sweep",
    "wandb.Artifact + run.log_artifact",
    'upload the v1 pair yourself as a wandb.Artifact(sweep_name, type="sweep_model")',
)
POLICY_STORE_ADD_TO_WANDB_ARTIFACT = _policy_x(
    "policy_store.PolicyStore.add_to_wandb_artifact",
    "wandb.Artifact + run.log_artifact",
    "build the wandb.Artifact from the v1 pair (info.path and info.sidecar_path) yourself",
)
POLICY_SELECTOR_TYPE = _policy_x(
    "policy_store.PolicySelectorType",
    "checkpoint.CheckpointManager.select",
    'strategies are "latest", "best" and "all"',
)
POLICY_MISSING_ERROR = _policy_x(
    "policy_store.PolicyMissingError",
    "checkpoint.CheckpointNotFoundError",
    "catch checkpoint.CheckpointNotFoundError",
)
POLICY_RECORD = _policy_x(
    "policy_record.PolicyRecord",
    "checkpoint.CheckpointInfo",
    "CheckpointInfo has run_name, epoch, path, uri and metadata",
)
POLICY_RECORD_POLICY = _policy_x(
    "policy_record.PolicyRecord.policy",
    "CheckpointManager.load_agent",
    "agent = mgr.load_agent(info.epoch)",
)
POLICY_RECORD_NUM_PARAMS = _policy_x(
    "policy_record.PolicyRecord.num_params",
    "sum(p.numel() for p in agent.parameters() if p.requires_grad)",
    "count the parameters of the loaded agent",
)
POLICY_RECORD_WANDB_INFO = _policy_x(
    "policy_record.PolicyRecord.extract_wandb_run_info",
    "CheckpointInfo.key_and_version",
    "checkpoints are identified by (run_name, epoch)",
)
POLICY_METADATA = _policy_x(
    "policy_metadata.PolicyMetadata",
    "CheckpointInfo.metadata",
    "metadata is a plain dict: write metadata['epoch'], not metadata.epoch",
)
POLICY_CACHE = _policy_x(
    "policy_cache.PolicyCache",
    "functools.lru_cache",
    "wrap CheckpointManager.load_agent in functools.lru_cache(maxsize=n)",
)
MOCK_POLICY_RECORD = _policy_x(
    "mocks.mock_policy_record.MockPolicyRecord",
    "checkpoint.CheckpointInfo",
    "CheckpointInfo(run_name, epoch, path) is cheap to build in tests",
)
SIMPLE_CHECKPOINT_INFO = Deprecation(
    "SimpleCheckpointInfo",
    "0.1.0",
    "1.0.0",
    "checkpoint.CheckpointInfo",
    "CheckpointInfo.key_and_version() is the same (run_name, epoch) identity",
)
