"""``metta.agent.mocks.mock_policy_record``: a record with no file behind it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

import compat
from compat.deprecations import MOCK_POLICY_RECORD

from ..policy_record import PolicyRecord

__all__ = ["MockPolicyRecord"]


class MockAgent(nn.Module):
    """A parameter-free stand-in policy: returns its input."""

    def forward(self, x: Any) -> Any:
        return x


@compat.deprecated(MOCK_POLICY_RECORD)
class MockPolicyRecord(PolicyRecord):
    def __init__(
        self,
        policy_store: Any = None,
        run_name: str = "mock_run",
        uri: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(policy_store, run_name, uri or f"mock://{run_name}", metadata or {})
        self._cached_policy = MockAgent()

    @classmethod
    def from_key_and_version(cls, policy_key: str, policy_version: int) -> MockPolicyRecord:
        """A mock whose ``key_and_version()`` is ``(policy_key, policy_version)``."""
        return cls(
            run_name=policy_key,
            uri=f"mock://{policy_key}:v{policy_version}",
            metadata={"epoch": policy_version},
        )
