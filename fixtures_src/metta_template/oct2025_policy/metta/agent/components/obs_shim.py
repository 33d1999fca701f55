"""Box observation shim: token-to-box reshaper plus a per-channel normalizer buffer."""

from __future__ import annotations

import torch
from torch import nn

from metta.agent.components.component_config import ComponentConfig


class ObsShimBoxConfig(ComponentConfig):
    in_key: str
    out_key: str
    name: str = "obs_shim_box"


class ObsTokenToBoxShim(nn.Module):
    def __init__(self, obs_width: int, obs_height: int, num_layers: int, in_key: str = "env_obs"):
        super().__init__()
        self.in_key = in_key
        self.out_key = "box_obs"
        self.out_width = obs_width
        self.out_height = obs_height
        self.num_layers = num_layers


class ObservationNormalizer(nn.Module):
    def __init__(self, feature_normalizations: dict[int, float], out_key: str):
        super().__init__()
        self.in_key = "box_obs"
        self.out_key = out_key
        self.feature_normalizations = dict(feature_normalizations)
        channels = max(feature_normalizations) + 1
        obs_norm = torch.ones(channels, dtype=torch.float32)
        for index, value in feature_normalizations.items():
            obs_norm[index] = value
        self.register_buffer("obs_norm", obs_norm.view(1, channels, 1, 1))


class ObsShimBox(nn.Module):
    def __init__(
        self,
        obs_width: int,
        obs_height: int,
        feature_normalizations: dict[int, float],
        config: ObsShimBoxConfig,
    ):
        super().__init__()
        self.in_key = config.in_key
        self.out_key = config.out_key
        channels = max(feature_normalizations) + 1
        self.token_to_box_shim = ObsTokenToBoxShim(
            obs_width, obs_height, channels, in_key=self.in_key
        )
        self.observation_normalizer = ObservationNormalizer(
            feature_normalizations, out_key=self.out_key
        )
