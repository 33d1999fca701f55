"""Proving a committed checkpoint is intact: its bytes against its sidecar."""

from __future__ import annotations

from pathlib import Path

from ._info import CheckpointInfo
from ._naming import SIDECAR_SUFFIX, WEIGHTS_SUFFIX, parse_v1_name
from ._sidecar import read_sidecar
from ._storage import sha256_file
from ._ziparchive import ZipLayout
from .errors import CheckpointCorruptError, CheckpointNotFoundError


def pair_of(path: Path) -> tuple[Path, Path]:
    """The (weights, sidecar) paths of the v1 checkpoint ``path`` names (either file)."""
    parsed = parse_v1_name(path.name)
    if parsed is None or path.name.endswith(".trainer.pt"):
        raise CheckpointNotFoundError(
            "not a v1 checkpoint name (<run>.e<epoch>.pt or .yaml); "
            "for legacy files use `ckpt inspect` or compat.load",
            path,
        )
    base = path.with_name(path.name.removesuffix(SIDECAR_SUFFIX).removesuffix(WEIGHTS_SUFFIX))
    return base.with_name(base.name + WEIGHTS_SUFFIX), base.with_name(base.name + SIDECAR_SUFFIX)


def check_size(weights: Path, expected: int) -> None:
    """The cheap check every load makes: a truncated or swapped file changes size."""
    try:
        actual = weights.stat().st_size
    except FileNotFoundError as exc:
        raise CheckpointCorruptError(
            "weights file is missing but its sidecar exists; restore it from a backup "
            "or delete the sidecar",
            weights,
        ) from exc
    if actual != expected:
        raise CheckpointCorruptError(
            f"size is {actual} bytes but the sidecar records {expected}; the file was "
            "truncated or replaced, restore it from a backup",
            weights,
        )


def check_layout(weights: Path) -> None:
    """Refuse an archive two zip readers could read differently (two central directories,
    overlapping records, data before the first record): the sidecar's sha256 vouches for the
    bytes, not for which ``data.pkl`` torch's reader picks out of them."""
    with weights.open("rb") as file:
        ZipLayout.of_file(file, weights)


def verify_checkpoint(path: Path) -> CheckpointInfo:
    """Recompute size and sha256 of a v1 checkpoint and compare with its sidecar."""
    weights, sidecar_path = pair_of(Path(path))
    if not sidecar_path.exists():
        raise CheckpointNotFoundError(
            "no sidecar next to it, so it was never committed; re-save or convert it",
            weights,
        )
    return verify_file_pair(weights, sidecar_path)


def verify_file_pair(weights: Path, sidecar_path: Path) -> CheckpointInfo:
    """Check ``weights`` against the size and sha256 ``sidecar_path`` records, whatever the
    two are named (``ckpt convert`` may write ``name.pt`` and ``name.yaml``)."""
    sidecar = read_sidecar(sidecar_path)
    check_size(weights, sidecar.size)
    digest, _ = sha256_file(weights)
    if digest != sidecar.sha256:
        raise CheckpointCorruptError(
            f"sha256 is {digest} but the sidecar records {sidecar.sha256}; the bytes "
            "changed after commit, restore the file from a backup",
            weights,
        )
    check_layout(weights)
    return CheckpointInfo(
        run_name=sidecar.run_name,
        epoch=sidecar.epoch,
        path=weights,
        metadata=sidecar.flat_metadata(),
    )
