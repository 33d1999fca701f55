"""Listing a remote run: one paginated listing and one index object, not every sidecar.

On object storage a GET costs a round trip, so a listing that parsed every sidecar would
take minutes for a 10,000-checkpoint run. The index carries over from local runs: an object
beside the run (``.ckpt-index.remote.json``) maps each sidecar's name to its metadata and to
the version (ETag) and size the sidecar had when it was indexed. A listing reads the index
once and the run's object names (with their ETags, which a listing returns anyway), keeps
every entry whose sidecar still has that version, and GETs only the sidecars it does not
know (concurrently). Like the local index it is a cache: deleting it, or a sidecar changed
behind its back, gives the same listing, only slower. It is rewritten, whole, by the
listing that found it out of date by ``REWRITE_AFTER`` sidecars or more (so a reader GETs at
most that many sidecars more than the index), or by a sixteenth of its entries gone.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._boundedjson import loads as bounded_loads
from ._indexfile import gc_paused
from ._info import CheckpointInfo
from ._naming import SIDECAR_SUFFIX, WEIGHTS_SUFFIX, FileRole, V1Name, parse_v1_name
from ._sidecar import MAX_SIDECAR_BYTES, parse_sidecar
from ._store import ObjectInfo, Store
from .errors import CheckpointError, DamagedSidecarWarning, SidecarError

INDEX_OBJECT = ".ckpt-index.remote.json"
_VERSION = 1
MAX_INDEX_BYTES = 256 * 1024 * 1024
"""A larger index is ignored (every sidecar is read): the bound on what a listing loads."""
REWRITE_AFTER = 8
FETCHERS = 16
"""Sidecar GETs in flight at once."""
_MAX_DEPTH = 56  # a sidecar's metadata (at most 48 deep) inside the index's own nesting

_warned: set[tuple[str, str]] = set()


@dataclass(frozen=True, slots=True)
class Entry:
    """A committed checkpoint as the listing knows it: its sidecar's name and version."""

    name: str
    run: str
    epoch: int
    version: str
    size: int
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Damage:
    version: str
    reason: str


@dataclass(slots=True)
class RemoteListing:
    """One listing of a remote run's prefix: valid pairs, damaged sidecars, other objects."""

    store: Store
    objects: dict[str, ObjectInfo]
    entries: list[Entry] = field(default_factory=list)
    damaged: dict[str, Damage] = field(default_factory=dict)
    reread: int = 0

    def mine(self, run_name: str) -> list[Entry]:
        """``run_name``'s entries by epoch; its damaged sidecars are warned about once."""
        for name, damage in self.damaged.items():
            parsed = parse_v1_name(name)
            if parsed is not None and parsed.run_name == run_name:
                warn_damaged(self.store.url_of(name), damage, parsed)
        return sorted((e for e in self.entries if e.run == run_name), key=lambda e: e.epoch)

    def info(self, entry: Entry) -> CheckpointInfo:
        return info_of(self.store, entry.name, entry.run, entry.epoch, entry.metadata)

    def infos(self, run_name: str) -> list[CheckpointInfo]:
        """``run_name``'s checkpoints by epoch; damaged ones warned about once."""
        return [self.info(entry) for entry in self.mine(run_name)]

    def unreferenced(self, run_name: str) -> list[ObjectInfo]:
        """``run_name``'s weights with no sidecar beside them: a save in progress, or one
        whose writer died between the two uploads."""
        found = []
        for name, obj in self.objects.items():
            parsed = parse_v1_name(name)
            if (
                parsed is not None
                and parsed.role is FileRole.WEIGHTS
                and parsed.run_name == run_name
                and sidecar_of(name) not in self.objects
            ):
                found.append(obj)
        return found


def weights_of(sidecar_name: str) -> str:
    return sidecar_name[: -len(SIDECAR_SUFFIX)] + WEIGHTS_SUFFIX


def sidecar_of(weights_name: str) -> str:
    return weights_name[: -len(WEIGHTS_SUFFIX)] + SIDECAR_SUFFIX


def info_of(
    store: Store, sidecar_name: str, run: str, epoch: int, metadata: Mapping[str, Any]
) -> CheckpointInfo:
    """A remote checkpoint's info: ``path`` is the weights' path inside the filesystem,
    ``uri`` their full URL."""
    weights = weights_of(sidecar_name)
    url = store.url_of(weights)
    return CheckpointInfo(run, epoch, Path(url.split("://", 1)[1]), dict(metadata), url=url)


def warn_damaged(url: str, damage: Damage, parsed: V1Name) -> None:
    if (url, damage.version) in _warned:
        return
    _warned.add((url, damage.version))
    warnings.warn(
        f"{url}: {damage.reason} (epoch {parsed.epoch} of run {parsed.run_name!r} is left out "
        "of listings until then)",
        DamagedSidecarWarning,
        stacklevel=5,
    )


