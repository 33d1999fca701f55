"""Registers the torch-version load strategies with the compat plugin host."""

from __future__ import annotations

from packaging.version import Version

import compat

from .strategies import InertEngineOnly, WeightsOnly, choose_strategy


@compat.hookimpl
def compat_choose_load_strategy(
    file_format: str, torch_version: Version
) -> WeightsOnly | InertEngineOnly | None:
    return choose_strategy(file_format, torch_version)
