"""Fixtures of the safe loading engine's tests: where the corpora live."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# tests/digest.py holds the digest rule shared with tests/test_legacy_corpus.py.
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
