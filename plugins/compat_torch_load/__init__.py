"""The ``torch_load`` plugin: how weights-only files are read on each torch release.

Only files whose every global torch's weights-only unpickler accepts reach a strategy
(plain state_dicts, v1 checkpoints, trainer states of plain data); everything else always
goes through the inert engine. Switching this plugin off leaves every file to the inert
engine: slower, equally safe.
"""

from .strategies import InertEngineOnly, WeightsOnly, choose_strategy

__all__ = ["InertEngineOnly", "WeightsOnly", "choose_strategy"]
