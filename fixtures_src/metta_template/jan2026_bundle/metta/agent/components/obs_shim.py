"""Box observation shim config and its normalizer buffer."""

from __future__ import annotations

import torch
from torch import nn

from metta.agent.components.component_config import ComponentConfig


class ObsShimBoxConfig(ComponentConfig):
    in_key: str
    out_key: str
    name: str = "obs_shim_box"


class ObservationNormalizer(nn.Module):
    def __init__(self, feature_normalizations: dict[int, float]):
        super().__init__()
        channels = max(feature_normalizations) + 1
        obs_norm = torch.ones(channels, dtype=torch.float32)
        for index, value in feature_normalizations.items():
            obs_norm[index] = value
        self.register_buffer("obs_norm", obs_norm.view(1, channels, 1, 1))


class ObsShimBox(nn.Module):
    def __init__(self, feature_normalizations: dict[int, float]):
        super().__init__()
        self.observation_normalizer = ObservationNormalizer(feature_normalizations)
