"""``ObservationNormalizer``: divides each observation channel by a persistent buffer."""

from __future__ import annotations

import torch

from metta.agent.lib.metta_layer import LayerBase


class ObservationNormalizer(LayerBase):
    def __init__(self, name: str, feature_normalizations: dict[int, float]):
        super().__init__(name)
        channels = max(feature_normalizations) + 1
        norm = torch.ones(channels, dtype=torch.float32)
        for index, value in feature_normalizations.items():
            norm[index] = value
        self.register_buffer("obs_norm", norm.view(1, channels, 1, 1))
        self._ready = True
