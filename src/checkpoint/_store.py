"""Object storage behind a URL: the few operations a remote run needs, over fsspec.

Local run directories never come here: they keep the rename-based commit of ``_storage``,
and fsspec is not even imported for them. On object storage there is no rename; what the
commit protocol builds on instead is exclusive creation, ``If-None-Match: *`` on S3, which
s3fs sends for files opened in mode ``"xb"``: on the CompleteMultipartUpload of a large
object since 2024.12, and on the one-shot PUT of a small one (a sidecar) only since 2025.7.0,
hence the extra's floor. An upload cut short is never visible, and the loser of two creators
gets ``FileExistsError``.

Credentials, region and endpoint come from wherever the filesystem looks (for S3, botocore:
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, the
config files), plus the caller's ``storage_options``.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol, cast

from .errors import (
    MissingExtraError,
    StorageAccessError,
    StorageError,
    StorageNotFoundError,
)

#: Parts of a streamed upload are this large. s3fs buffers a part and copies it out to send
#: it, so a save holds a few parts besides the state (``benchmarks/bench_remote.py``
#: measures it); S3's limit of 10,000 parts allows objects up to 80 GB.
PART_SIZE = 8 * 1024 * 1024
#: Listing entries handed over at a time: S3's page size.
_PAGE = 1000
_URL = re.compile(r"^(?P<protocol>[A-Za-z][A-Za-z0-9+.-]*)://")
_EXTRAS = {"s3": ("s3fs", "checkpoint-compat[s3]"), "s3a": ("s3fs", "checkpoint-compat[s3]")}
_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "NoAuthTokenError"}
#: botocore's failures to reach an endpoint (its ``ConnectionError`` is no ``OSError``).
_UNREACHABLE = {"HTTPClientError", "ConnectionError"}


def protocol_of(location: object) -> str | None:
    """The URL scheme of ``location`` (``"s3"``), or ``None`` for a plain path."""
    match = _URL.match(location) if isinstance(location, str) else None
    return match["protocol"].lower() if match else None


def local_path_of(location: str | Path) -> Path | None:
    """The local path a ``file://`` URL or a plain path names; ``None`` for other URLs."""
    protocol = protocol_of(location)
    if protocol is None:
        return Path(location)
    if protocol == "file":
        return Path(str(location)[len("file://") :])
    return None


def remote_url(location: object) -> str | None:
    """``location`` if it is a URL of object storage (any scheme but ``file://``)."""
    if isinstance(location, str) and protocol_of(location) not in (None, "file"):
        return location
    return None


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object of a listing: its name below the store's root, size, and version."""

    name: str
    size: int
    version: str
    """The ETag where the store has one, else the modification time: it changes when the
    object does, so an index entry recorded with it is valid while it holds."""
    modified: float | None
    """POSIX seconds; how old an unreferenced object is before it may be removed."""


@dataclass(frozen=True, slots=True)
class Upload:
    """A multipart upload begun and neither completed nor aborted: invisible, but billed."""

    name: str
    upload_id: str
    initiated: float | None


class Store(Protocol):
    """What the manager needs of object storage: objects below one root, named flat
    (``walk`` also yields deeper ones, named ``a/b/name``, for ``ckpt migrate``)."""

    url: str

    def url_of(self, name: str) -> str: ...
    def writer(self, name: str, *, exclusive: bool) -> AbstractContextManager[IO[bytes]]: ...
    def put(self, name: str, data: bytes, *, exclusive: bool = False) -> None: ...
    def get(self, name: str, limit: int) -> bytes: ...
    def download(self, name: str, local: Path) -> None: ...
    def list(self) -> Iterator[ObjectInfo]: ...
    def walk(self) -> Iterator[ObjectInfo]: ...
    def info(self, name: str) -> ObjectInfo | None: ...
    def delete(self, names: Iterable[str]) -> None: ...
    def uploads(self) -> Sequence[Upload]: ...
    def abort(self, upload: Upload) -> None: ...


