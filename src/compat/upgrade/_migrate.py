"""``ckpt migrate``: convert every checkpoint of a run tree, in parallel, resumably.

Sources are only read. Outputs go to a separate tree (``<DIR>-v1`` next to ``DIR`` unless
``--out`` says otherwise), mirroring the source's directories. Each output records its
source's sha256 (sidecar ``converted_from``, or a trainer file's ``extra``), so a re-run
skips every source whose verified output exists and converts the rest: a killed run
resumes where it stopped, and a finished one is a no-op.

``--jobs N`` converts N files at a time: this process takes files too, and N - 1 worker
processes (``_workers``), each running torch single-threaded, are started once and reused,
so memory stays bounded by N x the largest checkpoint. Every decision about the tree as a
whole is taken here, in the parent: whether a source is already done, and which source may
write an output slot. A slot (run directory, run name, epoch) belongs to the source whose
name carries that epoch; a source whose content claims another source's slot, or two
sources claiming one slot, is a collision: reported, naming both, and never written over
the other, so the outcome does not depend on which file came first.

Ctrl-C stops handing out files, lets each file in flight finish (outputs are committed
atomically, so nothing half-written is left), and raises ``MigrationInterrupted`` with what
finished: re-running the same command resumes.
"""

from __future__ import annotations

import os
import pickle
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import torch

from checkpoint import read_sidecar, verify_checkpoint
from checkpoint._naming import FileRole, parse_legacy_name, parse_v1_name
from checkpoint.errors import (
    CheckpointCompatError,
    MigrationInterrupted,
    NothingToConvertError,
    UnsafeCheckpointError,
)
from compat.engine._bundles import enabled_layouts
from compat.engine._safe import Verdict, inspect, load
from compat.upgrade._chain import ConverterIndex, converter_index, run_chain
from compat.upgrade._convert import require_every_tensor
from compat.upgrade._draft import initial_draft, provenance, sha256_of
from compat.upgrade._targets import Target, run_name_for
from compat.upgrade._tree import What, survey
from compat.upgrade._v1write import output_epoch, trainer_provenance, write_v1
from compat.upgrade._workers import StopFlag, WorkerPool, stop_on_sigint

__all__ = [
    "WORKER_ENTRY",
    "Outcome",
    "Status",
    "migrate",
]

_SIDECAR = ".yaml"
#: What a worker process runs (see ``_workers.serve``).
WORKER_ENTRY = "compat.upgrade._migrate:_work"

Slot = tuple[Path, str, int]
"""Where a source's weights go: (output run directory, run name, epoch)."""


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

    source: Path | str  # a str: a URL
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
    #: The URL ``source`` is a staged copy of (``_remote``): what provenance records.
    label: str | None = None


@dataclass
class _Plan:
    jobs: list[_Job] = field(default_factory=list)
    skipped: list[Outcome] = field(default_factory=list)


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


@dataclass
class _Existing:
    """What an output tree already holds."""

    #: (output directory, source sha256) -> the verified outputs converted from that source.
    done: dict[tuple[Path, str], tuple[str, ...]] = field(default_factory=dict)
    #: Each committed weights slot -> (the source it was converted from, that source's sha256).
    slots: dict[Slot, tuple[str, str]] = field(default_factory=dict)


def _finished(out: Path) -> _Existing:
    """What ``out`` holds from earlier runs.

    ``done`` is keyed by directory too: two runs may hold byte-identical files, and each
    needs its own. A source with weights is done once its sidecar (committed last)
    verifies; a trainer-only source once its trainer file exists (committed atomically).
    """
    existing = _Existing()
    finished = existing.done
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
        parsed = parse_v1_name(sidecar.name)
        assert parsed is not None
        try:
            origin_of_weights = read_sidecar(sidecar).converted_from
        except (CheckpointCompatError, OSError):
            continue
        slot = (sidecar.parent, parsed.run_name, parsed.epoch)
        if origin_of_weights is None:
            existing.slots[slot] = ("a checkpoint not converted by ckpt migrate", "")
            continue
        existing.slots[slot] = (origin_of_weights.path, origin_of_weights.sha256)
        try:
            info = verify_checkpoint(sidecar)
        except (CheckpointCompatError, OSError):
            continue
        trainer = sidecar.with_name(sidecar.name.removesuffix(_SIDECAR) + ".trainer.pt")
        paired = origin_of_weights.sha256 in trainers.get(trainer, set())
        outputs = (str(info.path), *([str(trainer)] * paired))
        finished[sidecar.parent, origin_of_weights.sha256] = outputs
    return existing


