"""``CNNEncoder``: two convolutions and two linear layers (cnn1, cnn2, fc1, encoded_obs)."""

from __future__ import annotations

from pydantic import Field
from torch import nn

from metta.agent.components.component_config import ComponentConfig


class CNNEncoderConfig(ComponentConfig):
    in_key: str
    out_key: str
    name: str = "cnn_encoder"
    cnn1_cfg: dict[str, int] = Field(
        default_factory=lambda: {"out_channels": 64, "kernel_size": 5, "stride": 3}
    )
    cnn2_cfg: dict[str, int] = Field(
        default_factory=lambda: {"out_channels": 64, "kernel_size": 3, "stride": 1}
    )
    fc1_cfg: dict[str, int] = Field(default_factory=lambda: {"out_features": 128})
    encoded_obs_cfg: dict[str, int] = Field(default_factory=lambda: {"out_features": 128})


def _side(size: int, cfg: dict[str, int]) -> int:
    return (size - cfg["kernel_size"]) // cfg["stride"] + 1


class CNNEncoder(nn.Module):
    def __init__(self, config: CNNEncoderConfig, num_layers: int, obs_width: int, obs_height: int):
        super().__init__()
        self.config = config
        self.cnn1 = nn.Conv2d(num_layers, **config.cnn1_cfg)
        self.cnn2 = nn.Conv2d(config.cnn1_cfg["out_channels"], **config.cnn2_cfg)
        self.flatten = nn.Flatten()
        height = _side(_side(obs_height, config.cnn1_cfg), config.cnn2_cfg)
        width = _side(_side(obs_width, config.cnn1_cfg), config.cnn2_cfg)
        flat = config.cnn2_cfg["out_channels"] * height * width
        self.fc1 = nn.Linear(flat, config.fc1_cfg["out_features"])
        self.encoded_obs = nn.Linear(
            config.fc1_cfg["out_features"], config.encoded_obs_cfg["out_features"]
        )
