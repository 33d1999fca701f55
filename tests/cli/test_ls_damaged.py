"""``ckpt ls`` shows a damaged sidecar as ``damaged`` and exits 1 (issue 16, item 3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from checkpoint import CheckpointManager

LAUGHS = "{a: &a [lol, lol], b: &b [*a, *a, *a], c: [*b, *b, *b]}"


def _run(tmp_path: Path) -> Path:
    manager = CheckpointManager(tmp_path / "alpha", "alpha")
    for epoch in range(3):
        manager.save_agent({"w": torch.full((2,), float(epoch))}, epoch, {"score": epoch})
    sidecar = tmp_path / "alpha" / "alpha.e00000001.yaml"
    sidecar.write_text(sidecar.read_text().replace("epoch: 1", "epoch: three"))
    sidecar = tmp_path / "alpha" / "alpha.e00000002.yaml"
    sidecar.write_text(sidecar.read_text().replace("metrics: {}", f"metrics: {LAUGHS}"))
    return tmp_path


def _ckpt(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compat.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_ls_marks_damaged_sidecars_and_fails(tmp_path: Path) -> None:
    root = _run(tmp_path)
    result = _ckpt("ls", root)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert "2 damaged" in lines[0]
    assert [line.split()[2] for line in lines[2:]] == ["v1", "damaged", "damaged"]
    assert "alpha.e00000001.yaml: does not match the v1 sidecar schema" in result.stderr
    assert "anchors or aliases" in result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr


def test_ls_json_marks_damaged_sidecars(tmp_path: Path) -> None:
    root = _run(tmp_path)
    result = _ckpt("ls", root, "--json")
    assert result.returncode == 1, result.stderr
    entries = json.loads(result.stdout)
    assert [(entry["epoch"], entry["damaged"]) for entry in entries] == [
        (0, False),
        (1, True),
        (2, True),
    ]
    assert "epoch" in entries[1]["reason"] and "delete the checkpoint pair" in entries[1]["reason"]


def test_ls_of_a_healthy_run_exits_0(tmp_path: Path) -> None:
    CheckpointManager(tmp_path, "beta").save_agent({"w": torch.zeros(1)}, 4)
    result = _ckpt("ls", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "damaged" not in result.stdout
