"""``LayerBase`` / ``ParamLayer``: component layers that keep their torch module in ``_net``."""

from __future__ import annotations

from typing import Any

from torch import nn


class LayerBase(nn.Module):
    def __init__(self, name: str, sources: list[dict[str, Any]] | None = None, **nn_params: Any):
        super().__init__()
        self._name = name
        self._sources = list(sources or [])
        self._nn_params = dict(nn_params)
        self._in_tensor_shapes: list[list[int]] = []
        self._out_tensor_shape: list[int] = []
        self._net: nn.Module | None = None
        self._ready = False

    def setup(self, net: nn.Module, in_shape: list[int], out_shape: list[int]) -> None:
        self._in_tensor_shapes = [list(in_shape)]
        self._out_tensor_shape = list(out_shape)
        self._net = net
        self._ready = True


class ParamLayer(LayerBase):
    """A layer with weights, optionally followed by a nonlinearity (``_net = Sequential``)."""

    def __init__(self, name: str, nonlinearity: str | None = "nn.ReLU", **kwargs: Any):
        super().__init__(name, **kwargs)
        self.nonlinearity = nonlinearity
        self.initialization = "Orthogonal"
        self.clip_scale = 1
        self.global_clip_range = 0
        self.clip_value = 0
        self.analyze_weights_bool = False

    def setup_weights(
        self, weight_net: nn.Module, in_shape: list[int], out_shape: list[int]
    ) -> None:
        net: nn.Module = weight_net
        if self.nonlinearity is not None:
            activation = getattr(nn, self.nonlinearity.split(".")[-1])
            net = nn.Sequential(weight_net, activation())
        self.setup(net, in_shape, out_shape)
