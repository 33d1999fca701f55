"""``Conv2d``, ``Linear`` and ``Flatten`` component layers."""

from __future__ import annotations

from typing import Any

from torch import nn

from metta.agent.lib.metta_layer import LayerBase, ParamLayer


class Conv2d(ParamLayer):
    def __init__(self, name: str, in_channels: int, grid: int, **nn_params: Any):
        super().__init__(name, **nn_params)
        conv = nn.Conv2d(in_channels, **self._nn_params)
        side = (grid - int(conv.kernel_size[0])) // int(conv.stride[0]) + 1
        self.setup_weights(conv, [in_channels, grid, grid], [conv.out_channels, side, side])


class Linear(ParamLayer):
    def __init__(self, name: str, in_features: int, **nn_params: Any):
        nonlinearity = nn_params.pop("nonlinearity", "nn.ReLU")
        super().__init__(name, nonlinearity=nonlinearity, **nn_params)
        linear = nn.Linear(in_features, **self._nn_params)
        self.setup_weights(linear, [in_features], [linear.out_features])


class Flatten(LayerBase):
    def __init__(self, name: str, in_shape: list[int]):
        super().__init__(name)
        size = 1
        for dim in in_shape:
            size *= dim
        self.setup(nn.Flatten(), in_shape, [size])
