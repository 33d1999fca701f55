"""``metta.agent.metta_agent.MettaAgent``: the module the September 2025 trainer pickled whole.

It wraps the policy in ``self.policy`` and, after ``initialize_to_environment``, carries plain
tensor attributes (``cum_action_max_params``, ``action_index_tensor``) that are pickled with it
but are not in its ``state_dict()``.
"""

from __future__ import annotations

import torch
from torch import nn

from metta.agent.agent_config import AgentConfig


class MettaAgent(nn.Module):
    def __init__(
        self,
        obs_width: int,
        obs_height: int,
        feature_normalizations: dict[int, float],
        policy_architecture_cfg: AgentConfig,
        policy: nn.Module,
        device: str = "cpu",
    ):
        super().__init__()
        self.cfg = policy_architecture_cfg
        self.device = device
        self.obs_width = obs_width
        self.obs_height = obs_height
        self.feature_normalizations = dict(feature_normalizations)
        self.policy = policy
        self._total_params = sum(p.numel() for p in self.parameters() if p.requires_grad)

    def initialize_to_environment(
        self,
        features: dict[str, dict[str, float]],
        action_names: list[str],
        action_max_params: list[int],
    ) -> None:
        self.feature_id_to_name = {int(props["id"]): name for name, props in features.items()}
        self.original_feature_mapping = {name: int(props["id"]) for name, props in features.items()}
        self.action_names = list(action_names)
        self.action_max_params = list(action_max_params)
        self.cum_action_max_params = torch.cumsum(
            torch.tensor([0, *action_max_params], dtype=torch.long), dim=0
        )
        self.action_index_tensor = torch.tensor(
            [[index, j] for index, top in enumerate(action_max_params) for j in range(top + 1)],
            dtype=torch.int32,
        )
