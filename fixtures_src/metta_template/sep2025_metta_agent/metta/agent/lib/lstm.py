"""``metta.agent.lib.lstm.LSTM``: an ``nn.LSTM`` in ``_net`` plus per-environment state."""

from __future__ import annotations

import torch
from torch import nn

from metta.agent.lib.metta_layer import LayerBase


class LSTM(LayerBase):
    def __init__(self, name: str, input_size: int, hidden_size: int, num_layers: int = 1):
        super().__init__(name)
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.lstm_h: dict[int, torch.Tensor] = {}
        self.lstm_c: dict[int, torch.Tensor] = {}
        self.setup(nn.LSTM(input_size, hidden_size, num_layers), [input_size], [hidden_size])
