"""The agent class of the legacy-caller tests: what a codebase's model module looks like
after its one migration step, registering the class for rebuilding from v1 sidecars."""

from __future__ import annotations

import torch
from torch import nn

from checkpoint import register_agent_class


@register_agent_class
class NavAgent(nn.Module):
    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.hidden = hidden
        self.encoder = nn.Linear(4, hidden)
        self.actor = nn.Linear(hidden, 3)

    def checkpoint_config(self) -> dict[str, int]:
        return {"hidden": self.hidden}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.actor(torch.relu(self.encoder(x)))
