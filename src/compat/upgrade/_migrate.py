"""``ckpt migrate``: convert every checkpoint of a run tree, in parallel, resumably.

Sources are only read. Outputs go to a separate tree (``<DIR>-v1`` next to ``DIR`` unless
``--out`` says otherwise), mirroring the source's directories. Each output records its
source's sha256 (sidecar ``converted_from``, or a trainer file's ``extra``), so a re-run
skips every source whose verified output exists and converts the rest: a killed run
resumes where it stopped, and a finished one is a no-op. Workers are spawned processes,
one checkpoint each at a time, so memory stays bounded by jobs x the largest checkpoint.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from checkpoint import read_sidecar, verify_checkpoint
from checkpoint._naming import FileRole, parse_legacy_name, parse_v1_name
from checkpoint.errors import (
    CheckpointCompatError,
    NothingToConvertError,
    UnsafeCheckpointError,
)
from compat.engine._bundles import enabled_layouts
from compat.upgrade._chain import ConverterIndex, converter_index
from compat.upgrade._convert import convert_file
from compat.upgrade._draft import sha256_of
from compat.upgrade._targets import Target, run_name_for
from compat.upgrade._tree import What, survey
from compat.upgrade._v1write import trainer_provenance

__all__ = ["Outcome", "Status", "default_out", "migrate"]

_SIDECAR = ".yaml"

R = TypeVar("R")


class Status(StrEnum):
    CONVERTED = "converted"
    DONE = "already done"
    PENDING = "to convert"
    SKIPPED = "skipped"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    """What happened to one source file."""

    source: Path
    status: Status
    detail: str = ""
    outputs: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "source": str(self.source),
            "status": str(self.status),
            "detail": self.detail,
            "outputs": list(self.outputs),
        }


@dataclass(frozen=True)
class _Job:
    source: Path
    target: Target


@dataclass
class _Plan:
    jobs: list[_Job] = field(default_factory=list)
    skipped: list[Outcome] = field(default_factory=list)


def default_out(root: Path) -> Path:
    """``<DIR>-v1`` next to ``DIR``: never inside the source tree."""
    resolved = root.resolve()
    return resolved.with_name(f"{resolved.name}-v1")


# -- planning -------------------------------------------------------------------------------


def _already_v1(directory: Path, name: str) -> bool:
    parsed = parse_v1_name(name)
    if parsed is None:
        return False
    sidecar = directory / (name.removesuffix(".pt") + _SIDECAR)
    return parsed.role is FileRole.TRAINER or sidecar.exists()


def _newest_named_epoch(names: Iterable[str]) -> int:
    """Trainer files without an epoch pair with the newest epoch their directory names."""
    epochs = [legacy.epoch for legacy in map(parse_legacy_name, names) if legacy and legacy.epoch]
    return max(epochs, default=0)


def _plan(root: Path, out: Path) -> _Plan:
    plan = _Plan()
    newest: dict[Path, int] = {}  # per directory: the epoch a trainer file without one pairs with
    for entry in survey(root, enabled_layouts(), exclude=out):
        source = entry.path
        if entry.what is What.SKIPPED:
            plan.skipped.append(Outcome(source, Status.SKIPPED, entry.reason))
        elif _already_v1(source.parent, source.name):
            plan.skipped.append(Outcome(source, Status.SKIPPED, "already v1 (left in place)"))
        else:
            if source.parent not in newest:
                newest[source.parent] = _newest_named_epoch(os.listdir(source.parent))
            run_dir = out / source.parent.relative_to(root)
            target = Target(run_dir, run_name_for(source), trainer_epoch=newest[source.parent])
            plan.jobs.append(_Job(source, target))
    return plan


# -- finished outputs -----------------------------------------------------------------------


#: Formats that convert to a trainer file alone: that file is their whole output.
_TRAINER_ONLY_FORMATS = frozenset(
    {"trainer_state", "optimizer", "scheduler", "rng_state", "unknown"}
)


def _finished(out: Path) -> dict[tuple[Path, str], tuple[str, ...]]:
    """(output directory, source sha256) -> the verified outputs converted from that source.

    Keyed by directory too: two runs may hold byte-identical files, and each needs its own.

    A source with weights is finished once its sidecar (committed last) verifies; a
    trainer-only source once its trainer file exists (it is committed atomically).
    """
    finished: dict[tuple[Path, str], tuple[str, ...]] = {}
    trainers: dict[Path, set[str]] = {}
    sidecars: list[Path] = []
    for walked, _, names in os.walk(out):
        directory = Path(walked)
        for name in names:
            parsed = parse_v1_name(name)
            if parsed is not None and parsed.role is FileRole.TRAINER:
                origins = trainer_provenance(directory / name)
                trainers[directory / name] = {origin["sha256"] for origin in origins}
                for origin in origins:
                    if origin["format"].split("/")[0] in _TRAINER_ONLY_FORMATS:
                        finished[directory, origin["sha256"]] = (str(directory / name),)
            elif parsed is not None and parsed.role is FileRole.SIDECAR:
                sidecars.append(directory / name)
    for sidecar in sidecars:
        try:
            info = verify_checkpoint(sidecar)
            origin_of_weights = read_sidecar(sidecar).converted_from
        except (CheckpointCompatError, OSError):
            continue
        if origin_of_weights is not None:
            trainer = sidecar.with_name(sidecar.name.removesuffix(_SIDECAR) + ".trainer.pt")
            paired = origin_of_weights.sha256 in trainers.get(trainer, set())
            outputs = (str(info.path), *([str(trainer)] * paired))
            finished[sidecar.parent, origin_of_weights.sha256] = outputs
    return finished


# -- converting -----------------------------------------------------------------------------


def _convert_job(job: _Job, sha256: str, converters: ConverterIndex) -> Outcome:
    """One conversion in a worker: every failure is an outcome, never a crash of the run."""
    try:
        conversion = convert_file(job.source, job.target, converters, source_sha256=sha256)
    except UnsafeCheckpointError as exc:
        return Outcome(job.source, Status.REFUSED, _reason(exc))
    except NothingToConvertError as exc:
        return Outcome(job.source, Status.SKIPPED, _reason(exc))
    except CheckpointCompatError as exc:
        return Outcome(job.source, Status.FAILED, _reason(exc))
    except Exception as exc:  # a bug must not stop the other conversions
        return Outcome(job.source, Status.FAILED, f"{type(exc).__name__}: {exc}")
    written = conversion.written
    outputs = [path for path in (written.weights and written.weights.path, written.trainer) if path]
    return Outcome(job.source, Status.CONVERTED, "verified", tuple(map(str, outputs)))


def _reason(exc: CheckpointCompatError) -> str:
    """The message without the leading path: the outcome already names the source."""
    path = getattr(exc, "path", None)
    return str(exc).removeprefix(f"{path}: ") if path is not None else str(exc)


def _outcome_of(future: Future[Outcome], job: _Job) -> Outcome:
    try:
        return future.result()
    except Exception as exc:  # a worker died, or a plugin's converter could not be shipped
        return Outcome(job.source, Status.FAILED, f"{type(exc).__name__}: {exc}")


def _safe_sha256(path: Path) -> str | None:
    try:
        return sha256_of(path)
    except OSError:
        return None


class _Deferred(Future[R]):
    """A call run in this process when its result is first asked for (so a bar advances)."""

    def __init__(self, call: Callable[[], R]) -> None:
        super().__init__()
        self._call = call

    def result(self, timeout: float | None = None) -> R:
        if not self.done():
            self.set_result(self._call())
        return super().result(timeout)


class _InProcess(Executor):
    """``--jobs 1``: the same code path, without spawning a worker."""

    def submit(self, fn: Callable[..., R], /, *args: object, **kwargs: object) -> Future[R]:
        return _Deferred(lambda: fn(*args, **kwargs))


def _executor(jobs: int) -> Executor:
    if jobs == 1:
        return _InProcess()
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


def migrate(
    root: Path,
    out: Path,
    *,
    jobs: int = 1,
    dry_run: bool = False,
    track: Callable[[Sequence[Future[Outcome]]], Iterable[Future[Outcome]]] = iter,
) -> list[Outcome]:
    """Convert every checkpoint below ``root`` into ``out``; one outcome per file found.

    ``track`` wraps the pending conversions (the CLI passes a progress bar).
    """
    plan = _plan(root, out)
    finished = _finished(out)
    converters = converter_index()
    outcomes = list(plan.skipped)
    with _executor(jobs) as pool:
        hashes = list(pool.map(_safe_sha256, [job.source for job in plan.jobs]))
        pending: dict[Future[Outcome], _Job] = {}
        for job, sha256 in zip(plan.jobs, hashes, strict=True):
            if sha256 is None:
                outcomes.append(Outcome(job.source, Status.FAILED, "cannot be read"))
            elif (job.target.run_dir, sha256) in finished:
                outputs = finished[job.target.run_dir, sha256]
                outcomes.append(Outcome(job.source, Status.DONE, "verified", outputs))
            elif dry_run:
                outcomes.append(Outcome(job.source, Status.PENDING, "dry run: nothing written"))
            else:
                pending[pool.submit(_convert_job, job, sha256, converters)] = job
        outcomes.extend(_outcome_of(future, pending[future]) for future in track(list(pending)))
    return sorted(outcomes, key=lambda outcome: str(outcome.source))
