"""Call sites written the way Metta code of August 2025 wrote them, left unchanged.

Run as a script: ``python legacy_callers.py RUN_DIR`` prints a JSON summary. The tests run
it as is, with the policy_store plugin disabled, and with COMPAT_STRICT=1.
"""

import json
import sys

import sample_agents  # noqa: F401  (the codebase's model module; registers NavAgent)
from metta.agent.mocks import MockPolicyRecord
from metta.agent.policy_metadata import PolicyMetadata
from metta.agent.policy_store import PolicyMissingError, PolicyStore


def kickstarter_teacher(policy_store, teacher_uri):
    """metta/rl/kickstarter.py: load the teacher policy."""
    return policy_store.policy_record(teacher_uri).policy


def sim_select_top(policy_store, policy_uri, metric, n):
    """metta/tools/sim.py: evaluate the top-n policies of a run."""
    return policy_store.policy_records(policy_uri, selector_type="top", n=n, metric=metric)


def analysis_by_uri(policy_store, uri):
    """metta/eval/analysis.py: describe one checkpoint."""
    pr = policy_store.load_from_uri(uri)
    return {
        "epoch": pr.metadata.epoch,
        "agent_step": pr.metadata["agent_step"],
        "params": pr.num_params(),
        "file": pr.file_path,
    }


def main(run_dir):
    policy_store = PolicyStore.create(
        device="cpu", data_dir=run_dir, wandb_config=None, wandb_run=None
    )
    teacher = kickstarter_teacher(policy_store, f"file://{run_dir}")
    top = sim_select_top(policy_store, run_dir, "navigation", 2)
    latest = policy_store.policy_record(run_dir, selector_type="latest")
    mock = policy_store.policy_record_or_mock(None, run_name="eval_mock")
    test_double = MockPolicyRecord.from_key_and_version("navigation", 3)
    metadata = PolicyMetadata(agent_step=10, epoch=1, generation=0, train_time=1.5)
    try:
        policy_store.policy_record(f"{run_dir}/missing")
        missing = "no error"
    except PolicyMissingError:
        missing = "PolicyMissingError"
    except FileNotFoundError:
        missing = "FileNotFoundError"
    print(
        json.dumps(
            {
                "teacher": type(teacher).__name__,
                "top": [pr.metadata.epoch for pr in top],
                "latest": latest.metadata.epoch,
                "analysis": analysis_by_uri(policy_store, latest.uri),
                "mock": mock.run_name,
                "test_double": list(test_double.key_and_version()),
                "metadata_epoch": metadata.epoch,
                "missing": missing,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
