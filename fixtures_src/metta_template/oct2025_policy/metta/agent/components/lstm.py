"""``metta.agent.components.lstm.LSTM``: ``nn.LSTM`` in ``net`` plus per-environment state."""

from __future__ import annotations

import torch
from torch import nn

from metta.agent.components.component_config import ComponentConfig


class LSTMConfig(ComponentConfig):
    in_key: str
    out_key: str
    name: str = "lstm"
    latent_size: int = 128
    hidden_size: int = 128
    num_layers: int = 2


class LSTM(nn.Module):
    def __init__(self, config: LSTMConfig):
        super().__init__()
        self.config = config
        self.latent_size = config.latent_size
        self.hidden_size = config.hidden_size
        self.num_layers = config.num_layers
        self.in_key = config.in_key
        self.out_key = config.out_key
        self.net = nn.LSTM(self.latent_size, self.hidden_size, self.num_layers, batch_first=True)
        self.lstm_h: dict[int, torch.Tensor] = {}
        self.lstm_c: dict[int, torch.Tensor] = {}
