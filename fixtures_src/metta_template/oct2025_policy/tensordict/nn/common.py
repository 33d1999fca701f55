"""``tensordict.nn.common.TensorDictModule``: wraps a module as ``self.module`` with keys."""

from __future__ import annotations

from torch import nn


class TensorDictModule(nn.Module):
    def __init__(self, module: nn.Module, in_keys: list[str], out_keys: list[str]):
        super().__init__()
        self.module = module
        self.in_keys = list(in_keys)
        self.out_keys = list(out_keys)
