"""``PolicyRecord``: the wrapper that old training loops pickled whole with ``torch.save``."""

from __future__ import annotations

from typing import Any


class PolicyRecord:
    """A policy plus where it came from and how it was trained."""

    def __init__(self, policy_store: Any, run_name: str, uri: str, metadata: Any) -> None:
        # Metta's record also carried its store; it is None in saved files.
        self._policy_store = policy_store
        self.run_name = run_name
        self.uri = uri
        self.metadata = metadata
        self._cached_policy: Any = None

    @property
    def policy(self) -> Any:
        return self._cached_policy
