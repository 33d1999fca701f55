"""``compat.inspect`` and ``compat.load``: read any checkpoint without running its code.

``inspect`` reads only the container's directory and the main pickle, statically.
``load`` inspects first, refuses what the verdict refuses, then builds the object graph
with an inert unpickler (the C one wherever the scan proves that safe, else the
opcode-watching one) and recovers weights, metadata and trainer state from it. Only
``trust=True`` unpickles for real, per call, with a warning, and never for a file that
names the dangerous set of SPEC §8.
"""

from __future__ import annotations

import functools
import os
import pickle
import struct
import warnings
import zipfile
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

import torch
from packaging.version import Version

from checkpoint import read_sidecar
from checkpoint._store import remote_url
from checkpoint._tensornames import weights_globals
from checkpoint._tensorpickle import StorageSource
from checkpoint._wording import plural
from checkpoint._ziparchive import ZIP_ERRORS, ZipStorages
from checkpoint.errors import (
    CheckpointError,
    UnreadableCheckpointError,
    UnsafeCheckpointError,
    UntrustedLoadWarning,
)
from compat.engine._allowlist import (
    TRUST_REFUSED,
    WEIGHTS_ONLY,
    Allowlist,
    Category,
    canonical,
    classify,
    is_dangerous,
)
from compat.engine._bundles import (
    Bundle,
    enabled_layouts,
    find_bundle,
    member_files,
    read_member,
)
from compat.engine._containers import (
    LEGACY_MAGIC,
    Bounded,
    Format,
    MainPickle,
    detect,
    is_zip,
    main_pickle,
    read_pickle,
    safetensors_header,
)
from compat.engine._deferred import Unsettled
from compat.engine._inert import FastInertUnpickler, InertUnpickler, needs_watching
from compat.engine._legacy_storages import LegacyStorages
from compat.engine._plaindata import materialising
from compat.engine._recover import Kind, recover
from compat.engine._safetensors import read_safetensors
from compat.engine._scan import UNRESOLVED, PickleScan, quiet_escapes, scan_pickle
from compat.engine._trusted import TrustedUnpickler
from compat.host._hookspecs import BundleMember, Materialiser, SafeGlobals
from compat.host._pluginhost import get_host

__all__ = [
    "Format",
    "GlobalInfo",
    "InspectReport",
    "Kind",
    "LoadResult",
    "Verdict",
    "inspect",
    "load",
]

_LEGACY_PROTOCOL = 1001


INERT_ENGINE = "inert engine"
TRUSTED = "trusted unpickling (trust=True)"


class Verdict(StrEnum):
    """What the engine will do with a file."""

    WEIGHTS_ONLY = "weights-only loadable"
    INERT = "needs the inert engine"
    NO_PICKLE = "no pickle: tensors only"
    REFUSED = "refused"


#: Verdicts from the mildest: a checkpoint of several files gets its members' worst.
_SEVERITY = (Verdict.NO_PICKLE, Verdict.WEIGHTS_ONLY, Verdict.INERT, Verdict.REFUSED)


@dataclass(frozen=True)
class GlobalInfo:
    """One global a pickle references, as written in the file."""

    name: str
    category: Category
    #: Applied to arguments (REDUCE, NEWOBJ, INST, OBJ) rather than only referred to.
    called: bool


