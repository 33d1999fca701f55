"""``CortexTDConfig`` / ``CortexTD``: the recurrent core, a stack of cell blocks under ``stack``."""

from __future__ import annotations

from cortex.config import CortexStackConfig, LSTMCellConfig
from pydantic import ConfigDict
from torch import nn

from metta.agent.components.component_config import ComponentConfig


class CortexTDConfig(ComponentConfig):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    in_key: str
    out_key: str
    name: str = "cortex"
    d_hidden: int = 128
    out_features: int | None = None
    output_nonlinearity: str = "silu"
    stack_cfg: CortexStackConfig
    key_prefix: str = "cortex_state"
    dtype: str = "float32"
    compute_dtype: str | None = None
    store_dtype: str | None = None
    pass_state_during_training: bool = True


class _Cell(nn.Module):
    def __init__(self, d_hidden: int, cell: LSTMCellConfig):
        super().__init__()
        self.net = nn.LSTM(
            d_hidden, cell.hidden_size or d_hidden, cell.num_layers, batch_first=True
        )


class _Block(nn.Module):
    def __init__(self, d_hidden: int, cell: LSTMCellConfig):
        super().__init__()
        self.cell = _Cell(d_hidden, cell)


class _Stack(nn.Module):
    def __init__(self, config: CortexStackConfig):
        super().__init__()
        blocks = []
        for block in config.blocks:
            cell = block.cell if isinstance(block.cell, LSTMCellConfig) else LSTMCellConfig()
            blocks.append(_Block(config.d_hidden, cell))
        self.blocks = nn.ModuleList(blocks)


class CortexTD(nn.Module):
    def __init__(self, config: CortexTDConfig):
        super().__init__()
        self.stack = _Stack(config.stack_cfg)
