"""``CortexStackConfig`` and the block / cell configs one LSTM layer needs.

Simplified: the real auto-built stack (``build_cortex_auto_config(pattern="L")``) holds column
blocks; here one ``PassThroughBlockConfig`` with an ``LSTMCellConfig`` stands in for it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SerializeAsAny


class CellConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    hidden_size: int | None = None


class LSTMCellConfig(CellConfig):
    cell_type: str = "lstm"
    hidden_size: int | None = None
    num_layers: int = 1
    bias: bool = True
    dropout: float = 0.0
    proj_size: int = 0


class BlockConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    cell: SerializeAsAny[CellConfig | None] = None


class PassThroughBlockConfig(BlockConfig):
    block_type: str = "passthrough"


class CortexStackConfig(BaseModel):
    blocks: list[SerializeAsAny[BlockConfig]]
    d_hidden: int
    post_norm: bool = True
    compile_blocks: bool = True
