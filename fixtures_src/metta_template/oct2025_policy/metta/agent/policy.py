"""``Policy`` (an ``nn.Module``) and ``PolicyArchitecture`` (its pydantic config)."""

from __future__ import annotations

from typing import ClassVar

from mettagrid.base_config import Config
from pydantic import ConfigDict, Field
from torch import nn

from metta.agent.components.component_config import ComponentConfig


class PolicyArchitecture(Config):
    class_path: str
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    components: list[ComponentConfig] = Field(default_factory=list)
    action_probs_config: ComponentConfig


class Policy(nn.Module):
    pass
