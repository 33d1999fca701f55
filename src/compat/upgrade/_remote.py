"""Conversion and migration with object storage on either side (``s3://``, any fsspec URL).

The engine reads local files, so a remote source is downloaded into a staging directory
that mirrors its place in the tree (a run named after its directory keeps that name),
converted there exactly as a local file is, and removed. Outputs bound for a URL are
written to a staging directory the same way and then published by the object-storage
commit protocol (``checkpoint._remote.publish``: trainer state, weights, then the sidecar,
created exclusively), after fetching the trainer file of the same epoch, if the
destination has one, so that several sources still merge into it. One source and its
outputs are on local disk at a time, never the tree.

A migration into a URL knows what is done from the sidecars there: a sidecar is committed
after its weights, so one whose weights are listed at the size it records is a finished
conversion (the weights are not downloaded again to be hashed, as a local re-run does).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from checkpoint._naming import SIDECAR_SUFFIX, TRAINER_SUFFIX, FileRole, parse_v1_name, stem
from checkpoint._remote import local_copy, publish, relabelled
from checkpoint._remotecatalog import FETCHERS
from checkpoint._sidecar import MAX_SIDECAR_BYTES, ConvertedFrom, Sidecar, parse_sidecar
from checkpoint._store import FsspecStore, ObjectInfo, remote_url
from checkpoint.errors import CheckpointCompatError, CheckpointError, MigrationInterrupted
from compat.engine._bundles import enabled_layouts
from compat.engine._containers import Format, detect
from compat.host._hookspecs import Layout
from compat.upgrade._chain import ConverterIndex, converter_index
from compat.upgrade._convert import Conversion, convert_file
from compat.upgrade._migrate import (
    _TRAINER_ONLY_FORMATS,
    Outcome,
    Status,
    _Arbiter,
    _Consult,
    _Existing,
    _finished,
    _Job,
    _newest_named_epoch,
    _one_thread,
    _Plan,
    _plan,
    _reason,
    _Run,
    _work,
)
from compat.upgrade._targets import Target, run_name_for, target_of
from compat.upgrade._tree import What, file_kind, is_bookkeeping, named_like_checkpoint
from compat.upgrade._v1write import trainer_provenance
from compat.upgrade._workers import StopFlag, stop_on_sigint

__all__ = ["convert_remote", "migrate_remote"]

#: Enough of an object's first bytes to tell a checkpoint from other files.
_HEAD = 4096


# -- one conversion -------------------------------------------------------------------------


def convert_remote(
    src: str, dst: str, storage_options: Mapping[str, Any] | None = None
) -> Conversion:
    """``compat.convert`` with a URL on either side (the other may be a local path);
    ``storage_options`` go to fsspec for both."""
    with tempfile.TemporaryDirectory(prefix="ckpt-convert-") as directory:
        staging = Path(directory)
        with ExitStack() as stack:
            source = Path(src)
            if remote_url(src) is not None:
                source = stack.enter_context(local_copy(src, storage_options))
            if remote_url(dst) is None:
                return convert_file(source, target_of(source, dst), label=_label(src))
            out = _Destination(dst, staging / "out", storage_options)
            with relabelled(out.staging, out.store.url):
                target = target_of(source, out.local_destination)
                conversion = convert_file(
                    source,
                    target,
                    label=_label(src),
                    before_write=lambda epoch, origin: out.fetch_trainer(target, epoch, origin),
                )
            return out.published(conversion)


def _label(location: str) -> str | None:
    return location if remote_url(location) is not None else None


class _Destination:
    """A ``compat.convert`` destination URL: a prefix (``s3://b/run7/``, or one holding
    objects) or an object's name, staged in ``staging``."""

    def __init__(self, url: str, staging: Path, storage_options: Mapping[str, Any] | None) -> None:
        staging.mkdir(parents=True)
        self.staging = staging
        as_prefix = FsspecStore(url, storage_options)
        if url.endswith("/") or any(True for _ in as_prefix.list()):
            self.store, self.local_destination = as_prefix, f"{staging}/"
        else:
            parent, _, name = url.rpartition("/")
            self.store = FsspecStore(parent, storage_options)
            self.local_destination = str(staging / name)

    def fetch_trainer(self, target: Target, epoch: int, origin: ConvertedFrom) -> None:
        """The destination's trainer file of ``epoch``, staged so the conversion merges
        into it (several sources feed one epoch's trainer file); not when the destination
        holds this very conversion already (``publish`` then says so, uploading nothing)."""
        base = target.stem if target.stem is not None else stem(target.run_name, epoch)
        try:
            raw = self.store.get(f"{base}{SIDECAR_SUFFIX}", MAX_SIDECAR_BYTES + 1)
            there = parse_sidecar(raw, Path(base)).converted_from
        except (CheckpointCompatError, OSError):
            there = None
        if there is None or there.sha256 != origin.sha256:
            _fetch_if_there(self.store, f"{base}{TRAINER_SUFFIX}", target.run_dir)

    def published(self, conversion: Conversion) -> Conversion:
        written = conversion.written
        weights = written.weights.path if written.weights is not None else None
        trainer = None if written.already_done else written.trainer
        with relabelled(self.staging, self.store.url):
            where = publish(self.store, "", weights, trainer)
        if written.already_done and written.trainer is not None:
            where = replace(where, trainer=self.store.url_of(written.trainer.name))
        done = written.already_done or where.already_there
        return replace(conversion, written=replace(written, already_done=done), published=where)


