"""``ckpt migrate`` against a raw load+save loop, and against itself with more jobs.

    python benchmarks/bench_migrate.py            # 1,000 small + 20 large; 200 x 1 MB for --jobs
    python benchmarks/bench_migrate.py --small 200 --large 4 --large-mb 16 --repeat 2

Each legacy file is a whole pickled record (dict-subclass metadata, an agent whose class
lives in a throwaway module that is removed after saving, as for real legacy runs). The
baseline is the fastest thing a user could do without us: ``torch.load(weights_only=False)``
with the class importable again, then ``torch.save(state_dict)``, one file after another.
``migrate`` additionally hashes, opens safely, writes atomically with a sidecar and reads
every tensor back.

Two comparisons, each interleaved and repeated, with the minimum and the median:
- ``migrate(jobs=1)`` in this process against the raw loop in this process (torch imported);
- the ``ckpt migrate`` command, ``--jobs 1`` against ``--jobs 2`` (and any other ``--jobs``),
  each a new process from interpreter start to exit, as a user runs it.
The machine's load average is printed with each; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import torch
from torch import nn

from compat.upgrade._migrate import Status, migrate

LEGACY_MODULE = "bench_legacy.agent"
MB = 1024 * 1024
CKPT = [sys.executable, "-m", "compat.cli"]


class PolicyMetadata(dict):  # type: ignore[type-arg]
    pass


class PolicyRecord:
    def __init__(self, policy: nn.Module, metadata: PolicyMetadata) -> None:
        self._cached_policy = policy
        self.metadata = metadata


class Agent(nn.Module):
    def __init__(self, width: int, layers: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*(nn.Linear(width, width) for _ in range(layers)))
        self.norm = nn.BatchNorm1d(width)


@contextmanager
def legacy_classes() -> Iterator[None]:
    """The classes importable under a legacy path inside the block only."""
    names = ("bench_legacy", LEGACY_MODULE)
    modules = [types.ModuleType(name) for name in names]
    for cls in (PolicyMetadata, PolicyRecord, Agent):
        cls.__module__ = LEGACY_MODULE
        setattr(modules[1], cls.__name__, cls)
    sys.modules.update(zip(names, modules, strict=True))
    try:
        yield
    finally:
        for name in names:
            del sys.modules[name]


def make_run(root: Path, count: int, megabytes: float) -> int:
    """``count`` PolicyStore-era files of about ``megabytes`` each; returns total bytes."""
    width = max(int((megabytes * MB / 4 / 4) ** 0.5), 4)
    root.mkdir(parents=True)
    with legacy_classes():
        agent = Agent(width, 4)
        for epoch in range(count):
            metadata = PolicyMetadata(epoch=epoch, agent_step=epoch * 100, train_time=1.0)
            torch.save(PolicyRecord(agent, metadata), root / f"model_{epoch:04d}.pt")
    return sum(path.stat().st_size for path in root.iterdir())


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def raw_loop(root: Path, out: Path) -> None:
    out.mkdir()
    with legacy_classes():
        for path in sorted(root.iterdir()):
            record = torch.load(path, weights_only=False)  # the unsafe baseline, our own files
            torch.save(record._cached_policy.state_dict(), out / path.name)


def check(outcomes: list[object]) -> None:
    failed = [o for o in outcomes if getattr(o, "status", None) is not Status.CONVERTED]
    if failed:
        raise SystemExit(f"migrate did not convert everything: {failed[:3]}")


def min_median(values: list[float]) -> str:
    return f"{min(values):6.2f} / {statistics.median(values):6.2f} s"


def bench_against_raw(label: str, root: Path, work: Path, repeat: int) -> dict[str, object]:
    """In this process: the raw loop and ``migrate(jobs=1)``, interleaved."""
    size = sum(path.stat().st_size for path in root.iterdir())
    files = len(list(root.iterdir()))
    raw, ours = [], []
    for turn in range(repeat):
        raw_out, our_out = work / f"{label}-raw", work / f"{label}-v1"
        first, second = ("raw", "ours") if turn % 2 == 0 else ("ours", "raw")
        for side in (first, second):
            if side == "raw":
                raw.append(timed(partial(raw_loop, root, raw_out)))
            else:
                ours.append(timed(partial(migrate_all, root, our_out)))
        shutil.rmtree(raw_out)
        shutil.rmtree(our_out)
    print(f"\n{label}: {files} files, {size / MB:.1f} MB ({load()})")
    print(f"  raw load+save loop      {min_median(raw)}  (min / median of {repeat})")
    print(
        f"  migrate(jobs=1)         {min_median(ours)}  "
        f"x{min(ours) / min(raw):.2f} / x{statistics.median(ours) / statistics.median(raw):.2f}"
        " of raw"
    )
    return {"files": files, "megabytes": size / MB, "raw": raw, "migrate": ours}


def migrate_all(root: Path, out: Path) -> None:
    check(migrate(root, out, jobs=1))


def bench_jobs(
    label: str, root: Path, work: Path, jobs: list[int], repeat: int
) -> dict[str, object]:
    """The command line, start to exit, for each ``--jobs``, interleaved."""
    files = len(list(root.iterdir()))
    seconds: dict[int, list[float]] = {count: [] for count in jobs}
    for turn in range(repeat):
        order = jobs if turn % 2 == 0 else list(reversed(jobs))
        for count in order:
            out = work / f"{label}-cli-{count}"
            command = [*CKPT, "migrate", str(root), "--out", str(out), "--jobs", str(count)]
            run = partial(subprocess.run, command, check=True, capture_output=True)
            seconds[count].append(timed(run))
            shutil.rmtree(out)
    first = jobs[0]
    print(f"\n{label}: ckpt migrate, {files} files, new process each ({load()})")
    for count in jobs:
        speedup = statistics.median(seconds[first]) / statistics.median(seconds[count])
        print(
            f"  --jobs {count:<2}  {min_median(seconds[count])}  "
            f"{files / statistics.median(seconds[count]):6.1f} files/s  "
            f"x{speedup:.2f} the speed of --jobs {first} (medians)"
        )
    return {"files": files, "seconds": {str(count): values for count, values in seconds.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000, help="small files against raw")
    parser.add_argument("--small-mb", type=float, default=0.05)
    parser.add_argument("--large", type=int, default=20, help="large files against raw")
    parser.add_argument("--large-mb", type=float, default=64)
    parser.add_argument("--jobs-files", type=int, default=200, help="files for --jobs")
    parser.add_argument("--jobs-mb", type=float, default=1.0, help="size of each, for --jobs")
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures: dict[str, object] = {"torch": torch.__version__, "cpus": os.cpu_count()}
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs; {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-migrate-") as tmp:
        work = Path(tmp)
        for label, count, megabytes in (
            ("small", args.small, args.small_mb),
            ("large", args.large, args.large_mb),
        ):
            if count:
                make_run(work / label, count, megabytes)
                figures[label] = bench_against_raw(label, work / label, work, args.repeat)
        if args.jobs_files and args.jobs:
            make_run(work / "jobs", args.jobs_files, args.jobs_mb)
            figures["jobs"] = bench_jobs("jobs", work / "jobs", work, args.jobs, args.repeat)
    print(f"\n{load()}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