@dataclass(frozen=True)
class InspectReport:
    """What a static reading of a checkpoint found; nothing in it was executed."""

    path: Path
    format: Format
    verdict: Verdict
    reasons: tuple[str, ...]
    protocol: int | None = None
    globals: tuple[GlobalInfo, ...] = ()
    #: Globals of pickles hidden in bytes (what a nested ``pickle.loads`` would run).
    nested_globals: tuple[str, ...] = ()
    torch_version_hints: tuple[str, ...] = ()
    #: The globals behind a refusal: the dangerous set and unvetted functions it calls.
    refused_globals: tuple[str, ...] = ()
    #: The refusal stands even for ``load(trust=True)`` (every refusal does).
    refused_even_with_trust: bool = False
    #: Why ``load(trust=True)`` refuses a file the inert engine reads (``builtins.getattr``,
    #: calls of a call's result): trusted unpickling would really make those calls.
    refused_with_trust: tuple[str, ...] = ()
    #: For a checkpoint of several files (``Format.BUNDLE``), the layout that named them.
    layout: str | None = None
    #: For a checkpoint in object storage, its URL (``path`` is then its path in there).
    url: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.url or str(self.path),
            "format": str(self.format),
            "verdict": str(self.verdict),
            "reasons": list(self.reasons),
            "protocol": self.protocol,
            "globals": [
                {"name": info.name, "category": str(info.category), "called": info.called}
                for info in self.globals
            ],
            "nested_globals": list(self.nested_globals),
            "torch_version_hints": list(self.torch_version_hints),
            "refused_globals": list(self.refused_globals),
            "refused_even_with_trust": self.refused_even_with_trust,
            "refused_with_trust": list(self.refused_with_trust),
            "layout": self.layout,
        }


@dataclass(frozen=True)
class LoadResult:
    """What ``compat.load`` recovered from a checkpoint."""

    path: Path
    kind: Kind
    source_format: Format
    #: The weights, in the order ``state_dict()`` gives; tied tensors share storage.
    state_dict: OrderedDict[str, torch.Tensor]
    #: Record metadata, or the plain-data entries of a dict checkpoint.
    metadata: dict[str, object]
    #: Optimizer state dicts (standard shape) and counters, when the file has them.
    trainer_state: dict[str, object] | None
    #: Classes the file names that were not imported (they stayed inert).
    legacy_classes: tuple[str, ...]
    #: How many inert objects of each class were built.
    placeholders: Mapping[str, int] = field(default_factory=dict)
    #: The whole object graph (placeholders included), for what the recovery does not cover.
    root: object = None
    #: How the pickle was read: the inert engine, a plugin's load strategy, or trusted.
    strategy: str = INERT_ENGINE
    #: The agent as an instance of a current class, when a rename mapped its old class
    #: (``compat_safe_globals``) or ``trust=True`` unpickled it; otherwise ``None``.
    agent: torch.nn.Module | None = None
    #: For a checkpoint in object storage, its URL (``path`` is then its path in there).
    url: str | None = None
    #: For a checkpoint of several files (``Format.BUNDLE``), the layout that named them.
    layout: str | None = None


