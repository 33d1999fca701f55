"""Remote runs when things go wrong: killed writers, > 1,000 objects, refused requests."""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import s3fs
import torch
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from checkpoint import CheckpointManager
from checkpoint._remotecatalog import list_remote
from checkpoint._sidecar import Sidecar, dump_sidecar
from checkpoint.errors import (
    CheckpointExistsError,
    MissingExtraError,
    StorageAccessError,
    StorageNotFoundError,
)

PARTITION = "aws"  # moto keeps S3 per account and partition

# The child saves 30 MB in parts of 5 MB (S3's smallest), and stops for good at ``STOP_AT``:
# after its first part ("part"), or when about to create the sidecar ("sidecar").
_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time, torch, s3fs
    from checkpoint import CheckpointManager, _store
    _store.PART_SIZE = 5 * 2**20
    stop_at = sys.argv[2]
    if stop_at == "part":
        original = s3fs.core.S3File._upload_chunk
        def upload_chunk(self, final=False):
            result = original(self, final)
            if self.parts:
                print("ready", flush=True)
                time.sleep(600)
            return result
        s3fs.core.S3File._upload_chunk = upload_chunk
    else:
        original_put = _store.FsspecStore.put
        def put(self, name, data, *, exclusive=False):
            if name.endswith(".yaml"):
                print("ready", flush=True)
                time.sleep(600)
            return original_put(self, name, data, exclusive=exclusive)
        _store.FsspecStore.put = put
    CheckpointManager(sys.argv[1], "run7").save_agent({"w": torch.ones(30 * 2**18)}, 9)
    """
)


def kill_writer_at(run_url: str, stop_at: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, run_url, stop_at],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def test_a_writer_killed_mid_upload_leaves_nothing_visible(run_url: str) -> None:
    manager = CheckpointManager(run_url, "run7")
    manager.save_agent({"w": torch.zeros(4)}, 1)
    kill_writer_at(run_url, "part")
    assert [info.epoch for info in manager.list()] == [1]
    names = {path.rsplit("/", 1)[1] for path in s3fs.S3FileSystem().ls(run_url, refresh=True)}
    assert not any(name.startswith("run7.e00000009") for name in names)
    manager.save_agent({"w": torch.ones(4)}, 9)  # the epoch is free
    assert torch.equal(manager.load_state_dict(9)["w"], torch.ones(4))
    # The dead writer's multipart upload is invisible but billed: a later manager's first
    # write aborts it once older than the grace period (moto dates every upload 2010, so
    # only the abort is tested here, not the grace), and leaves other runs' uploads alone.
    assert [upload.name for upload in manager.store.uploads()] == ["run7.e00000009.pt"]
    CheckpointManager(run_url, "run8").save_agent({"w": torch.ones(4)}, 10)
    assert len(manager.store.uploads()) == 1
    CheckpointManager(run_url, "run7").save_agent({"w": torch.ones(4)}, 11)
    assert manager.store.uploads() == []


def test_weights_a_dead_writer_left_are_invisible_then_cleaned(
    run_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kill_writer_at(run_url, "sidecar")
    orphan = f"{run_url}/run7.e00000009.pt"
    assert s3fs.S3FileSystem().exists(orphan)
    manager = CheckpointManager(run_url, "run7")
    assert manager.list() == []
    with pytest.raises(CheckpointExistsError, match="another writer is saving epoch 9"):
        manager.save_agent({"w": torch.ones(4)}, 9)
    # A later manager's first write removes it once older than the grace period.
    monkeypatch.setattr("checkpoint._remote.ORPHAN_GRACE_SECONDS", -1.0)
    later = CheckpointManager(run_url, "run7")
    later.save_agent({"w": torch.ones(4)}, 10)
    assert not s3fs.S3FileSystem().exists(orphan)
    later.save_agent({"w": torch.ones(4)}, 9)
    assert [info.epoch for info in later.list()] == [9, 10]


def put_checkpoints(run_url: str, epochs: range) -> None:
    """Many small valid pairs, put straight into the moto server's store (it runs in this
    process), not saved one by one: moto takes ~10 ms a request."""
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buffer)
    weights = buffer.getvalue()
    objects: dict[str, bytes] = {}
    for epoch in epochs:
        sidecar = Sidecar(
            run_name="run7",
            epoch=epoch,
            score=float(epoch % 997),
            torch_version=torch.__version__,
            created_at=datetime.now(UTC),
            sha256=hashlib.sha256(weights).hexdigest(),
            size=len(weights),
        )
        objects[f"{run_url}/run7.e{epoch:08d}.pt"] = weights
        objects[f"{run_url}/run7.e{epoch:08d}.yaml"] = dump_sidecar(sidecar)
    backend = s3_backends[DEFAULT_ACCOUNT_ID][PARTITION]  # in process: no request per object
    bucket, prefix = run_url.removeprefix("s3://").split("/", 1)
    for name, data in objects.items():
        backend.put_object(bucket, name.removeprefix(f"s3://{bucket}/"), data)
    assert prefix


def test_listing_pages_past_a_thousand_objects(run_url: str) -> None:
    put_checkpoints(run_url, range(1050))  # 2,100 objects: three pages of S3's 1,000 keys
    manager = CheckpointManager(run_url, "run7")
    infos = manager.list()
    assert len(infos) == 1050 and infos[-1].epoch == 1049
    latest = manager.latest()
    assert latest is not None and latest.epoch == 1049
    best = manager.find_best_checkpoint()
    assert best is not None and best.epoch == 996  # the one scored 996
    again = list_remote(manager.store)  # the index written by the first listing is used
    assert again.reread == 0 and len(again.entries) == 1050
    assert torch.equal(manager.load_state_dict(1049)["w"], torch.zeros(2))


@pytest.mark.parametrize("listing", ["list", "walk"])
def test_listing_hands_over_a_page_at_a_time(
    run_url: str, listing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first object comes after the first page of S3's 1,000 keys, not after the
    whole listing; and s3fs's cache keeps none of it (it would hold every page)."""
    put_checkpoints(run_url, range(1050))
    pages: list[int] = []
    original = s3fs.S3FileSystem._list_pages

    async def counted(self: s3fs.S3FileSystem, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        async for page in original(self, *args, **kwargs):
            pages.append(len(page.get("Contents", [])))
            yield page

    monkeypatch.setattr(s3fs.S3FileSystem, "_list_pages", counted)
    store = CheckpointManager(run_url, "run7").store
    store.fs.invalidate_cache()
    objects = getattr(store, listing)()
    first = next(objects)
    assert first.name.startswith("run7.e00000000.") and pages == [1000]
    names = [first.name, *(obj.name for obj in objects)]
    assert pages == [1000, 1000, 100]
    assert len(names) == len(set(names)) == 2100
    assert not store.fs.dircache


def test_a_missing_bucket_names_the_url(s3_endpoint: str) -> None:
    url = "s3://no-such-bucket-here/run7"
    with pytest.raises(StorageNotFoundError, match=rf"{url}: its bucket does not exist"):
        CheckpointManager(url, "run7").list()


def test_no_credentials_names_the_url_and_the_variables(
    s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    url = f"s3://{bucket}/run7"
    manager = CheckpointManager(url, "run7", storage_options={"skip_instance_cache": True})
    with pytest.raises(StorageAccessError, match=rf"{url}\S*: no credentials.*AWS_ACCESS_KEY_ID"):
        manager.save_agent({"w": torch.zeros(2)}, 1)


class _Denying(BaseHTTPRequestHandler):
    """An S3 endpoint that refuses everyone, as a bucket policy denying these keys would."""

    def _deny(self) -> None:
        body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _deny

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def denying_endpoint(s3_endpoint: str) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Denying)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_access_denied_names_the_url_and_the_fix(denying_endpoint: str) -> None:
    url = "s3://locked-bucket/run7"
    options = {"endpoint_url": denying_endpoint, "skip_instance_cache": True}
    manager = CheckpointManager(url, "run7", storage_options=options)
    with pytest.raises(StorageAccessError, match=rf"{url}: access denied.*s3:GetObject"):
        manager.list()


def test_a_missing_backend_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = importlib.import_module("fsspec.registry")  # the module, not its proxy
    monkeypatch.delitem(registry._registry, "s3", raising=False)
    monkeypatch.setitem(sys.modules, "s3fs", None)
    with pytest.raises(MissingExtraError, match=r"checkpoint-compat\[s3\]"):
        CheckpointManager("s3://bucket/run7", "run7")
