"""``metta.agent.mocks``: test doubles of the PolicyX API."""

from .mock_policy_record import MockPolicyRecord

__all__ = ["MockPolicyRecord"]
