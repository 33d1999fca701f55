"""The deprecated PolicyX API of metta.agent, kept alive as warning shims (SPEC §9).

Legacy code imports these from their old paths (``metta.agent.policy_store`` ...), served
by the ``policy_store`` plugin; ``checkpoint_identity`` is the one non-deprecated helper.
"""

from .identity import SimpleCheckpointInfo, checkpoint_identity
from .mocks.mock_policy_record import MockPolicyRecord
from .policy_cache import PolicyCache
from .policy_metadata import PolicyMetadata
from .policy_record import PolicyRecord
from .policy_store import PolicyMissingError, PolicyStore

__all__ = [
    "MockPolicyRecord",
    "PolicyCache",
    "PolicyMetadata",
    "PolicyMissingError",
    "PolicyRecord",
    "PolicyStore",
    "SimpleCheckpointInfo",
    "checkpoint_identity",
]
