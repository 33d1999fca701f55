"""``ckpt ls`` and ``ckpt verify`` of a URL (``s3://bucket/prefix/run7``, any fsspec URL).

A URL names a run's prefix (every checkpoint of every run directly below it), a prefix of
such prefixes (``s3://bucket/experiments``, as a local parent of run directories), or one
object (``.../run7.e00000005.pt``). Listing reads the index object and the paginated listing, never
the weights; verifying downloads one pair at a time to a temporary file, so the disk holds
one checkpoint at most. The output has the columns and JSON of the local verbs, with URLs
where those show paths.
"""

from __future__ import annotations

import argparse
from typing import Any

from checkpoint._naming import SIDECAR_SUFFIX, WEIGHTS_SUFFIX, FileRole, parse_v1_name
from checkpoint._remotecatalog import RemoteListing, info_of, list_remote
from checkpoint._store import FsspecStore, Store
from checkpoint._wording import plural
from checkpoint.errors import CheckpointCompatError, CheckpointNotFoundError, UnsafeCheckpointError

from ._interrupt import interrupts_held
from ._output import EXIT_FAILURE, EXIT_OK, print_error, print_json, print_table
from ._verify import report

_LS_COLUMNS = ("run", "epoch", "format", "trainer", "agent_step", "score", "bytes", "url")


def _listings(url: str) -> list[RemoteListing]:
    """The listing of ``url``'s own checkpoints; if it has none, of every prefix below it
    that has (one more paginated listing, of everything below, finds them)."""
    store = FsspecStore(url)
    listing = list_remote(store)
    if _holds_checkpoints(listing):
        return [listing]
    folders = sorted(
        {
            obj.name.rpartition("/")[0]
            for obj in store.walk()
            if "/" in obj.name and parse_v1_name(obj.name.rpartition("/")[2]) is not None
        }
    )
    below = [list_remote(FsspecStore(f"{store.url}/{folder}")) for folder in folders]
    found = [listing for listing in below if _holds_checkpoints(listing)]
    if not found:
        raise CheckpointNotFoundError("no v1 checkpoint below it; give the URL of a run", url)
    return found


def _holds_checkpoints(listing: RemoteListing) -> bool:
    return bool(listing.entries or listing.damaged or _trainers(listing))


def _trainers(listing: RemoteListing) -> dict[tuple[str, int], str]:
    """(run, epoch) -> the name of its trainer state."""
    found = {}
    for name in listing.objects:
        parsed = parse_v1_name(name)
        if parsed is not None and parsed.role is FileRole.TRAINER:
            found[(parsed.run_name, parsed.epoch)] = name
    return found


def ls(args: argparse.Namespace) -> int:
    url = args.run_dir.rstrip("/")
    listings = _listings(url)
    entries: list[dict[str, Any]] = []
    for listing in listings:
        entries += _entries(listing)
    damaged = sum(len(listing.damaged) for listing in listings)
    code = EXIT_FAILURE if damaged else EXIT_OK
    if args.json:
        print_json(entries)
        return code
    rows = [
        (
            entry["run_name"],
            entry["epoch"],
            "damaged" if entry["damaged"] else "v1",
            None if entry["damaged"] else ("yes" if entry["trainer_state"] else "no"),
            entry["metadata"].get("agent_step"),
            entry["metadata"].get("score"),
            entry["metadata"].get("size"),
            entry["uri"].removeprefix(url + "/"),
        )
        for entry in entries
    ]
    title = f"{plural(len(entries) - damaged, 'checkpoint')} under {url}"
    if damaged:
        title += f", {damaged} damaged (left out of listings and selection)"
    print_table(title, _LS_COLUMNS, rows)
    for entry in entries:
        if entry["damaged"]:
            print_error(f"{entry['uri']}: {entry['reason']}")
    return code


def _entries(listing: RemoteListing) -> list[dict[str, Any]]:
    """The rows of one prefix: its checkpoints by (run, epoch), then the damaged."""
    store, trainers = listing.store, _trainers(listing)
    entries: list[dict[str, Any]] = []
    for found in sorted(listing.entries, key=lambda e: (e.run, e.epoch)):
        info = info_of(store, found.name, found.run, found.epoch, found.metadata)
        trainer = trainers.get((found.run, found.epoch))
        entries.append(
            {
                "run_name": found.run,
                "epoch": found.epoch,
                "path": info.uri,
                "uri": info.uri,
                "legacy": False,
                "legacy_scheme": None,
                "trainer_state": None if trainer is None else store.url_of(trainer),
                "metadata": info.metadata,
                "damaged": False,
            }
        )
    for name, damage in sorted(listing.damaged.items()):
        parsed = parse_v1_name(name)
        assert parsed is not None
        entries.append(
            {
                "run_name": parsed.run_name,
                "epoch": parsed.epoch,
                "path": store.url_of(name),
                "uri": store.url_of(name),
                "legacy": False,
                "legacy_scheme": None,
                "trainer_state": None,
                "metadata": {},
                "damaged": True,
                "reason": damage.reason,
            }
        )
    return entries


def verify(args: argparse.Namespace) -> int:
    """Every v1 pair and trainer state below the URL, or the one checkpoint it names."""
    url: str = args.path
    parent, _, name = url.rstrip("/").rpartition("/")
    parsed = parse_v1_name(name)
    if parsed is not None and parsed.role is not FileRole.TRAINER:
        weights = name.removesuffix(SIDECAR_SUFFIX).removesuffix(WEIGHTS_SUFFIX) + WEIGHTS_SUFFIX
        return report(args, [_check(FsspecStore(parent), weights)], "url")
    results: list[dict[str, Any]] = []
    for listing in _listings(url.rstrip("/")):
        store = listing.store
        targets = sorted(
            [entry.name.removesuffix(SIDECAR_SUFFIX) + WEIGHTS_SUFFIX for entry in listing.entries]
            + list(_trainers(listing).values())
        )
        results += [_check(store, target) for target in targets]
        results += [
            {"path": store.url_of(name), "ok": False, "error": f"{store.url_of(name)}: {reason}"}
            for name, reason in listing.damaged.items()
        ]
    return report(args, results, "url")


def _check(store: Store, name: str) -> dict[str, Any]:
    """A v1 pair against its sidecar and read statically; a trainer state by a safe load."""
    from checkpoint._plainweights import check_plain_weights

    with interrupts_held():  # imports torch
        from checkpoint._remote import downloaded, verified_pair

    url = store.url_of(name)
    try:
        if name.endswith(".trainer.pt"):
            with interrupts_held():  # imports torch: only when there are such files
                from compat import load

            with downloaded(store, name) as local:
                result = load(local, check_crc=True)
            detail = f"{result.source_format} {result.kind}: safe load and CRCs ok"
            return {"path": url, "ok": True, "detail": detail}
        with verified_pair(store, name) as (local, info):
            check_plain_weights(local)
        detail = f"sha256 {info.metadata['sha256']}, a plain state_dict"
        return {"path": url, "ok": True, "detail": detail}
    except UnsafeCheckpointError as exc:
        return {"path": url, "ok": False, "refused": True, "error": str(exc)}
    except CheckpointCompatError as exc:
        return {"path": url, "ok": False, "error": str(exc)}
