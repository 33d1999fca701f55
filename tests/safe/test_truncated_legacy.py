"""A truncated legacy (non-zip) torch file is damaged, not hostile: unreadable, exit 1
(issue 11, item 8), wherever the cut falls: in a pickle, in the key list or in a storage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import compat
from checkpoint.errors import UnreadableCheckpointError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LEGACY_FILES = [
    FIXTURES / "realworld" / "torch14" / "training_dict_legacy.pt",
    FIXTURES / "realworld" / "torch14" / "model_whole_legacy.pt",
    FIXTURES / "legacy" / "torch-1.13.1" / "record_legacy.pt",
]


@pytest.mark.parametrize("source", LEGACY_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("kept", [0.02, 0.3, 0.6, 0.9, 0.999])
def test_a_truncated_legacy_file_is_unreadable(source: Path, kept: float, tmp_path: Path) -> None:
    data = source.read_bytes()
    cut = tmp_path / source.name
    cut.write_bytes(data[: int(len(data) * kept)])
    with pytest.raises(UnreadableCheckpointError, match=cut.name):
        compat.load(cut)


def test_ckpt_inspect_of_a_truncated_legacy_file_exits_1(tmp_path: Path) -> None:
    cut = tmp_path / "model_0001.pt"
    data = LEGACY_FILES[0].read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    result = subprocess.run(
        [sys.executable, "-m", "compat.cli", "inspect", str(cut)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
