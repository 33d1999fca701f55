"""``MettaAgent``: a small recurrent agent covering the module features legacy loaders trip on.

It has BatchNorm running statistics, an LSTM (whose pickled ``__dict__`` also carries
``_flat_weights``), a ModuleDict, Sequentials of Conv2d/Linear/ReLU, an Embedding whose weight
is tied to the actor head, a persistent and a non-persistent buffer, a custom layer class from a
legacy path, and plain Python attributes (a config dict, a ``torch.device``, a numpy array).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from legacyproj.agent.lib.observation_normalizer import ObservationNormalizer

try:  # numpy is optional in the old venvs; the array attribute is skipped without it.
    import numpy as np
except ImportError:  # pragma: no cover - depends on the venv
    np = None


class MettaAgent(nn.Module):
    """Conv encoder -> BatchNorm -> LSTM -> tied actor head + value head."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        channels = int(config["obs_channels"])
        hidden = int(config["hidden_size"])
        actions = int(config["num_actions"])
        grid = int(config["obs_grid"])
        flat = 4 * (grid - 2) * (grid - 2)
        self.config = dict(config)
        self.device = torch.device("cpu")
        if np is not None:
            self.obs_scale = np.linspace(0.5, 1.5, channels, dtype=np.float32)
        self.components = nn.ModuleDict(
            {
                "obs_normalizer": ObservationNormalizer(channels),
                "cnn": nn.Sequential(
                    nn.Conv2d(channels, 4, kernel_size=3),
                    nn.ReLU(),
                    nn.Flatten(),
                    nn.Linear(flat, hidden),
                    nn.ReLU(),
                ),
                "bn": nn.BatchNorm1d(hidden),
            }
        )
        self.lstm = nn.LSTM(hidden, hidden, num_layers=1)
        self.action_embeds = nn.Embedding(actions, hidden)
        self.actor = nn.Linear(hidden, actions, bias=False)
        # Tied weights: two modules share one Parameter, so state_dict() lists it under both
        # "action_embeds.weight" and "actor.weight" while the pickle stores one storage.
        self.actor.weight = self.action_embeds.weight
        self.value = nn.Sequential(nn.Linear(hidden, 8), nn.ReLU(), nn.Linear(8, 1))
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))
        self.register_buffer("scratch", torch.zeros(hidden), persistent=False)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.components["obs_normalizer"](obs)
        x = self.components["cnn"](x)
        x = self.components["bn"](x)
        x, _ = self.lstm(x.unsqueeze(0))
        x = x.squeeze(0) + self.scratch
        return self.actor(x), self.value(x)
