"""``ActionProbs``: turns logits into actions and log-probs (no parameters)."""

from __future__ import annotations

from torch import nn

from metta.agent.components.component_config import ComponentConfig


class ActionProbsConfig(ComponentConfig):
    in_key: str
    name: str = "action_probs"


class ActionProbs(nn.Module):
    def __init__(self, config: ActionProbsConfig):
        super().__init__()
        self.config = config
        self.num_actions = 0
