"""Helpers of the converter tests: the corpora, and running ``ckpt`` in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:  # tests/digest.py: the digest rule shared by the corpus tests
    sys.path.insert(0, str(TESTS))

LEGACY = TESTS / "fixtures" / "legacy"
HOSTILE = LEGACY / "hostile"
#: The real Metta checkpoints live next to the clone, in ../shared (absent in some CI).
METTA = TESTS.parent.parent / "shared" / "fixtures" / "metta"
CKPT = [sys.executable, "-m", "compat.cli"]


def metta_manifest() -> dict[str, dict[str, object]]:
    """The shared Metta fixtures' MANIFEST entries; empty when /work/shared is absent."""
    manifest = METTA / "MANIFEST.json"
    return json.loads(manifest.read_text())["files"] if manifest.exists() else {}


requires_metta = pytest.mark.skipif(
    not (METTA / "MANIFEST.json").exists(),
    reason=f"the shared Metta fixtures are not on this machine ({METTA})",
)


def run_ckpt(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``ckpt ARGS`` in a fresh interpreter, piped (so no progress bar)."""
    return subprocess.run(
        [*CKPT, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=300,
    )


def popen_ckpt(*args: str | Path) -> subprocess.Popen[str]:
    """``ckpt ARGS`` started in its own session, so a test can kill it and its workers."""
    return subprocess.Popen(
        [*CKPT, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
