"""The README's first command: ``ckpt migrate examples/legacy_run --out DIR``."""

from __future__ import annotations

import json
from pathlib import Path

from convert_helpers import run_ckpt

from checkpoint import CheckpointManager

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "legacy_run"


def test_the_bundled_legacy_run_is_small() -> None:
    names = sorted(path.name for path in EXAMPLE.iterdir())
    assert names == [f"model_000{i}.pt" for i in range(1, 5)] + ["trainer_state.pt"]
    assert sum(path.stat().st_size for path in EXAMPLE.iterdir()) < 1_000_000


def test_the_readme_command_migrates_it_and_refuses_the_hostile_file(tmp_path: Path) -> None:
    before = {path.name: path.read_bytes() for path in EXAMPLE.iterdir()}
    out = tmp_path / "legacy_run-v1"
    result = run_ckpt("migrate", EXAMPLE, "--out", out, "--json")
    assert result.returncode == 3, result.stderr  # 3: a file was refused as unsafe
    statuses = {Path(r["source"]).name: r["status"] for r in json.loads(result.stdout)["results"]}
    assert statuses == {
        "model_0001.pt": "converted",
        "model_0002.pt": "converted",
        "model_0003.pt": "converted",
        "model_0004.pt": "refused",
        "trainer_state.pt": "converted",
    }
    manager = CheckpointManager(out, "legacy_run")
    assert [info.epoch for info in manager.list()] == [1, 2, 3]
    assert manager.load_trainer_state(3) is not None
    for epoch in (1, 2, 3):
        manager.verify(epoch)
    assert {path.name: path.read_bytes() for path in EXAMPLE.iterdir()} == before
    again = run_ckpt("migrate", EXAMPLE, "--out", out)
    assert "4 already done, 1 refused" in again.stdout
