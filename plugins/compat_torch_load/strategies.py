"""Load strategies by running torch version (``packaging.specifiers``).

The engine reads most weights-only files itself, with the C unpickler, faster than
``torch.load(weights_only=True)`` (benchmarks/bench_safe_load.py); it asks for a strategy
for the ones whose static scan could not clear that reader.

- torch >= 2.6: ``torch.load(weights_only=True)``, torch's own default since 2.6.
- 2.4 <= torch < 2.6: ``weights_only`` had to be passed explicitly (FutureWarning era).
- torch < 2.4: no safe-globals API at all.

Before 2.6, ``weights_only=True`` itself is known to be bypassable (CVE-2025-32434, fixed
in 2.6), so those releases get no ``torch.load`` at all: the inert engine reads the file,
and the strategy name says why.

``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` and ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` keep torch's
documented meaning: they change ``torch.load`` calls that do not pass ``weights_only``.
Every call here passes ``weights_only=True``, so the first is always satisfied and the
second never turns a load into an unsafe one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

__all__ = ["InertEngineOnly", "WeightsOnly", "choose_strategy"]

SAFE_WEIGHTS_ONLY = SpecifierSet(">=2.6")
NO_SAFE_GLOBALS_API = SpecifierSet("<2.4")
_UNSAFE = "its weights_only=True is known-unsafe (CVE-2025-32434, fixed in 2.6)"
_WEIGHTS_ONLY_FORMATS = frozenset({"torch-zip", "torch-legacy", "v1"})


@dataclass(frozen=True)
class WeightsOnly:
    """``torch.load(weights_only=True)``, reading each record whole.

    Not memory-mapped: a mapped storage is not checked against the size of its record, so
    a damaged file could read its neighbour's bytes. (``CheckpointManager`` maps the v1
    files it committed itself.)
    """

    name: str

    def __call__(self, path: Path, /) -> object:
        import torch  # here: the plugin host loads this module for `ckpt ls` too

        with warnings.catch_warnings():  # a protocol other than 2 is no news: the scan read it
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)


@dataclass(frozen=True)
class InertEngineOnly:
    """Declines, so that the inert engine reads the file; ``name`` records why."""

    name: str

    def __call__(self, path: Path, /) -> None:
        return None


def choose_strategy(
    file_format: str, torch_version: Version
) -> WeightsOnly | InertEngineOnly | None:
    """The strategy for a weights-only file of ``file_format`` on ``torch_version``."""
    if not SAFE_WEIGHTS_ONLY.contains(torch_version, prereleases=True):  # 2.6 pre-releases too
        era = (
            "has no safe-globals API"
            if NO_SAFE_GLOBALS_API.contains(torch_version, prereleases=True)
            else "needs weights_only passed explicitly"
        )
        return InertEngineOnly(f"inert engine: torch {torch_version} {era}, and {_UNSAFE}")
    if file_format not in _WEIGHTS_ONLY_FORMATS:
        return None
    return WeightsOnly(f"torch {torch_version} weights_only=True")