# -- deciding for the whole tree ------------------------------------------------------------


class _Arbiter:
    """The parent's answers to what a conversion may do; thread-safe."""

    def __init__(self, jobs: list[_Job], existing: _Existing) -> None:
        self._jobs = jobs
        self._existing = existing
        self._lock = threading.Lock()
        self._claims: dict[Slot, tuple[Path, str]] = {}
        #: A slot -> the sources whose names carry it.
        self._owners: dict[Slot, list[Path]] = {}
        for job in jobs:
            named = parse_legacy_name(job.source.name)
            if named is not None and named.epoch is not None:
                slot = (job.target.run_dir, job.target.run_name, named.epoch)
                self._owners.setdefault(slot, []).append(job.source)
        #: Sources that kept their slot while another was refused it: noted in their outcome.
        self.notes: dict[Path, list[str]] = {}

    def answer(self, kind: str, index: int, arguments: tuple[Any, ...]) -> Outcome | None:
        job = self._jobs[index]
        if kind == "done?":
            return self._done(job, *arguments)
        if kind == "claim":
            return self._claim(job, *arguments)
        raise ValueError(f"unknown question {kind!r}")

    def _done(self, job: _Job, sha256: str) -> Outcome | None:
        outputs = self._existing.done.get((job.target.run_dir, sha256))
        return Outcome(job.source, Status.DONE, "verified", outputs) if outputs else None

    def _claim(self, job: _Job, sha256: str, epoch: int, weights: bool) -> Outcome | None:
        """``None``: ``job`` may write its outputs at ``epoch``; else the outcome instead.
        Only weights hold a slot: trainer states of one epoch merge."""
        if not weights:
            return None
        slot = (job.target.run_dir, job.target.run_name, epoch)
        where = f"run {job.target.run_name!r} epoch {epoch}"
        fix = (
            "nothing was written for it. Check which file really is that epoch, and move "
            "the other out of the tree (or rename it for its own epoch)"
        )
        with self._lock:
            earlier = self._existing.slots.get(slot)
            if earlier is not None and earlier[1] != sha256:
                return self._collision(
                    job, f"{where} already holds the conversion of {earlier[0]}; {fix}"
                )
            holder = self._claims.get(slot)
            if holder is not None and holder[1] == sha256:
                return Outcome(job.source, Status.DONE, f"the same bytes as {holder[0]}")
            if holder is not None:
                self.notes.setdefault(holder[0], []).append(
                    f"{job.source} claims the same epoch and was not converted"
                )
                return self._collision(job, f"{holder[0]} also claims {where}; {fix}")
            others = [owner for owner in self._owners.get(slot, []) if owner != job.source]
            if others:
                for owner in others:
                    self.notes.setdefault(owner, []).append(
                        f"{job.source} claims the epoch this file is named for and was not "
                        "converted"
                    )
                named = ", ".join(map(str, others))
                return self._collision(job, f"{where} is the epoch {named} is named for; {fix}")
            self._claims[slot] = (job.source, sha256)
            return None

    def _collision(self, job: _Job, detail: str) -> Outcome:
        return Outcome(job.source, Status.FAILED, f"collision: {detail}")


# -- converting -----------------------------------------------------------------------------


class _Consult(Protocol):
    def __call__(self, kind: str, *arguments: Any) -> Any: ...


def worker_started() -> None:
    """In a worker process, once: one thread, since the workers are the parallelism."""
    torch.set_num_threads(1)