def _fetch_if_there(store: FsspecStore, name: str, directory: Path) -> None:
    """Download the object ``name``, if there is one, into ``directory`` (unless staged
    already)."""
    local = directory / name.rpartition("/")[2]
    if not local.exists() and store.info(name) is not None:
        directory.mkdir(parents=True, exist_ok=True)
        store.download(name, local)


# -- a migration ----------------------------------------------------------------------------


@dataclass
class _Side:
    """One side of a migration: a local tree, or a URL staged at ``staging``."""

    location: Path | str
    staging: Path
    store: FsspecStore | None = None
    storage_options: Mapping[str, Any] | None = None

    @property
    def local(self) -> Path:
        """Where this side's files are (or are staged) on local disk."""
        return self.staging if self.store is not None else Path(self.location)

    def relative(self, local: Path) -> str:
        """``local`` (below ``self.local``) as a name below the URL: ``a/b/x.pt``."""
        return local.relative_to(self.local).as_posix()

    def url_of(self, local: Path) -> str:
        assert self.store is not None
        return self.store.url_of(self.relative(local))

    def prefix_of(self, directory: Path) -> str:
        """A directory below ``self.local`` as a prefix of names: ``""`` or ``a/b/``."""
        inside = self.relative(directory)
        return "" if inside == "." else f"{inside}/"


def _side(location: Path | str, staging: Path, storage_options: Mapping[str, Any] | None) -> _Side:
    if isinstance(location, str) and remote_url(location) is not None:
        store = FsspecStore(location, storage_options)
        return _Side(location, staging / store.url.rpartition("/")[2], store, storage_options)
    return _Side(Path(location), staging)


