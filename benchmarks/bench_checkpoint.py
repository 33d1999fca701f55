"""CheckpointManager against raw torch.save / torch.load, measured in the same run.

    python benchmarks/bench_checkpoint.py                 # 100 MB and 1 GB, 10,000-entry listing
    python benchmarks/bench_checkpoint.py --sizes 100 --listing 1000 --repeat 3

Reports medians and ratios (manager / raw); lower is better, 1.00 means no
overhead. Memory figures come from a fresh subprocess per measurement, so
one measurement's peak cannot hide another's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import torch
import yaml

from checkpoint import CheckpointManager, _catalog

MB = 1024 * 1024


def make_state(megabytes: int) -> dict[str, torch.Tensor]:
    """A model-like state_dict: a few large matrices and many small vectors."""
    generator = torch.Generator().manual_seed(0)
    big = max(megabytes * MB // 4 // 8, 1)
    state = {f"layer{i}.weight": torch.randn(big, generator=generator) for i in range(8)}
    state.update({f"layer{i}.bias": torch.randn(256, generator=generator) for i in range(32)})
    return state


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def median_of(action: Callable[[], object], repeat: int) -> float:
    return statistics.median(timed(action) for _ in range(repeat))


def bench_save_load(megabytes: int, repeat: int, workdir: Path) -> dict[str, float]:
    state = make_state(megabytes)
    raw_dir = workdir / f"raw{megabytes}"
    raw_dir.mkdir()
    manager = CheckpointManager(workdir / f"mgr{megabytes}", "bench")

    def raw_save(attempt: int) -> None:
        path = raw_dir / f"{attempt}.pt"
        torch.save(state, path)
        fsync_path(path)

    def manager_save(attempt: int) -> None:
        manager.save_agent(state, attempt)

    # Interleave so that drift in disk or page-cache state hits both sides alike.
    saves = [
        (timed(partial(raw_save, attempt)), timed(partial(manager_save, attempt)))
        for attempt in range(repeat)
    ]

    def raw_load() -> None:
        torch.load(raw_dir / "0.pt", weights_only=True, mmap=True)

    def manager_load() -> None:
        manager.load_state_dict(0)

    raw_load(), manager_load()  # warm the page cache for both
    loads = [(timed(raw_load), timed(manager_load)) for _ in range(repeat)]
    shutil.rmtree(raw_dir)
    shutil.rmtree(manager.run_dir)
    return {
        "raw_save_s": statistics.median(raw for raw, _ in saves),
        "manager_save_s": statistics.median(managed for _, managed in saves),
        "raw_load_s": statistics.median(raw for raw, _ in loads),
        "manager_load_s": statistics.median(managed for _, managed in loads),
    }


_MEMORY_PROBE = """
import json, os, resource, sys, torch
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from bench_checkpoint import make_state
from checkpoint import CheckpointManager, _catalog
megabytes, run_dir = int(sys.argv[2]), sys.argv[3]
def rss(): return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
state = make_state(megabytes)
before = rss()
manager = CheckpointManager(run_dir, "mem")
manager.save_agent(state, 0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
del state
settled = rss()
loaded = manager.load_state_dict(0)
after_load = rss()
sum(float(t.sum()) for t in loaded.values())
after_touch = rss()
print(json.dumps({"save_peak_above_model": max(peak - before, 0),
                  "load_untouched": after_load - settled, "load_touched": after_touch - settled}))
"""


def bench_memory(megabytes: int, workdir: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, __file__, str(megabytes), str(workdir / "mem")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    shutil.rmtree(workdir / "mem")
    return {key: value / MB for key, value in json.loads(out.splitlines()[-1]).items()}


def bench_listing(count: int, workdir: Path) -> dict[str, float]:
    """list() and find_best_checkpoint() over ``count`` committed checkpoints."""
    run_dir = workdir / "listing"
    manager = CheckpointManager(run_dir, "many")
    template = manager.save_agent({"w": torch.zeros(4)}, 0, {"score": 0.0})
    sidecar = yaml.safe_load(template.sidecar_path.read_text())
    weights = template.path.read_bytes()
    for epoch in range(1, count):  # same bytes, so the recorded sha256 stays true
        stem = f"many.e{epoch:08d}"
        (run_dir / f"{stem}.pt").write_bytes(weights)
        sidecar.update(
            epoch=epoch,
            score=float((epoch * 7919) % 1000),
            created_at=datetime.now(UTC).isoformat(),
        )
        (run_dir / f"{stem}.yaml").write_text(yaml.safe_dump(sidecar))
    (run_dir / ".ckpt-index.json").unlink(missing_ok=True)
    cold = timed(manager.list)
    _catalog._memo.clear()  # as a new process would: the index is on disk, not in memory
    fresh_process = timed(manager.find_best_checkpoint)
    warm_list = median_of(manager.list, 5)
    warm_best = median_of(manager.find_best_checkpoint, 5)
    shutil.rmtree(run_dir)
    return {
        "cold_list_s": cold,
        "fresh_process_find_best_s": fresh_process,
        "list_s": warm_list,
        "find_best_s": warm_best,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1024], help="MB")
    parser.add_argument("--listing", type=int, default=10_000, help="checkpoints to list")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(max(os.cpu_count() or 1, 1))
    figures: dict[str, object] = {"torch": torch.__version__, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        workdir = Path(tmp)
        for megabytes in args.sizes:
            timing = bench_save_load(megabytes, args.repeat, workdir)
            memory = bench_memory(megabytes, workdir)
            figures[f"{megabytes}MB"] = {**timing, **memory}
            save_ratio = timing["manager_save_s"] / timing["raw_save_s"]
            print(
                f"{megabytes:>5} MB  save {timing['manager_save_s']:.3f}s vs raw+fsync "
                f"{timing['raw_save_s']:.3f}s  ratio {save_ratio:.2f}x"
                f" | load {timing['manager_load_s'] * 1e3:.2f}ms vs raw mmap "
                f"{timing['raw_load_s'] * 1e3:.2f}ms  ratio "
                f"{timing['manager_load_s'] / timing['raw_load_s']:.2f}x"
            )
            print(
                f"         memory: save peak above model {memory['save_peak_above_model']:.1f} MB "
                f"({memory['save_peak_above_model'] / megabytes:.1%} of state); mmap load "
                f"{memory['load_untouched']:.1f} MB before touching, "
                f"{memory['load_touched']:.1f} MB after"
            )
        listing = bench_listing(args.listing, workdir)
        figures["listing"] = {"count": args.listing, **listing}
        print(
            f"listing {args.listing} checkpoints: first list (no index, parses every sidecar) "
            f"{listing['cold_list_s'] * 1e3:.0f}ms; find_best_checkpoint in a new process "
            f"(index on disk) {listing['fresh_process_find_best_s'] * 1e3:.0f}ms; then list "
            f"{listing['list_s'] * 1e3:.0f}ms, find_best_checkpoint "
            f"{listing['find_best_s'] * 1e3:.0f}ms"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak_mb:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