class FsspecStore:
    """A :class:`Store` over any fsspec filesystem (``s3://``, ``gs://``, ``memory://``)."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        protocol = protocol_of(url) or "file"
        try:
            from fsspec.core import url_to_fs

            self.fs, root = url_to_fs(self.url, **dict(storage_options or {}))
        except ImportError as exc:
            package, extra = _EXTRAS.get(protocol, (f"the fsspec backend of {protocol}://", ""))
            how = f"pip install '{extra}'" if extra else f"install {package}"
            raise MissingExtraError(
                f"{url}: {protocol}:// URLs need {package.removeprefix('the ')}, which is not "
                f"installed; {how}"
            ) from exc
        self.root = str(root).rstrip("/")

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def url_of(self, name: str) -> str:
        return f"{self.url}/{name}"

    @contextmanager
    def writer(self, name: str, *, exclusive: bool) -> Iterator[IO[bytes]]:
        """A stream that becomes the object ``name`` only when the block exits normally:
        uploaded in parts of ``PART_SIZE``, completed on exit, aborted on an exception.
        With ``exclusive``, an object already there raises ``FileExistsError`` (at open or,
        on S3, at completion)."""
        with self.translated(name):
            file = self.fs.open(self._path(name), "xb" if exclusive else "wb", block_size=PART_SIZE)
        try:
            yield cast(IO[bytes], _PartSized(file))
        except BaseException:
            _discard(file)
            raise
        with self.translated(name):
            file.close()

    def put(self, name: str, data: bytes, *, exclusive: bool = False) -> None:
        with self.writer(name, exclusive=exclusive) as file:
            file.write(data)

    def get(self, name: str, limit: int) -> bytes:
        """At most ``limit`` bytes of the object: one ranged GET."""
        with self.translated(name):
            data: bytes = self.fs.cat_file(self._path(name), start=0, end=limit)
            return data

    def download(self, name: str, local: Path) -> None:
        with self.translated(name):
            self.fs.get_file(self._path(name), str(local))

    def list(self) -> Iterator[ObjectInfo]:
        """Every object directly below the root, as the listing pages arrive (s3fs: S3's
        pages of 1,000 keys, every ``ContinuationToken`` followed)."""
        return self._listing(recursive=False)

    def walk(self) -> Iterator[ObjectInfo]:
        """Every object below the root, at any depth (``a/b/model_0001.pt``), in pages as
        ``list``: one listing without a delimiter, for ``ckpt migrate`` of a tree."""
        return self._listing(recursive=True)

    def _listing(self, *, recursive: bool) -> Iterator[ObjectInfo]:
        cut = len(self.root) + 1
        for entry in self._entries(recursive):
            name = str(entry["name"])
            below = name.startswith(self.root + "/") and not name.endswith("/")  # no marker
            if entry.get("type") == "file" and below:
                yield _object_info(name[cut:], entry)

    def _entries(self, recursive: bool) -> Iterator[Mapping[str, Any]]:
        """The filesystem's entries below the root. On S3 page by page: only the page in
        hand is held, where s3fs's ``ls`` and ``find`` gather every page and keep them all
        in their cache (about 1 KB an object: 100 MB for a run of 100,000)."""
        if type(self.fs).__module__.startswith("s3fs"):
            yield from self._s3_pages(recursive)
            return
        with self.translated(""):
            try:
                if recursive:
                    found = self.fs.find(self.root, detail=True, withdirs=False)
                    entries = [found[name] for name in sorted(found)]
                else:
                    entries = self.fs.ls(self.root, detail=True, refresh=True)
            except FileNotFoundError as exc:
                if _code(exc) == "NoSuchBucket":
                    raise
                return  # no object under the prefix yet
        yield from entries

    def _s3_pages(self, recursive: bool) -> Iterator[Mapping[str, Any]]:
        from fsspec.asyn import sync
        from s3fs.errors import translate_boto_error

        bucket, key, _ = self.fs.split_path(self.root)
        pages = self.fs._iterdir(
            bucket, delimiter="" if recursive else "/", prefix=f"{key}/" if key else ""
        )
        try:
            while True:
                with self.translated(""):
                    try:
                        page = sync(self.fs.loop, _next_page, pages)
                    except Exception as exc:
                        if getattr(exc, "response", None) is None:
                            raise
                        raise translate_boto_error(exc) from exc
                if not page:
                    return
                yield from page
        finally:
            sync(self.fs.loop, pages.aclose)

    def info(self, name: str) -> ObjectInfo | None:
        with self.translated(name):
            try:
                entry = self.fs.info(self._path(name), refresh=True)
            except FileNotFoundError as exc:
                if _code(exc) == "NoSuchBucket":
                    raise
                return None
        return _object_info(name, entry) if entry.get("type") == "file" else None

    def delete(self, names: Iterable[str]) -> None:
        paths = [self._path(name) for name in names]
        if not paths:
            return
        with self.translated(""):
            try:
                self.fs.rm(paths)
            except FileNotFoundError:
                for path in paths:  # some filesystems refuse a batch with a missing member
                    if self.fs.exists(path):
                        self.fs.rm_file(path)
            self.fs.invalidate_cache(self.root)

    def uploads(self) -> Sequence[Upload]:
        """The unfinished multipart uploads of objects directly below the root (S3; other
        filesystems have none to report). One page: the first 1,000 of the bucket."""
        lister = getattr(self.fs, "list_multipart_uploads", None)
        if lister is None:
            return []
        bucket, _, prefix = self.root.partition("/")
        with self.translated(""):
            found = lister(bucket)
        start = f"{prefix}/" if prefix else ""
        return [
            Upload(
                str(item["Key"])[len(start) :],
                str(item["UploadId"]),
                item["Initiated"].timestamp()
                if isinstance(item.get("Initiated"), datetime)
                else None,
            )
            for item in found
            if str(item.get("Key", "")).startswith(start)
            and "/" not in str(item["Key"])[len(start) :]
        ]

    def abort(self, upload: Upload) -> None:
        bucket, _, key = self._path(upload.name).partition("/")
        with self.translated(upload.name), suppress(FileNotFoundError):
            self.fs.abort_mpu(bucket, key, upload.upload_id)

    @contextmanager
    def translated(self, name: str) -> Iterator[None]:
        """Turn the filesystem's failures into errors that name the URL and the fix; a
        missing object (``FileNotFoundError``) and a lost race (``FileExistsError``) pass."""
        url = self.url_of(name) if name else self.url
        try:
            yield
        except (FileExistsError, StorageError):
            raise
        except FileNotFoundError as exc:
            if _code(exc) != "NoSuchBucket":
                raise
            raise StorageNotFoundError(
                "its bucket does not exist; create it, or fix the bucket name in the URL "
                "(and the endpoint, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, if not AWS)",
                url,
            ) from exc
        except PermissionError as exc:
            raise StorageAccessError(
                f"access denied ({exc}); grant these credentials s3:ListBucket, s3:GetObject, "
                "s3:PutObject and s3:DeleteObject on it, or use others (AWS_PROFILE, "
                "AWS_ACCESS_KEY_ID, or storage_options={'key': ..., 'secret': ...})",
                url,
            ) from exc
        except OSError as exc:
            raise StorageError(
                f"the storage request failed ({exc}); nothing was committed, retry once the "
                "cause is fixed",
                url,
            ) from exc
        except Exception as exc:
            kinds = {kind.__name__ for kind in type(exc).__mro__}
            if kinds & _UNREACHABLE:
                raise StorageError(
                    f"the storage endpoint cannot be reached ({exc}); check the network and "
                    "the endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, or "
                    "storage_options={'endpoint_url': ...}), then retry",
                    url,
                ) from exc
            if not kinds & _NO_CREDENTIALS:
                raise
            raise StorageAccessError(
                "no credentials were found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE), or pass storage_options={'key': ..., 'secret': ...}; "
                "storage_options={'anon': True} reads a public bucket",
                url,
            ) from exc


async def _next_page(entries: AsyncIterator[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The next ``_PAGE`` entries of an asynchronous listing; none once it is over."""
    page: list[Mapping[str, Any]] = []
    with suppress(StopAsyncIteration):
        while len(page) < _PAGE:
            page.append(await anext(entries))
    return page


