"""``ckpt migrate`` against a raw load+save loop, measured in the same run.

    python benchmarks/bench_migrate.py                        # 1,000 small + 20 large files
    python benchmarks/bench_migrate.py --small 200 --large 4 --large-mb 16 --jobs 1 2

Each legacy file is a whole pickled record (dict-subclass metadata, an agent whose class
lives in a throwaway module that is removed after saving, as for real legacy runs). The
baseline is the fastest thing a user could do without us: ``torch.load(weights_only=False)``
with the class importable again, then ``torch.save(state_dict)``, one file after another.
``migrate`` additionally hashes, opens safely, writes atomically with a sidecar and reads
every tensor back. Ratios are printed (migrate time / baseline time; lower is better) and
never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from compat.upgrade._migrate import Status, migrate

LEGACY_MODULE = "bench_legacy.agent"
MB = 1024 * 1024


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


def raw_loop(root: Path, out: Path) -> None:
    out.mkdir()
    with legacy_classes():
        for path in sorted(root.iterdir()):
            record = torch.load(path, weights_only=False)  # the unsafe baseline, our own files
            torch.save(record._cached_policy.state_dict(), out / path.name)


def bench(label: str, root: Path, work: Path, jobs: list[int]) -> None:
    size = sum(path.stat().st_size for path in root.iterdir())
    files = len(list(root.iterdir()))
    baseline = timed(lambda: raw_loop(root, work / f"{label}-raw"))
    print(f"\n{label}: {files} files, {size / MB:.1f} MB")
    print(f"  raw load+save loop      {baseline:8.2f} s  {files / baseline:8.1f} files/s")
    first: float | None = None
    for count in jobs:
        out = work / f"{label}-v1-{count}"
        seconds = timed(lambda out=out, count=count: check(migrate(root, out, jobs=count)))
        first = first or seconds
        print(
            f"  migrate --jobs {count:<2}       {seconds:8.2f} s  {files / seconds:8.1f} files/s"
            f"  x{seconds / baseline:5.2f} of raw  speed-up x{first / seconds:4.2f} vs first"
        )
        shutil.rmtree(out)


def check(outcomes: list[object]) -> None:
    failed = [o for o in outcomes if getattr(o, "status", None) is not Status.CONVERTED]
    if failed:
        raise SystemExit(f"migrate did not convert everything: {failed[:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000, help="number of small files")
    parser.add_argument("--small-mb", type=float, default=0.05)
    parser.add_argument("--large", type=int, default=20, help="number of large files")
    parser.add_argument("--large-mb", type=float, default=64)
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 2, 4])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-migrate-") as tmp:
        work = Path(tmp)
        for label, count, megabytes in (
            ("small", args.small, args.small_mb),
            ("large", args.large, args.large_mb),
        ):
            if count:
                make_run(work / label, count, megabytes)
                bench(label, work / label, work, args.jobs)


if __name__ == "__main__":
    main()
