"""``compat.convert``: one legacy checkpoint in, one verified v1 checkpoint out.

The source is opened by the safe engine only (a refused file raises
``UnsafeCheckpointError`` before anything is written), the plugins' converter chain turns
what was recovered into a v1 draft, and the draft is written atomically and read back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checkpoint import CheckpointInfo, ConvertedFrom
from checkpoint._store import remote_url
from checkpoint.errors import NothingToConvertError, UnconvertibleCheckpointError
from compat.engine._inventory import TensorKey, tensor_key, tensor_keys, tensors_in
from compat.engine._safe import LoadResult, load
from compat.upgrade._chain import ConverterIndex, converter_index, run_chain
from compat.upgrade._draft import initial_draft, provenance, sha256_of
from compat.upgrade._targets import Target, target_of
from compat.upgrade._v1write import Written, output_epoch, write_v1

if TYPE_CHECKING:
    from checkpoint._remote import Published

__all__ = ["Conversion", "convert", "convert_file"]


@dataclass(frozen=True)
class Conversion:
    """A finished, verified conversion."""

    source: Path | str  # a str: a URL
    provenance: ConvertedFrom
    written: Written
    #: For a destination in object storage: the URLs of the outputs (``written`` holds
    #: the local copies they were published from, since removed).
    published: Published | None = None

    @property
    def info(self) -> CheckpointInfo:
        """The weights' info; for a trainer-only source, one pointing at the trainer file."""
        weights, trainer = self.written.weights, self.written.trainer
        if self.published is not None:
            url = self.published.weights or self.published.trainer
            assert url is not None
            path = Path(url.split("://", 1)[1])
            if weights is not None:
                return replace(weights, path=path, url=url)
            trainer = path
        if weights is not None:
            return weights
        assert trainer is not None
        return CheckpointInfo(
            self.written.run_name,
            self.written.epoch,
            trainer,
            {"epoch": self.written.epoch, "trainer_state": True},
        )

    def to_json(self) -> dict[str, object]:
        weights, trainer = self.written.weights, self.written.trainer
        return {
            "source": str(self.source),
            "run_name": self.written.run_name,
            "epoch": self.written.epoch,
            "weights": self.published.weights if self.published else weights and str(weights.path),
            "trainer_state": self.published.trainer if self.published else trainer and str(trainer),
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
    label: str | None = None,
    before_write: Callable[[int, ConvertedFrom], None] | None = None,
) -> Conversion:
    """Convert ``source`` into ``target``; ``converters`` defaults to the enabled plugins'.
    ``label``: the URL ``source`` is a copy of; ``before_write(epoch, provenance)`` runs
    once the outputs' epoch is known, before anything is written."""
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
    origin = provenance(result, sha256, migrations, label=label)
    if before_write is not None:
        before_write(output_epoch(draft, target), origin)
    written = write_v1(draft, target, origin, source, result.agent)
    return Conversion(label or source, origin, written)


def require_every_tensor(result: LoadResult, draft: Mapping[str, object], source: Path) -> None:
    """Raise unless every tensor of the source's graph is in the v1 draft (SPEC rule 3).

    The draft is then written and read back bit for bit, so together the two checks mean
    a conversion that reports success carried every tensor of its source.
    """
    placed = tensor_keys((draft.get("state_dict"), draft.get("trainer_state")))
    lost: dict[TensorKey, str] = {}  # named by their path in the source's graph, if it has one
    for graph in (result.root, result.state_dict):
        for path, tensor in tensors_in(graph, skip=placed):
            lost.setdefault(tensor_key(tensor), path)
    missing = list(lost.values())
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise UnconvertibleCheckpointError(
            f"would lose {len(missing)} tensor(s) of the source ({shown}); nothing was "
            "written. A converter plugin left them out of the draft: report it with the file",
            source,
        )


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> CheckpointInfo:
    """Write ``src`` (any checkpoint the safe engine opens) as the v1 checkpoint ``dst``.

    ``dst`` is ``<run>.e<8-digit epoch>.pt``, a directory (existing, or ending in ``/``;
    the run is then named after the source and the epoch read from it), or any other
    ``name.pt`` (written as is, its sidecar beside it; no manager lists such a name).
    Converting the same source to the same place again writes nothing and returns what is
    there. The result is read back and
    compared bit for bit before this returns. A trainer-state source gives
    ``<run>.e<epoch>.trainer.pt``, and the returned info points at it. Either side may be
    a URL (``s3://...``, any fsspec URL; ``storage_options`` go to fsspec): see
    ``compat.upgrade._remote``.
    """
    if remote_url(os.fspath(src)) is not None or remote_url(os.fspath(dst)) is not None:
        from compat.upgrade._remote import convert_remote  # fsspec: only for URLs

        return convert_remote(os.fspath(src), os.fspath(dst), storage_options).info
    return convert_file(Path(src), target_of(os.fspath(src), dst)).info