def _code(exc: BaseException) -> str | None:
    """The S3 error code behind an exception s3fs translated (``"NoSuchBucket"``)."""
    response = getattr(exc.__cause__, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error")
        if isinstance(error, Mapping):
            code = error.get("Code")
            return str(code) if code is not None else None
    return None


def _object_info(name: str, entry: Mapping[str, Any]) -> ObjectInfo:
    modified = entry.get("LastModified") or entry.get("mtime") or entry.get("created")
    if isinstance(modified, datetime):
        seconds: float | None = modified.timestamp()
    elif isinstance(modified, int | float):
        seconds = float(modified)
    else:
        seconds = None
    version = entry.get("ETag") or entry.get("etag") or entry.get("generation") or seconds
    return ObjectInfo(name, int(entry.get("size") or 0), str(version), seconds)


class _PartSized(io.RawIOBase):
    """Hands an upload at most a part per write: s3fs buffers whatever one write gives it,
    so a 2 GB embedding that ``torch.save`` writes whole would be buffered, and copied, whole."""

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__()
        self._file = file

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), PART_SIZE):
            self._file.write(view[start : start + PART_SIZE])
        return len(view)


def _discard(file: IO[bytes]) -> None:
    """Abandon an upload: its parts are aborted and it never becomes an object."""
    discard = getattr(file, "discard", None)
    if discard is not None:
        discard()
    from fsspec.spec import AbstractBufferedFile

    if isinstance(file, AbstractBufferedFile):
        file.closed = True  # closing would complete the upload
