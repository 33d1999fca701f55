"""What the user typed, checked before any work starts (and before torch is imported).

A path that is not there fails like any missing file (exit 1); a path of the wrong kind, or
an output tree that would overlap its source, is a usage error (exit 2) whose message says
what to type instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from checkpoint._store import local_path_of
from checkpoint.errors import CheckpointNotFoundError, UsageError

__all__ = [
    "default_out",
    "existing_tree",
    "migration_sides",
    "output_tree",
    "path_or_url",
    "worker_count",
]


def path_or_url(text: str) -> Path | str:
    """A local path, or a URL of object storage kept whole (``Path`` would fold its ``//``);
    ``file://`` URLs are local paths."""
    local = local_path_of(text)
    return text if local is None else local


def existing_tree(path: Path, verb: str, for_one_file: str) -> Path:
    """``path``, a local directory ``ckpt <verb>`` can walk; ``for_one_file`` is the command
    to suggest when it is a file."""
    if path.is_dir():
        return path
    if not path.exists():
        raise CheckpointNotFoundError("no such file or directory", path)
    raise UsageError(
        f"is a file, and `ckpt {verb}` takes a directory; for one file use "
        f"`{for_one_file.format(path=path)}`",
        path,
    )


def migration_sides(
    source: Path | str, out: Path | str | None, jobs: int
) -> tuple[Path | str, Path | str]:
    """``ckpt migrate``'s tree and output when either is a URL: the output defaults to
    ``<URL>-v1``, may be neither the source nor inside it, and ``--jobs`` stays 1 (a
    remote migration converts one file at a time)."""
    if jobs > 1:
        raise UsageError(
            f"--jobs {jobs}: a migration from or to object storage converts one file at a "
            "time; leave --jobs out",
            str(out if isinstance(out, str) else source),
        )
    if isinstance(source, Path):
        source = existing_tree(source, "migrate", "ckpt convert {path} OUT_DIR/")
    if out is None:
        if isinstance(source, Path):
            return source, default_out(source)
        return source, f"{source.rstrip('/')}-v1"
    if isinstance(out, Path):
        return source, _not_a_file(out)
    if isinstance(source, str):
        inner, outer = out.rstrip("/"), source.rstrip("/")
        if inner == outer or inner.startswith(outer + "/"):
            raise UsageError(
                f"is the source tree or lies inside it; sources are never modified: pass an "
                f"--out outside {source}, or leave it out for {outer}-v1",
                out,
            )
    return source, out


def default_out(root: Path) -> Path:
    """``<DIR>-v1`` next to ``DIR``: never inside the source tree."""
    resolved = root.resolve()
    return resolved.with_name(f"{resolved.name}-v1")


def output_tree(out: Path | None, source: Path) -> Path:
    """Where a migration of ``source`` writes: ``out``, or ``default_out(source)``. An
    output that is the source, lies inside it or is a file is refused before anything
    runs."""
    if out is None:
        return default_out(source)
    resolved, root = out.resolve(), source.resolve()
    if resolved == root:
        raise UsageError(
            "is the source tree itself; sources are never modified: pass another --out, "
            f"or leave it out for {default_out(source)}",
            out,
        )
    if resolved.is_relative_to(root):
        raise UsageError(
            f"lies inside the source tree {source}, so a re-run would migrate its own "
            f"outputs: pass an --out outside it, or leave it out for {default_out(source)}",
            out,
        )
    return _not_a_file(out)


def _not_a_file(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise UsageError(
            "is an existing file, not a directory: pass a directory for --out (it is created "
            "if missing)",
            out,
        )
    return out


def worker_count(value: str) -> int:
    """``--jobs``: a whole number, at least 1."""
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a number of worker processes: give a whole number, at least 1"
        )
    return jobs