def _work(  # noqa: PLR0911 - one outcome per way a file can end
    init: tuple[ConverterIndex, bool], job: _Job, consult: _Consult
) -> Outcome:
    """One source, in a worker or in the parent: hashed, then done, pending or converted.
    Every failure is an outcome, never a crash of the run."""
    converters, dry_run = init
    try:
        sha256 = sha256_of(job.source)
    except OSError as exc:
        return Outcome(job.source, Status.FAILED, f"cannot be read ({exc.strerror or exc})")
    verdict: Outcome | None = consult("done?", sha256)
    if verdict is not None:
        return verdict
    if dry_run:
        return _preview(job.source)
    try:
        return _convert(job, sha256, converters, consult)
    except UnsafeCheckpointError as exc:
        return Outcome(job.source, Status.REFUSED, _reason(exc))
    except NothingToConvertError as exc:
        return Outcome(job.source, Status.SKIPPED, _reason(exc))
    except CheckpointCompatError as exc:
        return Outcome(job.source, Status.FAILED, _reason(exc))
    except Exception as exc:  # a bug must not stop the other conversions
        return Outcome(job.source, Status.FAILED, f"{type(exc).__name__}: {exc}")


def _preview(source: Path) -> Outcome:
    """What the real run would make of ``source``, from the static scan alone (no tensor
    data is read): refused, unreadable, or to convert. Its status gives the same exit code."""
    try:
        report = inspect(source)
    except UnsafeCheckpointError as exc:
        return Outcome(source, Status.REFUSED, f"would be refused ({_reason(exc)})")
    except CheckpointCompatError as exc:
        return Outcome(source, Status.FAILED, f"unreadable ({_reason(exc)})")
    if report.verdict is Verdict.REFUSED:
        unsafe = ", ".join(report.refused_globals) or "; ".join(report.reasons)
        return Outcome(source, Status.REFUSED, f"would be refused (unsafe: {unsafe})")
    return Outcome(source, Status.PENDING, f"dry run: nothing written ({report.format})")


def _convert(job: _Job, sha256: str, converters: ConverterIndex, consult: _Consult) -> Outcome:
    """``convert_file``, with the weights' slot claimed from the parent before any write."""
    source, target = job.source, job.target
    result = load(source, check_crc=True)
    if not result.state_dict and not result.trainer_state:
        raise NothingToConvertError(
            "holds no weights, no optimizer, scheduler or RNG state and no tensor at all: "
            "there is nothing to convert; `ckpt inspect` shows what it holds",
            source,
        )
    draft, migrations = run_chain(initial_draft(result), converters, source)
    require_every_tensor(result, draft, source)
    origin = provenance(result, sha256, migrations, label=job.label)
    weights = bool(draft.get("state_dict"))
    refused: Outcome | None = consult("claim", sha256, output_epoch(draft, target), weights)
    if refused is not None:
        return refused
    written = write_v1(draft, target, origin, source, result.agent)
    outputs = [path for path in (written.weights and written.weights.path, written.trainer) if path]
    return Outcome(source, Status.CONVERTED, "verified", tuple(map(str, outputs)))


def _reason(exc: CheckpointCompatError) -> str:
    """The message without the leading path: the outcome already names the source."""
    path = getattr(exc, "path", None)
    return str(exc).removeprefix(f"{path}: ") if path is not None else str(exc)


