"""Locations of the corpora the safe engine is tested against."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
CORPUS = TESTS / "fixtures" / "legacy"
HOSTILE = CORPUS / "hostile"
#: The real Metta checkpoints live next to the clone, in ../shared (absent in some CI).
METTA = REPO.parent / "shared" / "fixtures" / "metta"
#: Packages the legacy files reference: none may be needed (or importable) in these tests.
FORBIDDEN = ("metta", "omegaconf", "gymnasium", "heavyball", "legacyproj")
