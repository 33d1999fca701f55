"""The deprecated PolicyX API of metta.agent, kept alive as warning shims (SPEC §9).

Legacy code imports these from their old paths (``metta.agent.policy_store`` ...), served
by the ``policy_store`` plugin; ``checkpoint_identity`` is the one non-deprecated helper.
The names load on first use (PEP 562): the plugin host imports ``.plugin`` at start-up,
and that must not import the checkpoint manager (and torch) for a ``ckpt ls``.
"""

from importlib import import_module

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .identity import SimpleCheckpointInfo, checkpoint_identity
    from .mocks.mock_policy_record import MockPolicyRecord
    from .policy_cache import PolicyCache
    from .policy_metadata import PolicyMetadata
    from .policy_record import PolicyRecord
    from .policy_store import PolicyMissingError, PolicyStore

#: Public name -> the submodule that defines it.
_LAZY = {
    "MockPolicyRecord": ".mocks.mock_policy_record",
    "PolicyCache": ".policy_cache",
    "PolicyMetadata": ".policy_metadata",
    "PolicyMissingError": ".policy_store",
    "PolicyRecord": ".policy_record",
    "PolicyStore": ".policy_store",
    "SimpleCheckpointInfo": ".identity",
    "checkpoint_identity": ".identity",
}

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


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