class _Run(Sized, Iterable["Outcome"]):
    """The conversions of one migration, yielded as they finish (a progress bar counts
    them): this thread converts too, the workers (if any) in parallel."""

    def __init__(
        self,
        jobs: list[_Job],
        arbiter: _Arbiter,
        init: tuple[ConverterIndex, bool],
        pool: WorkerPool | None,
        stop: StopFlag,
        work: Callable[[tuple[ConverterIndex, bool], _Job, _Consult], Outcome] | None = None,
    ) -> None:
        self._work = work or _work  # the workers run ``_work`` itself
        self._jobs = jobs
        self._arbiter = arbiter
        self._init = init
        self._pool = pool
        self._stop = stop
        self._next = 0
        self._take_lock = threading.Lock()
        self._results: queue.SimpleQueue[tuple[int, Outcome]] = queue.SimpleQueue()
        self.finished: dict[int, Outcome] = {}

    def __len__(self) -> int:
        return len(self._jobs)

    def _take(self) -> tuple[int, _Job] | None:
        with self._take_lock:
            if self._stop.is_set() or self._next >= len(self._jobs):
                return None
            self._next += 1
            return self._next - 1, self._jobs[self._next - 1]

    def _done_remotely(self, index: int, result: object) -> None:
        if not isinstance(result, Outcome):
            result = Outcome(self._jobs[index].source, Status.FAILED, str(result))
        self._results.put((index, result))

    def __iter__(self) -> Iterator[Outcome]:
        self._stop.raising = False  # from now on Ctrl-C waits for the files in flight
        dispatcher = None
        if self._pool is not None:
            dispatcher = self._pool.run(
                self._init,
                self._take,
                self._arbiter.answer,
                self._done_remotely,
                self._stop,
            )
        try:
            while len(self.finished) < len(self._jobs):
                yield from self._collect(block=False)
                if self._stop.is_set():
                    break
                taken = self._take()
                if taken is not None:
                    index, job = taken

                    def consult(kind: str, *arguments: Any, index: int = index) -> Any:
                        return self._arbiter.answer(kind, index, arguments)

                    self._results.put((index, self._work(self._init, job, consult)))
                elif dispatcher is None or not dispatcher.is_alive():
                    yield from self._collect(block=False)
                    break
                else:
                    yield from self._collect(block=True)
        finally:
            self._stop.set()  # no new job for any worker: the loop above is over
            if dispatcher is not None:
                dispatcher.join()  # the files in flight finish
            for _ in self._collect(block=False):
                pass  # recorded in ``finished``; the caller reads them there

    def _collect(self, *, block: bool) -> Iterator[Outcome]:
        while True:
            try:
                index, outcome = (
                    self._results.get(timeout=0.1) if block else (self._results.get_nowait())
                )
            except queue.Empty:
                return
            self.finished[index] = outcome
            yield outcome
            block = False


@contextmanager
def _one_thread() -> Iterator[None]:
    """One torch thread while converting, here as in the workers: the work is many small
    operations (hashing, unpickling, comparing), which threads only slow down, and with
    ``--jobs`` the processes are the parallelism (measured: 1.3x faster with one thread
    even at ``--jobs 1``, on the 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _shippable(init: object) -> bool:
    try:
        pickle.dumps(init)
    except Exception:  # a plugin's converter that cannot be pickled: convert here only
        return False
    return True


def migrate(
    root: Path,
    out: Path,
    *,
    jobs: int = 1,
    dry_run: bool = False,
    track: Callable[[_Run], Iterable[Outcome]] = iter,
    pool: WorkerPool | None = None,
    stop: StopFlag | None = None,
) -> list[Outcome]:
    """Convert every checkpoint below ``root`` into ``out``; one outcome per file found.

    ``track`` wraps the conversions as they finish (the CLI passes a progress bar).
    ``pool``: workers the caller started early (it closes them); by default ``jobs - 1``
    are started here when there are files enough. Ctrl-C raises ``MigrationInterrupted``
    once the files in flight are done (before any is, ``KeyboardInterrupt``); a caller
    that installs ``stop_on_sigint`` itself passes its flag as ``stop``.
    """
    stop_given = stop is not None
    own_pool = None
    if pool is None and jobs > 1:  # started first: their start-up overlaps the planning
        pool = own_pool = WorkerPool(jobs - 1, WORKER_ENTRY)
    try:
        stop = stop or StopFlag()
        with stop_on_sigint(stop, install=not stop_given):
            plan = _plan(root, out)
            existing = _finished(out)
            init = (converter_index(), dry_run)
            if pool is not None and (len(plan.jobs) < 2 or not _shippable(init)):
                pool = None
            arbiter = _Arbiter(plan.jobs, existing)
            run = _Run(plan.jobs, arbiter, init, pool, stop)
            if not stop.is_set():
                with _one_thread():
                    for _ in track(run):
                        pass
    finally:
        if own_pool is not None:
            own_pool.close()
    outcomes = list(plan.skipped)
    for index, outcome in run.finished.items():
        notes = arbiter.notes.get(plan.jobs[index].source)
        outcomes.append(
            replace(outcome, detail="; ".join([outcome.detail, *notes])) if notes else outcome
        )
    outcomes.sort(key=lambda outcome: str(outcome.source))
    if len(run.finished) < len(plan.jobs):
        raise MigrationInterrupted(outcomes, len(run.finished), len(plan.jobs) - len(run.finished))
    return outcomes