def inspect(
    path: str | os.PathLike[str],
    *,
    safe_globals: Iterable[SafeGlobals] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> InspectReport:
    """Report a file's container, torch-version hints, globals and verdict, reading only.

    Raises ``UnreadableCheckpointError`` when the file or its pickle cannot be read. A URL
    (``s3://...``, any fsspec URL) is read from a temporary local copy; ``storage_options``
    go to fsspec.
    """
    url = remote_url(path)
    if url is not None:
        from checkpoint._remote import local_copy  # the manager and fsspec: only for URLs

        with local_copy(url, storage_options) as local:
            return replace(inspect(local, safe_globals=safe_globals), **_located(url))
    source = Path(path)
    allowlist = _allowlist(safe_globals)
    bundle = _bundle(source)
    if bundle is not None:
        return _inspect_bundle(bundle, allowlist)
    return _inspect_file(source, allowlist)


def _located(url: str) -> dict[str, Any]:
    """The ``path`` and ``url`` fields of what was read from ``url``'s local copy."""
    return {"path": Path(url.split("://", 1)[1]), "url": url}


def _inspect_file(source: Path, allowlist: Allowlist) -> InspectReport:
    fmt = _detect(source)
    main = _main_pickle(source, fmt)
    scan = _scan(source, main)
    return _report(source, _v1_only_if_plain(fmt, scan), main, scan, allowlist)


def _v1_only_if_plain(fmt: Format, scan: PickleScan | None) -> Format:
    """A v1 weights file holds a plain state_dict: one whose pickle names anything else is
    a torch zip with a sidecar beside it, which it does not get to use."""
    if fmt is Format.V1 and scan is not None and not scan.globals <= weights_globals():
        return Format.TORCH_ZIP
    return fmt


def load(
    path: str | os.PathLike[str],
    trust: bool = False,
    *,
    safe_globals: Iterable[SafeGlobals] | None = None,
    check_crc: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> LoadResult:
    """Load any checkpoint safely: weights, metadata, trainer state and what stayed inert.

    ``safe_globals`` are vetted classes and renames; by default the enabled plugins'
    ``compat_safe_globals`` contributions.
    The CRC of the pickle is always checked; ``check_crc=True`` checks every record of a
    zip archive too, tensor data included (one more read of the file), which
    ``torch.load`` never does. ``compat.convert`` always does.
    ``trust=True`` really unpickles (with a warning) the rare file that needs it; the
    dangerous set of SPEC §8 is refused even then. Raises ``UnsafeCheckpointError`` for a
    refused file and ``UnreadableCheckpointError`` for a damaged or foreign one. A URL
    (``s3://...``, any fsspec URL) is read from a temporary local copy; ``storage_options``
    go to fsspec.
    """
    url = remote_url(path)
    if url is not None:
        from checkpoint._remote import local_copy  # the manager and fsspec: only for URLs

        with local_copy(url, storage_options) as local:
            result = load(local, trust, safe_globals=safe_globals, check_crc=check_crc)
            return replace(result, **_located(url))
    source = Path(path)
    allowlist = _allowlist(safe_globals)
    bundle = _bundle(source)
    if bundle is not None:
        return _load_bundle(bundle, trust, allowlist, check_crc)
    return _load_file(source, trust, allowlist, check_crc)


def _load_file(source: Path, trust: bool, allowlist: Allowlist, check_crc: bool) -> LoadResult:
    fmt = _detect(source)
    main = _main_pickle(source, fmt)
    scan = _scan(source, main)
    fmt = _v1_only_if_plain(fmt, scan)
    report = _report(source, fmt, main, scan, allowlist)
    _refuse_if_needed(report, trust)
    if check_crc and main is not None and main.layout is not None:
        with source.open("rb") as file:
            main.layout.check_crcs(file, source)
    if main is None:  # safetensors: tensors only, nothing to unpickle
        state, header_metadata = read_safetensors(source)
        return LoadResult(source, Kind.STATE_DICT, fmt, state, header_metadata, None, ())
    placeholders: Mapping[str, int] = {}
    if trust:
        assert main is not None
        root, strategy = _trusted_unpickle(source, fmt, main, allowlist), TRUSTED
    else:
        # The C unpickler, where the scan clears it, is the fastest safe reader (faster than
        # torch's weights-only one, on every torch); a plugin's strategy is asked for the
        # weights-only files that would otherwise need the opcode-watching unpickler.
        watched = scan is None or needs_watching(scan, allowlist)
        root, strategy = (
            _plugin_strategy(source, fmt)
            if watched and report.verdict is Verdict.WEIGHTS_ONLY
            else (None, INERT_ENGINE)
        )
        if root is None:
            root, placeholders = _inert_graph(source, fmt, main, allowlist, watched)
    metadata = None
    if fmt is Format.V1:
        metadata = read_sidecar(source.with_suffix(".yaml")).model_dump(mode="json")
    legacy = tuple(info.name for info in report.globals if info.category is Category.UNKNOWN)
    return _result(source, fmt, root, legacy, placeholders, strategy, metadata=metadata)


def _result(
    source: Path,
    fmt: Format,
    root: object,
    legacy_classes: tuple[str, ...],
    placeholders: Mapping[str, int],
    strategy: str,
    *,
    metadata: dict[str, object] | None = None,
    layout: str | None = None,
) -> LoadResult:
    """What ``root`` holds (weights, metadata, training state) as a ``LoadResult``."""
    try:
        with materialising(_materialisers()):
            recovered = recover(root)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UnreadableCheckpointError(f"its object graph is malformed ({exc})", source) from exc
    return LoadResult(
        path=source,
        kind=recovered.kind,
        source_format=fmt,
        state_dict=recovered.state_dict,
        metadata=recovered.metadata if metadata is None else metadata,
        trainer_state=recovered.trainer_state,
        legacy_classes=legacy_classes,
        placeholders=dict(placeholders),
        root=root,
        strategy=strategy,
        agent=recovered.agent,
        layout=layout,
    )


# -- checkpoints of several files --------------------------------------------------------


def _files(bundle: Bundle) -> str:
    return plural(len(bundle.members), "file")


def _bundle(path: Path) -> Bundle | None:
    """The layout of a directory or of a zip archive that is not a torch file, if any."""
    try:
        directory = path.is_dir()
        if not directory and not (path.is_file() and is_zip(path)):
            return None
    except OSError as exc:
        raise UnreadableCheckpointError(f"cannot be read ({exc.strerror})", path) from exc
    layouts = enabled_layouts()
    bundle = find_bundle(path, layouts, archive=not directory)
    if bundle is None and directory:
        known = ", ".join(layout.name for layout in layouts) or "none are enabled"
        raise UnreadableCheckpointError(
            f"is a directory that no checkpoint layout describes (known: {known}); pass one "
            "of its files, or `ckpt migrate` the directory",
            path,
        )
    return bundle


def _member_error(bundle: Bundle, name: str, exc: CheckpointError) -> CheckpointError:
    """``exc`` about one member, restated about the bundle (a member may be a temp copy)."""
    reason = str(exc).removeprefix(f"{exc.path}: ") if exc.path is not None else str(exc)
    return type(exc)(f"member {name!r}: {reason}", bundle.path)


def _inspect_bundle(bundle: Bundle, allowlist: Allowlist) -> InspectReport:
    """Every pickle-bearing member inspected; the bundle gets their worst verdict."""
    reports: list[InspectReport] = []
    with member_files(bundle) as files:
        for name, member in sorted(bundle.members.items()):
            try:
                if member.reader == "checkpoint":
                    reports.append(_inspect_file(files[name], allowlist))
                elif member.reader == "pickled_json":
                    reports.extend(_embedded_reports(files[name], member, allowlist))
            except CheckpointError as exc:
                raise _member_error(bundle, name, exc) from exc
            except ValueError as exc:
                reason = f"member {name!r} is malformed ({exc})"
                raise UnreadableCheckpointError(reason, bundle.path) from exc
    verdicts = [report.verdict for report in reports]
    refusals = [
        r for report in reports if report.verdict is Verdict.REFUSED for r in report.reasons
    ]
    infos = {info for report in reports for info in report.globals}
    return InspectReport(
        path=bundle.path,
        format=Format.BUNDLE,
        verdict=max(verdicts, key=_SEVERITY.index, default=Verdict.NO_PICKLE),
        reasons=(
            f"a {bundle.layout} checkpoint of {plural(len(bundle.members), 'file')}",
            *refusals,
        ),
        globals=tuple(sorted(infos, key=lambda info: info.name)),
        nested_globals=tuple(sorted({g for report in reports for g in report.nested_globals})),
        refused_globals=tuple(sorted({g for report in reports for g in report.refused_globals})),
        refused_even_with_trust=any(report.refused_even_with_trust for report in reports),
        refused_with_trust=tuple(r for report in reports for r in report.refused_with_trust),
        layout=bundle.layout,
    )


def _load_bundle(bundle: Bundle, trust: bool, allowlist: Allowlist, check_crc: bool) -> LoadResult:
    """Every member read by its reader, combined into one checkpoint keyed by role."""
    root: dict[str, object] = {}
    legacy: set[str] = set()
    placeholders: Counter[str] = Counter()
    with member_files(bundle) as files:
        for name, member in sorted(bundle.members.items()):
            try:
                if member.reader == "checkpoint":
                    result = _load_file(files[name], trust, allowlist, check_crc)
                    root[member.role] = result.state_dict if result.root is None else result.root
                    legacy.update(result.legacy_classes)
                    placeholders.update(result.placeholders)
                else:
                    embedded = functools.partial(
                        _unpickle_bytes, path=files[name], allowlist=allowlist
                    )
                    root[member.role] = read_member(files[name], member, embedded)
            except CheckpointError as exc:
                raise _member_error(bundle, name, exc) from exc
            except ValueError as exc:
                reason = f"member {name!r} is malformed ({exc})"
                raise UnreadableCheckpointError(reason, bundle.path) from exc
    strategy = (
        f"{INERT_ENGINE}, {plural(len(bundle.members), 'file')} of a {bundle.layout} checkpoint"
    )
    return _result(
        bundle.path,
        Format.BUNDLE,
        root,
        tuple(sorted(legacy)),
        placeholders,
        strategy,
        layout=bundle.layout,
    )


def _scan_bytes(data: bytes, path: Path, allowlist: Allowlist) -> tuple[PickleScan, InspectReport]:
    """The scan of, and the report on, a pickle embedded in a member (SB3's base64 values)."""
    try:
        scan = scan_pickle(data)
    except ValueError as exc:
        raise UnreadableCheckpointError(f"an embedded pickle is corrupt ({exc})", path) from exc
    return scan, _report(path, Format.PICKLE, MainPickle(data), scan, allowlist)


def _embedded_reports(
    path: Path, member: BundleMember, allowlist: Allowlist
) -> list[InspectReport]:
    reports: list[InspectReport] = []
    read_member(path, member, lambda data: reports.append(_scan_bytes(data, path, allowlist)[1]))
    return reports


def _unpickle_bytes(data: bytes, path: Path, allowlist: Allowlist) -> object:
    """A pickle embedded in a member: refused if it names the dangerous set, else built by
    the inert engine (never ``trust=True``: nothing in a member is unpickled for real)."""
    scan, report = _scan_bytes(data, path, allowlist)
    _refuse_if_needed(report, trust=False)
    root, _ = _unpickle(data, path, allowlist, None, needs_watching(scan, allowlist))
    return root


# -- inspection ---------------------------------------------------------------------------


def _materialisers() -> dict[str, Materialiser]:
    """The enabled plugins' materialisers; on a clash the plugin called first wins."""
    merged: dict[str, Materialiser] = {}
    for contribution in get_host().hook.compat_materialisers():
        for name, materialiser in contribution.items():
            merged.setdefault(canonical(name), materialiser)
    return merged


def _allowlist(safe_globals: Iterable[SafeGlobals] | None) -> Allowlist:
    if safe_globals is None:
        safe_globals = get_host().hook.compat_safe_globals()
    return Allowlist(safe_globals)


def _detect(path: Path) -> Format:
    try:
        fmt = detect(path)
    except OSError as exc:
        raise UnreadableCheckpointError(f"cannot be read ({exc.strerror})", path) from exc
    if fmt is Format.NOT_A_CHECKPOINT:
        raise UnreadableCheckpointError(
            "is not a checkpoint (no torch zip, legacy stream, pickle or safetensors header)",
            path,
        )
    return fmt


def _main_pickle(path: Path, fmt: Format) -> MainPickle | None:
    if fmt is Format.SAFETENSORS:
        return None
    return main_pickle(path, fmt)


def _scan(path: Path, main: MainPickle | None) -> PickleScan | None:
    if main is None:
        return None
    try:
        return scan_pickle(main.data)
    except ValueError as exc:
        raise UnreadableCheckpointError(f"its pickle is corrupt ({exc})", path) from exc


def _report(
    path: Path,
    fmt: Format,
    main: MainPickle | None,
    scan: PickleScan | None,
    allowlist: Allowlist,
) -> InspectReport:
    if main is None or scan is None:
        try:
            header, _ = safetensors_header(path)
        except (ValueError, struct.error) as exc:
            raise UnreadableCheckpointError(
                f"has a broken safetensors header ({exc})", path
            ) from exc
        tensors = sum(1 for key in header if key != "__metadata__")
        return InspectReport(path, fmt, Verdict.NO_PICKLE, (f"{tensors} tensors, no code",))
    infos = tuple(
        GlobalInfo(name, classify(name, allowlist), name in scan.called)
        for name in sorted(scan.globals)
    )
    refusal = _refusals(scan, infos)
    reasons = refusal.reasons
    if reasons:
        verdict = Verdict.REFUSED
    elif all(canonical(info.name) in WEIGHTS_ONLY for info in infos):
        verdict, reasons = Verdict.WEIGHTS_ONLY, ["torch.load(weights_only=True) accepts it"]
    else:
        unknown = sum(1 for info in infos if info.category is Category.UNKNOWN)
        verdict = Verdict.INERT
        reasons = [f"{plural(unknown, 'global')} not vetted: rebuilt as inert placeholders"]
    return InspectReport(
        path=path,
        format=fmt,
        verdict=verdict,
        reasons=tuple(reasons),
        protocol=scan.protocol,
        globals=infos,
        nested_globals=tuple(sorted(scan.nested_globals)),
        torch_version_hints=tuple(main.hints),
        refused_globals=tuple(refusal.names),
        refused_even_with_trust=verdict is Verdict.REFUSED,
        refused_with_trust=tuple(refusal.trust_reasons),
    )


class _Refusal(NamedTuple):
    #: The globals of the dangerous set the pickle names.
    names: list[str]
    #: Why it is refused on every path: the dangerous set, a name the scan cannot resolve,
    #: a hidden pickle that names the dangerous set.
    reasons: list[str]
    #: Why ``trust=True``, which really unpickles, refuses it too: ``builtins.getattr`` and
    #: calls of a call's result, which the inert engine keeps inert.
    trust_reasons: list[str]


def _refusals(scan: PickleScan, infos: tuple[GlobalInfo, ...]) -> _Refusal:
    dangerous = [info.name for info in infos if info.category is Category.DANGEROUS]
    reasons: list[str] = []
    if dangerous:
        reasons.append(f"names {', '.join(dangerous)}, code a checkpoint never needs")
    if UNRESOLVED in scan.globals:
        reasons.append("names a global the static scan cannot resolve")
    nested = sorted(name for name in scan.nested_globals if is_dangerous(name))
    if nested:
        reasons.append(f"hides a pickle in bytes that references {', '.join(nested)}")
    trust_reasons = []
    real = sorted(info.name for info in infos if canonical(info.name) in TRUST_REFUSED)
    if real:
        trust_reasons.append(f"names {', '.join(real)}, which trusted unpickling would call")
    if scan.dynamic_calls:
        trust_reasons.append(
            f"calls the result of another call {plural(scan.dynamic_calls, 'time')}"
        )
    return _Refusal(dangerous, reasons, trust_reasons)


def _refuse_if_needed(report: InspectReport, trust: bool) -> None:
    if report.verdict is Verdict.REFUSED:
        raise UnsafeCheckpointError(
            f"refused as unsafe, nothing was run: it {'; it '.join(report.reasons)}. If you "
            "made this file yourself, re-export its weights from the code that made it; "
            "`ckpt inspect` lists everything it names",
            report.path,
        )
    if trust and report.refused_with_trust:
        why = "; it ".join(report.refused_with_trust)
        raise UnsafeCheckpointError(
            f"refused with trust=True, nothing was run: it {why}. Load it without trust=True: "
            "the inert engine keeps such calls inert",
            report.path,
        )


# -- inert loading ------------------------------------------------------------------------

_MALFORMED = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    EOFError,
    OverflowError,
    RuntimeError,
    MemoryError,
    struct.error,
    zipfile.BadZipFile,
    OSError,
    pickle.UnpicklingError,
)


def _unpickle(
    data: bytes,
    path: Path,
    allowlist: Allowlist,
    storages: StorageSource | None,
    watched: bool = True,
    *,
    trusted: bool = False,
) -> tuple[object, Mapping[str, int]]:
    """Unpickle inertly; ``watched=False`` takes the C unpickler (see ``needs_watching``),
    ``trusted=True`` the unpickler of ``load(trust=True)`` (``_trusted``)."""
    kind: type[InertUnpickler | FastInertUnpickler | TrustedUnpickler]
    kind = TrustedUnpickler if trusted else InertUnpickler if watched else FastInertUnpickler
    unpickler = kind(data, source=str(path), allowlist=allowlist, storages=storages)
    try:
        with quiet_escapes():
            root = unpickler.load()
    except Unsettled:
        return _unpickle(data, path, allowlist, storages, watched=True)
    except (UnsafeCheckpointError, UnreadableCheckpointError):
        raise
    except _MALFORMED as exc:
        raise UnreadableCheckpointError(f"its pickle is malformed ({exc})", path) from exc
    if unpickler.stream.tell() != len(data):
        raise UnreadableCheckpointError("its pickle has trailing bytes", path)
    return root, unpickler.placeholders


def _inert_graph(
    path: Path,
    fmt: Format,
    main: MainPickle | None,
    allowlist: Allowlist,
    watched: bool,
    *,
    trusted: bool = False,
) -> tuple[object, Mapping[str, int]]:
    if main is None or fmt is Format.TORCH_TAR:
        raise UnreadableCheckpointError(
            f"is a {fmt} file, which compat.load does not read; `ckpt inspect` reports on it",
            path,
        )
    size = path.stat().st_size
    try:
        if main.layout is not None:
            with path.open("rb") as file:
                storages = ZipStorages(file, main.layout, path, size)
                return _unpickle(main.data, path, allowlist, storages, watched, trusted=trusted)
        if fmt is Format.TORCH_LEGACY:
            return _legacy_graph(path, main, allowlist, size, watched, trusted)
    except (UnsafeCheckpointError, UnreadableCheckpointError):
        raise
    except ZIP_ERRORS as exc:
        raise UnreadableCheckpointError(f"cannot be read ({exc})", path) from exc
    return _unpickle(main.data, path, allowlist, None, watched, trusted=trusted)


def _legacy_graph(
    path: Path, main: MainPickle, allowlist: Allowlist, size: int, watched: bool, trusted: bool
) -> tuple[object, Mapping[str, int]]:
    magic, protocol, sys_info = (
        _unpickle(data, path, allowlist, None)[0] for data in main.preamble
    )
    if magic != int.from_bytes(LEGACY_MAGIC[4:], "little") or protocol != _LEGACY_PROTOCOL:
        raise UnreadableCheckpointError("its legacy header has a bad magic number", path)
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise UnreadableCheckpointError(
            "was written on a big-endian machine, which compat.load does not read", path
        )
    storages = LegacyStorages(path, size)
    root, placeholders = _unpickle(main.data, path, allowlist, storages, watched, trusted=trusted)
    with path.open("rb") as file:
        file.seek(main.end)
        keys, _ = _unpickle(read_pickle(Bounded(file, size), path), path, allowlist, None)
        storages.fill(file, size, keys)
    return root, placeholders


# -- load strategies ----------------------------------------------------------------------


def _plugin_strategy(path: Path, fmt: Format) -> tuple[object, str]:
    """Let a plugin read a weights-only file (``compat_choose_load_strategy``).

    Only files whose every global torch's weights-only unpickler accepts, and that the C
    unpickler may not read, get here: a plugin may beat the opcode-watching unpickler.
    Returns the object, or ``None`` for the inert engine to read the file: when no plugin
    offers a strategy, when the strategy declines (its name says why) or when it fails. The
    fallback is the inert engine, which is just as safe, never an unsafe load.
    """
    strategy = get_host().hook.compat_choose_load_strategy(
        file_format=str(fmt), torch_version=Version(torch.__version__)
    )
    if strategy is None:
        return None, INERT_ENGINE
    try:
        return strategy(path), strategy.name
    except Exception:  # damaged in a way torch noticed: the inert engine says how, safely
        return None, INERT_ENGINE


# -- trusted loading ----------------------------------------------------------------------


def _trusted_unpickle(path: Path, fmt: Format, main: MainPickle, allowlist: Allowlist) -> object:
    """Real objects (``_trusted``), reached only when the caller passed ``trust=True``."""
    warnings.warn(
        UntrustedLoadWarning(
            f"{path}: unpickling with trust=True builds the real classes the file names and "
            "runs their constructors; use it only for files you made yourself"
        ),
        stacklevel=3,
    )
    if os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "0") not in ("", "0"):
        raise UnreadableCheckpointError(
            "needs trusted unpickling, which TORCH_FORCE_WEIGHTS_ONLY_LOAD forbids in this "
            "environment; unset it for this call, or load without trust=True",
            path,
        )
    root, _ = _inert_graph(path, fmt, main, allowlist, watched=True, trusted=True)
    return root
