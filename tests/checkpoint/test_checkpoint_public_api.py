"""The public surface of `checkpoint` resolves, and stays cheap to import."""

from __future__ import annotations

import subprocess
import sys

import checkpoint


def test_every_public_name_resolves_and_is_listed() -> None:
    assert sorted(checkpoint.__all__) == sorted(checkpoint._LAZY)
    for name in checkpoint.__all__:
        assert getattr(checkpoint, name) is not None, name
    assert set(checkpoint.__all__) <= set(dir(checkpoint))


def test_listing_and_errors_do_not_import_torch() -> None:
    code = (
        "import sys, checkpoint.errors\n"
        "from checkpoint import scan, verify_checkpoint, CheckpointInfo\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout == "False\n"