def list_remote(store: Store) -> RemoteListing:
    """List ``store``'s run prefix now. A checkpoint counts once its weights and its sidecar
    are both there; the sidecar is created last, so a save in progress stays invisible."""
    with gc_paused():  # tens of thousands of objects, none in a cycle
        return _list(store)


def _list(store: Store) -> RemoteListing:
    objects = {obj.name: obj for obj in store.list()}
    listing = RemoteListing(store, objects)
    index_object = objects.get(INDEX_OBJECT)
    known, known_damage = _read_index(store, index_object)
    unsure: list[tuple[V1Name, ObjectInfo]] = []
    used = 0
    for name, obj in objects.items():
        if not name.endswith(SIDECAR_SUFFIX) or weights_of(name) not in objects:
            continue
        parsed = parse_v1_name(name)
        if parsed is None:
            continue
        entry = known.get(name)
        if entry is not None and (entry.version, entry.size) == (obj.version, obj.size):
            listing.entries.append(entry)
            used += 1
            continue
        damage = known_damage.get(name)
        if damage is not None and damage.version == obj.version:
            listing.damaged[name] = damage
            continue
        unsure.append((parsed, obj))
    _reread(listing, unsure)
    stale = len(known) - used
    if (
        listing.reread >= REWRITE_AFTER
        or stale * 16 > len(known)
        or (index_object is None and listing.reread)
    ):
        write_index(store, listing)
    return listing


def _reread(listing: RemoteListing, unsure: list[tuple[V1Name, ObjectInfo]]) -> None:
    """GET the sidecars the index does not know as they are (a few, concurrently)."""
    if not unsure:
        return
    store = listing.store

    def fetch(item: tuple[V1Name, ObjectInfo]) -> Entry | Damage | None:
        parsed, obj = item
        if obj.size > MAX_SIDECAR_BYTES:
            return Damage(obj.version, f"is {obj.size} bytes, over the sidecar limit; remove it")
        try:
            raw = store.get(obj.name, MAX_SIDECAR_BYTES + 1)
        except FileNotFoundError:
            return None  # deleted since the listing
        url = store.url_of(obj.name)
        try:
            sidecar = parse_sidecar(raw, Path(obj.name))
        except SidecarError as exc:
            return Damage(obj.version, str(exc).removeprefix(f"{obj.name}: "))
        if (sidecar.run_name, sidecar.epoch) != (parsed.run_name, parsed.epoch):
            return Damage(
                obj.version,
                f"describes run {sidecar.run_name!r} epoch {sidecar.epoch} but is named for run "
                f"{parsed.run_name!r} epoch {parsed.epoch}; restore {url} or delete the pair",
            )
        metadata = sidecar.flat_metadata()
        return Entry(obj.name, parsed.run_name, parsed.epoch, obj.version, obj.size, metadata)

    workers = min(FETCHERS, len(unsure))
    if workers == 1:
        results = [fetch(unsure[0])]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="ckpt-sidecar") as pool:
            results = list(pool.map(fetch, unsure))
    for (_, obj), result in zip(unsure, results, strict=True):
        if isinstance(result, Entry):
            listing.entries.append(result)
        elif isinstance(result, Damage):
            listing.damaged[obj.name] = result
        listing.reread += result is not None


def _read_index(
    store: Store, index_object: ObjectInfo | None
) -> tuple[dict[str, Entry], dict[str, Damage]]:
    """The index object's entries, or nothing if it is missing, too large or not ours."""
    if index_object is None or index_object.size > MAX_INDEX_BYTES:
        return {}, {}
    try:
        document = bounded_loads(store.get(INDEX_OBJECT, MAX_INDEX_BYTES), max_depth=_MAX_DEPTH)
    except (FileNotFoundError, ValueError):
        return {}, {}
    if not isinstance(document, dict) or document.get("ckpt-remote-index") != _VERSION:
        return {}, {}
    entries: dict[str, Entry] = {}
    damaged: dict[str, Damage] = {}
    with suppress(TypeError, ValueError):
        for name, version, size, run, epoch, metadata in document.get("entries", []):
            if all(isinstance(v, str) for v in (name, version, run)) and isinstance(metadata, dict):
                entries[name] = Entry(name, run, int(epoch), version, int(size), metadata)
        for name, version, reason in document.get("damaged", []):
            damaged[str(name)] = Damage(str(version), str(reason))
    return entries, damaged


def encode_index(entries: Iterable[Entry], damaged: Mapping[str, Damage]) -> bytes:
    document = {
        "ckpt-remote-index": _VERSION,
        "entries": [[e.name, e.version, e.size, e.run, e.epoch, e.metadata] for e in entries],
        "damaged": [[name, d.version, d.reason] for name, d in damaged.items()],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def write_index(store: Store, listing: RemoteListing) -> None:
    """Replace the index object with what ``listing`` found. Best effort: two writers may
    race (the last one wins, and either result is correct), and a failure costs only speed."""
    with suppress(OSError, CheckpointError):
        store.put(INDEX_OBJECT, encode_index(listing.entries, listing.damaged))
