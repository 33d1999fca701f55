"""``ComponentPolicy``: a policy made of named layers in a ``components`` ModuleDict."""

from __future__ import annotations

from typing import Any

from torch import nn


class ComponentPolicy(nn.Module):
    def __init__(
        self,
        obs_width: int,
        obs_height: int,
        feature_normalizations: dict[int, float],
        config: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.config = config or {}
        self.clip_range = self.config.get("clip_range", 0)
        self.analyze_weights_interval = self.config.get("analyze_weights_interval", 300)
        self.agent_attributes = {
            "clip_range": self.clip_range,
            "feature_normalizations": feature_normalizations,
            "obs_width": obs_width,
            "obs_height": obs_height,
            "obs_key": "grid_obs",
            "obs_shape": [obs_height, obs_width, 3],
        }
        self.components = nn.ModuleDict()
        self.components.update(self._build_components())

    def _build_components(self) -> dict[str, nn.Module]:
        raise NotImplementedError
