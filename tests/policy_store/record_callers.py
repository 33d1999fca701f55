"""Call sites written the way Metta code of August 2025 wrote them, against legacy records.

Run as a script from the parent of a directory of legacy checkpoints:
``python record_callers.py DIR`` prints a JSON summary. The test runs it as is.
"""

import json
import sys

from metta.agent.policy_store import PolicyMissingError, PolicyStore


def request_eval_records(policy_store, policy_uri, select_num, select_metric):
    """tools/request_eval.py: the policies to evaluate."""
    try:
        return policy_store.policy_records(
            uri_or_config=policy_uri,
            selector_type="top",
            n=select_num,
            metric=select_metric,
        )
    except PolicyMissingError:
        return []


def describe(policy_store, policy_uri):
    """What the trainer logged about a checkpoint it started from."""
    pr = policy_store.policy_record(policy_uri, selector_type="latest")
    return {"epoch": pr.metadata.epoch, "params": pr.num_params(), "file": pr.file_path}


def main(directory):
    policy_store = PolicyStore(device="cpu", data_dir="./train_dir")
    summary = {}
    for form in (f"file://./{directory}", f"file://{directory}"):
        top = request_eval_records(policy_store, form, 2, "score")
        summary[form] = {
            "top": [pr.metadata.epoch for pr in top],
            "scores": [pr.metadata["score"] for pr in top],
            "latest": describe(policy_store, form),
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1])
