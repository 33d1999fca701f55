"""``metta.agent.policy_metadata``: a dict with four required figures and attribute access."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import compat
from compat.deprecations import POLICY_METADATA

__all__ = ["PolicyMetadata"]

REQUIRED_FIELDS = ("agent_step", "epoch", "generation", "train_time")


@compat.deprecated(POLICY_METADATA)
class PolicyMetadata(dict[str, Any]):
    """Checkpoint metadata; ``metadata.epoch`` and ``metadata["epoch"]`` are the same."""

    def __init__(
        self,
        agent_step: int = 0,
        epoch: int = 0,
        generation: int = 0,
        train_time: float = 0.0,
        **extra: Any,
    ) -> None:
        super().__init__(
            agent_step=agent_step,
            epoch=epoch,
            generation=generation,
            train_time=train_time,
            **extra,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyMetadata:
        """Build from a mapping that must hold every required field."""
        missing = [field for field in REQUIRED_FIELDS if field not in data]
        if missing:
            raise ValueError(f"PolicyMetadata is missing required fields {missing}")
        return cls(**dict(data))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"PolicyMetadata has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"PolicyMetadata has no field {name!r}") from None
