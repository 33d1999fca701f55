"""``compat.convert``: one legacy checkpoint in, one verified v1 checkpoint out.

The source is opened by the safe engine only (a refused file raises
``UnsafeCheckpointError`` before anything is written), the plugins' converter chain turns
what was recovered into a v1 draft, and the draft is written atomically and read back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from checkpoint import CheckpointInfo, ConvertedFrom
from checkpoint.errors import NothingToConvertError, UnconvertibleCheckpointError
from compat.engine._inventory import tensor_key, tensors_in
from compat.engine._safe import LoadResult, load
from compat.upgrade._chain import ConverterIndex, converter_index, run_chain
from compat.upgrade._draft import initial_draft, provenance, sha256_of
from compat.upgrade._targets import Target, target_of
from compat.upgrade._v1write import Written, write_v1

__all__ = ["Conversion", "convert", "convert_file"]


@dataclass(frozen=True)
class Conversion:
    """A finished, verified conversion."""

    source: Path
    provenance: ConvertedFrom
    written: Written

    @property
    def info(self) -> CheckpointInfo:
        """The weights' info; for a trainer-only source, one pointing at the trainer file."""
        if self.written.weights is not None:
            return self.written.weights
        assert self.written.trainer is not None
        return CheckpointInfo(
            self.written.run_name,
            self.written.epoch,
            self.written.trainer,
            {"epoch": self.written.epoch, "trainer_state": True},
        )

    def to_json(self) -> dict[str, object]:
        return {
            "source": str(self.source),
            "run_name": self.written.run_name,
            "epoch": self.written.epoch,
            "weights": str(self.written.weights.path) if self.written.weights else None,
            "trainer_state": str(self.written.trainer) if self.written.trainer else None,
            "converted_from": self.provenance.model_dump(mode="json"),
            "verified": True,
            "already_done": self.written.already_done,
        }


def convert_file(
    source: Path,
    target: Target,
    converters: ConverterIndex | None = None,
    *,
    source_sha256: str | None = None,
) -> Conversion:
    """Convert ``source`` into ``target``; ``converters`` defaults to the enabled plugins'."""
    result = load(source, check_crc=True)  # first: it refuses what is no checkpoint file
    sha256 = source_sha256 or sha256_of(source)
    if not result.state_dict and not result.trainer_state:
        raise NothingToConvertError(
            "holds no weights, no optimizer, scheduler or RNG state and no tensor at all: "
            "there is nothing to convert; `ckpt inspect` shows what it holds",
            source,
        )
    draft, migrations = run_chain(
        initial_draft(result), converter_index() if converters is None else converters, source
    )
    require_every_tensor(result, draft, source)
    origin = provenance(result, sha256, migrations)
    return Conversion(source, origin, write_v1(draft, target, origin, source, result.agent))


def require_every_tensor(result: LoadResult, draft: Mapping[str, object], source: Path) -> None:
    """Raise unless every tensor of the source's graph is in the v1 draft (SPEC rule 3).

    The draft is then written and read back bit for bit, so together the two checks mean
    a conversion that reports success carried every tensor of its source.
    """
    carried = draft.get("state_dict"), draft.get("trainer_state")
    placed = {tensor_key(tensor) for _, tensor in tensors_in(carried)}
    missing = [
        path
        for path, tensor in tensors_in((result.root, result.state_dict))
        if tensor_key(tensor) not in placed
    ]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise UnconvertibleCheckpointError(
            f"would lose {len(missing)} tensor(s) of the source ({shown}); nothing was "
            "written. A converter plugin left them out of the draft: report it with the file",
            source,
        )


def convert(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> CheckpointInfo:
    """Write ``src`` (any checkpoint the safe engine opens) as the v1 checkpoint ``dst``.

    ``dst`` is ``<run>.e<8-digit epoch>.pt``, a directory (existing, or ending in ``/``;
    the run is then named after the source and the epoch read from it), or any other
    ``name.pt`` (written as is, its sidecar beside it; no manager lists such a name).
    Converting the same source to the same place again writes nothing and returns what is
    there. The result is read back and
    compared bit for bit before this returns. A trainer-state source gives
    ``<run>.e<epoch>.trainer.pt``, and the returned info points at it.
    """
    target = target_of(os.fspath(src), dst)  # first: it refuses URLs, which Path would fold
    return convert_file(Path(src), target).info
