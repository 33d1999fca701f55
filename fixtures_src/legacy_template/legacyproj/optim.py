"""A third-party-style optimizer subclass (as heavyball's ForeachMuon was for Metta)."""

from __future__ import annotations

from torch import optim


class LegacyAdam(optim.Adam):
    """Adam under a legacy import path; pickled whole inside trainer state files."""