def migrate_remote(
    root: Path | str,
    out: Path | str,
    *,
    dry_run: bool = False,
    track: Callable[[_Run], Iterable[Outcome]] = iter,
    stop: StopFlag | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> list[Outcome]:
    """``migrate`` with a URL for ``root``, ``out`` or both; one file at a time;
    ``storage_options`` go to fsspec for both.

    Same outcomes, same resumption, same rules for collisions; Ctrl-C raises
    ``MigrationInterrupted`` once the file in flight is done."""
    stop_given = stop is not None
    stop = stop or StopFlag()
    with (
        stop_on_sigint(stop, install=not stop_given),
        tempfile.TemporaryDirectory(prefix="ckpt-migrate-") as directory,
    ):
        source = _side(root, Path(directory) / "src", storage_options)
        output = _side(out, Path(directory) / "out", storage_options)
        plan = _remote_plan(source, output) if source.store else _plan(source.local, output.local)
        existing = _remote_finished(output) if output.store else _finished(output.local)
        init = (converter_index(), dry_run)
        arbiter = _Arbiter(plan.jobs, existing)
        staged = _Staged(source, output)
        run = _Run(plan.jobs, arbiter, init, None, stop, work=staged)
        if not stop.is_set():
            with _one_thread():
                for _ in track(run):
                    pass
        outcomes = [staged.located(outcome) for outcome in plan.skipped]
        for index, outcome in run.finished.items():
            notes = arbiter.notes.get(plan.jobs[index].source, [])
            detail = "; ".join([outcome.detail, *map(staged.relabel, notes)])
            outcomes.append(replace(outcome, detail=detail) if notes else outcome)
    outcomes.sort(key=lambda outcome: str(outcome.source))
    if len(run.finished) < len(plan.jobs):
        raise MigrationInterrupted(outcomes, len(run.finished), len(plan.jobs) - len(run.finished))
    return outcomes


@dataclass
class _Staged:
    """``_work`` for one job, with its source downloaded first and its outputs published
    after; outcomes name URLs, not staged copies."""

    source: _Side
    output: _Side
    _renames: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for side in (self.source, self.output):
            if side.store is not None:
                self._renames.append((f"{side.staging}/", f"{side.store.url}/"))
                self._renames.append((str(side.staging), side.store.url))

    def relabel(self, text: str) -> str:
        for staged, url in self._renames:
            text = text.replace(staged, url)
        return text

    def located(self, outcome: Outcome) -> Outcome:
        return replace(
            outcome,
            source=self.relabel(str(outcome.source)),
            detail=self.relabel(outcome.detail),
            outputs=tuple(map(self.relabel, outcome.outputs)),
        )

    def __call__(self, init: tuple[ConverterIndex, bool], job: _Job, consult: _Consult) -> Outcome:
        try:
            with self._fetched(job):
                outcome = _work(init, job, self._consult(job, consult))
                if outcome.status is Status.CONVERTED and self.output.store is not None:
                    outcome = self._publish(job, outcome)
        except CheckpointCompatError as exc:
            outcome = Outcome(job.source, Status.FAILED, _reason(exc))
        except OSError as exc:  # storage the library's own checks did not translate
            outcome = Outcome(job.source, Status.FAILED, f"{exc.strerror or exc}")
        finally:
            self._clean(job)
        return self.located(outcome)

    @contextmanager
    def _fetched(self, job: _Job) -> Iterator[None]:
        if job.label is None:
            yield
            return
        with local_copy(job.label, self.source.storage_options, within=job.source.parent):
            yield

    def _consult(self, job: _Job, consult: _Consult) -> _Consult:
        """When the outputs' slot is claimed (their epoch is known then, nothing is written
        yet), the destination's trainer file of that epoch is staged, to merge into."""

        def ask(kind: str, *arguments: Any) -> Any:
            if kind == "claim" and self.output.store is not None:
                self._fetch_trainer(job.target, arguments[1])
            return consult(kind, *arguments)

        return ask

    def _fetch_trainer(self, target: Target, epoch: int) -> None:
        assert self.output.store is not None
        name = f"{stem(target.run_name, epoch)}{TRAINER_SUFFIX}"
        _fetch_if_there(
            self.output.store, self.output.prefix_of(target.run_dir) + name, target.run_dir
        )

    def _publish(self, job: _Job, outcome: Outcome) -> Outcome:
        assert self.output.store is not None
        files = [Path(output) for output in outcome.outputs]
        trainer = next((f for f in files if f.name.endswith(TRAINER_SUFFIX)), None)
        weights = next((f for f in files if f != trainer), None)
        with relabelled(self.output.staging, self.output.store.url):
            where = publish(
                self.output.store, self.output.prefix_of(job.target.run_dir), weights, trainer
            )
        urls = tuple(url for url in (where.weights, where.trainer) if url is not None)
        return replace(outcome, outputs=urls)

    def _clean(self, job: _Job) -> None:
        """The staged outputs of ``job``, once published (the staged source goes with its
        ``local_copy``)."""
        if self.output.store is None or not job.target.run_dir.is_dir():
            return
        for entry in job.target.run_dir.iterdir():
            if entry.is_file():
                entry.unlink()


def _remote_plan(source: _Side, output: _Side) -> _Plan:
    """``_plan`` for a tree of objects: every object below the URL accounted for, as
    ``survey`` does for a directory, each checkpoint a job with a staged source path."""
    assert source.store is not None
    plan = _Plan()
    objects = {obj.name: obj for obj in source.store.walk()}
    if output.store is not None and output.store.url.startswith(source.store.url + "/"):
        inside = output.store.url.removeprefix(source.store.url + "/") + "/"
        objects = {name: obj for name, obj in objects.items() if not name.startswith(inside)}
    layouts = enabled_layouts()
    folders: dict[str, list[str]] = {}
    for name in objects:
        folder, _, base = name.rpartition("/")
        folders.setdefault(folder, []).append(base)
    bundles = _bundles(folders, layouts)
    hidden: set[str] = set()
    newest: dict[str, int] = {}
    for name, obj in sorted(objects.items()):
        folder, _, base = name.rpartition("/")
        local = source.local / name
        if any(name.startswith(bundle + "/") for bundle in bundles):
            continue
        concealed = _hidden_part(name)
        if concealed is not None:
            if concealed not in hidden:
                hidden.add(concealed)
                plan.skipped.append(Outcome(source.local / concealed, Status.SKIPPED, "hidden"))
            continue
        if is_bookkeeping(base) or _paired_sidecar(base, folders[folder]):
            continue
        if _already_v1(base, folders[folder]):
            plan.skipped.append(Outcome(local, Status.SKIPPED, "already v1 (left in place)"))
            continue
        what, why = _object_kind(source.store, obj, layouts)
        if what is What.SKIPPED:
            plan.skipped.append(Outcome(local, Status.SKIPPED, why))
            continue
        plan.jobs.append(_job(source, output, local, newest, folders[folder]))
    for bundle in sorted(bundles):
        local = source.local / bundle
        plan.jobs.append(_job(source, output, local, newest, folders[bundle.rpartition("/")[0]]))
    plan.jobs.sort(key=lambda job: str(job.source))
    return plan


def _job(
    source: _Side, output: _Side, local: Path, newest: dict[str, int], siblings: list[str]
) -> _Job:
    folder = source.relative(local.parent)
    if folder not in newest:
        newest[folder] = _newest_named_epoch(siblings)
    run_dir = output.local / local.parent.relative_to(source.local)
    target = Target(run_dir, run_name_for(local), trainer_epoch=newest[folder])
    return _Job(local, target, label=source.url_of(local))


def _bundles(folders: dict[str, list[str]], layouts: list[Layout]) -> set[str]:
    """The prefixes a layout describes (a transformers ``checkpoint-500/``), outermost."""
    found: set[str] = set()
    for folder in sorted(folders, key=lambda name: name.count("/")):
        if not folder or any(folder.startswith(bundle + "/") for bundle in found):
            continue
        if any(layout.members(folders[folder]) for layout in layouts):
            found.add(folder)
    return found


def _hidden_part(name: str) -> str | None:
    parts = name.split("/")
    for index, part in enumerate(parts):
        if part.startswith("."):
            return "/".join(parts[: index + 1])
    return None


def _paired_sidecar(base: str, siblings: list[str]) -> bool:
    parsed = parse_v1_name(base)
    return (
        parsed is not None
        and parsed.role is FileRole.SIDECAR
        and base.removesuffix(".yaml") + ".pt" in siblings
    )


def _already_v1(base: str, siblings: list[str]) -> bool:
    parsed = parse_v1_name(base)
    if parsed is None:
        return False
    return parsed.role is FileRole.TRAINER or (
        parsed.role is FileRole.WEIGHTS and base.removesuffix(".pt") + ".yaml" in siblings
    )


def _object_kind(store: FsspecStore, obj: ObjectInfo, layouts: list[Layout]) -> tuple[What, str]:
    """``file_kind`` for an object: by its name, else by its first bytes; a zip archive is
    downloaded (alone) to read its member names."""
    base = obj.name.rpartition("/")[2]
    if named_like_checkpoint(base):
        return What.FILE, ""
    if obj.size == 0:
        return What.SKIPPED, "an empty file"
    with tempfile.TemporaryDirectory(prefix="ckpt-head-") as directory:
        head = Path(directory) / base
        try:
            head.write_bytes(store.get(obj.name, _HEAD))
            if detect(head) is not Format.TORCH_ZIP:
                return file_kind(head, obj.size, layouts)
            store.download(obj.name, head)
        except (CheckpointError, OSError):
            return What.FILE, ""  # its conversion says what is wrong
        return file_kind(head, obj.size, layouts)


def _remote_finished(output: _Side) -> _Existing:
    """``_finished`` for an output tree of objects, keyed by the staged directories."""
    store = output.store
    assert store is not None
    existing = _Existing()
    objects = {obj.name: obj for obj in store.walk()}
    trainers: dict[str, set[str]] = {}
    for name in objects:
        if _role(name) is FileRole.TRAINER:
            trainers[name] = _trainer_origins(store, name, existing, output.local)
    names = [name for name in sorted(objects) if _role(name) is FileRole.SIDECAR]
    with ThreadPoolExecutor(FETCHERS, thread_name_prefix="ckpt-sidecar") as pool:
        read = pool.map(lambda name: _sidecar_or_none(store, name), names)
        sidecars = dict(zip(names, read, strict=True))
    for name, sidecar in sidecars.items():
        folder, _, base = name.rpartition("/")
        parsed = parse_v1_name(base)
        if parsed is None or sidecar is None:
            continue
        directory = output.local / folder if folder else output.local
        slot = (directory, parsed.run_name, parsed.epoch)
        origin = sidecar.converted_from
        if origin is None:
            existing.slots[slot] = ("a checkpoint not converted by ckpt migrate", "")
            continue
        existing.slots[slot] = (origin.path, origin.sha256)
        weights = objects.get(name.removesuffix(".yaml") + ".pt")
        if weights is None or weights.size != sidecar.size:
            continue
        trainer = name.removesuffix(".yaml") + TRAINER_SUFFIX
        paired = origin.sha256 in trainers.get(trainer, set())
        outputs = (store.url_of(weights.name), *[store.url_of(trainer)] * paired)
        existing.done[directory, origin.sha256] = outputs
    return existing


def _role(name: str) -> FileRole | None:
    parsed = parse_v1_name(name.rpartition("/")[2])
    return parsed.role if parsed is not None else None


def _sidecar_or_none(store: FsspecStore, name: str) -> Sidecar | None:
    """The sidecar object ``name``; ``None`` for one that cannot be read (not done)."""
    try:
        return parse_sidecar(store.get(name, MAX_SIDECAR_BYTES + 1), Path(name))
    except (CheckpointCompatError, OSError):
        return None


def _trainer_origins(store: FsspecStore, name: str, existing: _Existing, root: Path) -> set[str]:
    """The sources merged into the trainer object ``name``; a trainer-only source is done
    once it is among them."""
    folder = name.rpartition("/")[0]
    directory = root / folder if folder else root
    with tempfile.TemporaryDirectory(prefix="ckpt-trainer-") as staging:
        local = Path(staging) / name.rpartition("/")[2]
        try:
            store.download(name, local)
            origins = trainer_provenance(local)
        except (CheckpointCompatError, OSError):
            return set()
    for origin in origins:
        if origin["format"].split("/")[0] in _TRAINER_ONLY_FORMATS:
            existing.done[directory, origin["sha256"]] = (store.url_of(name),)
    return {origin["sha256"] for origin in origins}
