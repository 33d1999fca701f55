"""CheckpointManager against raw torch.save / torch.load, measured in the same run.

    python benchmarks/bench_checkpoint.py                   # everything (about 15 minutes)
    python benchmarks/bench_checkpoint.py --sizes 100 --listing 10000 --repeat 3
    python benchmarks/bench_checkpoint.py --sizes --listing 10000 30000 100000   # listing only

Every comparison is interleaved (raw, manager, raw, manager, ...) so that drift in disk,
page cache or the machine's load hits both sides alike, and reports the minimum and the
median of each side and their ratios (manager / raw; lower is better, 1.00 means no
overhead). The machine's load average is printed before and after each part: on a shared
machine, compare figures taken at similar loads. Nothing here is asserted.

- save: ``save_agent`` against ``torch.save`` + fsync of the same tensors, each side deleting
  its previous file first (a write into pages just freed is faster than into fresh ones, and
  both sides get the same);
- load: ``load_state_dict`` against ``torch.load(weights_only=True, mmap=True)``, as a
  repeat load and as the first load of the file in a process (its weights check, cached per
  file version, then runs: the archive's layout and the pickle's opcodes);
- memory, in a fresh subprocess per measurement;
- listing: a run made by the manager's own ``save_agent`` calls, grown to each size, then
  ``find_best_checkpoint()`` timed in real new interpreters (the call, after ``import`` and
  ``CheckpointManager(...)``; both are printed too); and the cost the index adds to one
  ``save_agent`` of a small state at the largest size, with and without the index update
  interleaved, plus its compactions amortised.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

import checkpoint._catalog as catalog
import checkpoint._indexfile as indexfile
import checkpoint._manager as manager_module
import checkpoint._plainweights as plainweights
from checkpoint import CheckpointManager

MB = 1024 * 1024


def make_state(megabytes: int) -> dict[str, torch.Tensor]:
    """A model-like state_dict: a few large matrices and many small vectors."""
    generator = torch.Generator().manual_seed(0)
    big = max(megabytes * MB // 4 // 8, 1)
    state = {f"layer{i}.weight": torch.randn(big, generator=generator) for i in range(8)}
    state.update({f"layer{i}.bias": torch.randn(256, generator=generator) for i in range(32)})
    return state


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


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


def interleaved(
    raw: Callable[[], object], ours: Callable[[], object], turn: int
) -> tuple[float, float]:
    """(raw seconds, manager seconds), each side first on every other turn."""
    if turn % 2:
        return timed(raw), timed(ours)
    ours_seconds = timed(ours)
    return timed(raw), ours_seconds


def summary(raw: list[float], ours: list[float]) -> dict[str, float]:
    return {
        "raw_min": min(raw),
        "raw_median": statistics.median(raw),
        "manager_min": min(ours),
        "manager_median": statistics.median(ours),
        "ratio_min": min(ours) / min(raw),
        "ratio_median": statistics.median(ours) / statistics.median(raw),
    }


def show(label: str, figures: dict[str, float], unit: float, unit_name: str) -> None:
    print(
        f"  {label}: manager {figures['manager_min'] * unit:.2f} / "
        f"{figures['manager_median'] * unit:.2f} {unit_name} vs raw "
        f"{figures['raw_min'] * unit:.2f} / {figures['raw_median'] * unit:.2f} {unit_name} "
        f"(min / median)  ratio {figures['ratio_min']:.2f}x / {figures['ratio_median']:.2f}x"
    )


def bench_save_load(megabytes: int, repeat: int, workdir: Path) -> dict[str, object]:
    state = make_state(megabytes)
    raw_dir = workdir / f"raw{megabytes}"
    raw_dir.mkdir()
    manager = CheckpointManager(workdir / f"mgr{megabytes}", "bench")

    def raw_save(attempt: int) -> None:
        (raw_dir / f"{attempt - 1}.pt").unlink(missing_ok=True)
        path = raw_dir / f"{attempt}.pt"
        torch.save(state, path)
        fsync_path(path)

    def manager_save(attempt: int) -> None:
        if attempt > 0:
            manager.delete(attempt - 1)
        manager.save_agent(state, attempt)

    raw_save(0), manager_save(0)  # warm-up, not counted: first writes into fresh memory
    saves = [
        interleaved(
            lambda attempt=attempt: raw_save(attempt),
            lambda attempt=attempt: manager_save(attempt),
            attempt,
        )
        for attempt in range(1, repeat + 1)
    ]
    last = repeat

    def raw_load() -> None:
        torch.load(raw_dir / f"{last}.pt", weights_only=True, mmap=True)

    def manager_load() -> None:
        manager.load_state_dict(last)

    def manager_first_load() -> None:
        """As the first load of the file in a process: the weights check is not cached."""
        plainweights._check_once.cache_clear()
        manager.load_state_dict(last)

    raw_load(), manager_load()  # warm the page cache for both
    loads = [interleaved(raw_load, manager_load, turn) for turn in range(max(repeat, 15))]
    first = [interleaved(raw_load, manager_first_load, turn) for turn in range(max(repeat, 15))]
    shutil.rmtree(raw_dir)
    shutil.rmtree(manager.run_dir)
    return {
        "save": summary([raw for raw, _ in saves], [ours for _, ours in saves]),
        "load": summary([raw for raw, _ in loads], [ours for _, ours in loads]),
        "first_load": summary([raw for raw, _ in first], [ours for _, ours in first]),
    }


_MEMORY_PROBE = """
import json, os, resource, sys, torch
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from bench_checkpoint import make_state
from checkpoint import CheckpointManager
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


# -- listing ----------------------------------------------------------------------------------

_NEW_PROCESS = """
import json, sys, time
start = time.perf_counter()
from checkpoint import CheckpointManager
imported = time.perf_counter()
manager = CheckpointManager(sys.argv[1], "many")
made = time.perf_counter()
best = manager.find_best_checkpoint()
first = time.perf_counter()
manager.find_best_checkpoint()
second = time.perf_counter()
print(json.dumps({"import": imported - start, "construct": made - imported,
                  "first": first - made, "second": second - first, "epoch": best.epoch}))
"""


def new_process_find_best(run_dir: Path, processes: int) -> dict[str, float]:
    runs = []
    for _ in range(processes):
        out = subprocess.run(
            [sys.executable, "-c", _NEW_PROCESS, str(run_dir)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append(json.loads(out.splitlines()[-1]))
    return {
        key: (min(run[key] for run in runs), statistics.median(run[key] for run in runs))
        for key in ("import", "construct", "first", "second")
    }


def grow(manager: CheckpointManager, first: int, last: int) -> float:
    """Save epochs ``first`` to ``last - 1`` as training would; returns seconds per save."""
    state = {"w": torch.zeros(4)}
    start = time.perf_counter()
    for epoch in range(first, last):
        metadata = {"score": float((epoch * 7919) % 1000), "eval": {"nav": epoch % 13}}
        manager.save_agent(state, epoch, metadata)
    return (time.perf_counter() - start) / max(last - first, 1)


@contextmanager
def index_off() -> Iterator[None]:
    """Saves that do not touch the index (for the cost comparison only)."""
    real = manager_module.record_commit
    manager_module.record_commit = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        yield
    finally:
        manager_module.record_commit = real  # type: ignore[assignment]


def index_cost(manager: CheckpointManager, first_epoch: int, pairs: int) -> dict[str, float]:
    """One small save with and without the index update, interleaved, at this run size."""
    state = {"w": torch.zeros(4)}
    with_index, without = [], []
    index_path = manager.run_dir / catalog.INDEX_NAME
    before = index_path.stat().st_size
    manager.save_agent(state, first_epoch + 2 * pairs)  # one journal line: its size
    line_bytes = max(index_path.stat().st_size - before, 1)
    for number in range(pairs):
        epoch = first_epoch + 2 * number
        with_index.append(timed(lambda epoch=epoch: manager.save_agent(state, epoch)))
        with index_off():
            without.append(timed(lambda epoch=epoch: manager.save_agent(state, epoch + 1)))
    fd = os.open(index_path, os.O_RDWR | os.O_APPEND)
    try:  # one compaction, as a save does once the journal is due (the lock it takes)
        size = os.fstat(fd).st_size
        snapshot_bytes = indexfile._journal_start(fd) or size
        compaction = timed(lambda: indexfile._compact(manager.run_dir, fd, size, b""))
    finally:
        os.close(fd)
    journal_limit = max(indexfile._COMPACT_MIN_BYTES, snapshot_bytes // indexfile._COMPACT_FRACTION)
    saves_per_compaction = journal_limit / line_bytes
    return {
        "save_with_index_median": statistics.median(with_index),
        "save_without_index_median": statistics.median(without),
        "save_with_index_min": min(with_index),
        "save_without_index_min": min(without),
        "compaction": compaction,
        "journal_line_bytes": line_bytes,
        "saves_per_compaction": saves_per_compaction,
    }


def _epoch(name: str) -> int:
    digits = name.split(".e", 1)[1].split(".", 1)[0]
    return int(digits) if digits.isdigit() else -1


def bench_listing(sizes: list[int], processes: int, workdir: Path) -> dict[str, object]:
    run_dir = workdir / "listing"
    manager = CheckpointManager(run_dir, "many")
    figures: dict[str, object] = {}
    saved = 0
    for size in sorted(sizes):
        per_save = grow(manager, saved, size)
        saved = size
        indexfile.memos.clear()
        print(f"  {size:>7} checkpoints (saves took {per_save * 1e3:.2f} ms each); {load()}")
        timing = new_process_find_best(run_dir, processes)
        figures[str(size)] = {"per_save": per_save, **timing}
        print(
            f"    new interpreter: first find_best_checkpoint() "
            f"{timing['first'][0] * 1e3:.0f} / {timing['first'][1] * 1e3:.0f} ms (min / median "
            f"of {processes}); second {timing['second'][1] * 1e3:.0f} ms; import "
            f"{timing['import'][1]:.2f} s, CheckpointManager() "
            f"{timing['construct'][1] * 1e3:.2f} ms"
        )
    smallest = min(sizes)
    if smallest <= 20_000:  # cold: no index at all, every sidecar parsed (slow at 100k)
        cold_dir = workdir / "cold"

        def beyond(_: str, names: list[str]) -> set[str]:  # the first ``smallest`` epochs only
            return {name for name in names if ".e" in name and _epoch(name) >= smallest}

        shutil.copytree(run_dir, cold_dir, ignore=beyond)
        (cold_dir / catalog.INDEX_NAME).unlink(missing_ok=True)
        count = len(list(cold_dir.glob("*.yaml")))
        indexfile.memos.clear()
        cold = timed(CheckpointManager(cold_dir, "many").list)
        figures["cold_list"] = {"checkpoints": count, "seconds": cold}
        print(f"  first list() with no index over {count} checkpoints: {cold:.2f} s")
        shutil.rmtree(cold_dir)
    cost = index_cost(manager, saved, 150)
    figures["index_cost"] = cost
    added = cost["save_with_index_median"] - cost["save_without_index_median"]
    amortised = cost["compaction"] / cost["saves_per_compaction"]
    print(
        f"  at {saved} checkpoints: one small save_agent {cost['save_with_index_median'] * 1e3:.2f}"
        f" ms with the index, {cost['save_without_index_median'] * 1e3:.2f} ms without (medians"
        f" of 150, interleaved): the index adds {added * 1e3:.3f} ms "
        f"({added / cost['save_without_index_median']:.1%}); a compaction takes "
        f"{cost['compaction'] * 1e3:.0f} ms once every ~{cost['saves_per_compaction']:.0f} saves"
        f" ({amortised * 1e3:.3f} ms a save, amortised: "
        f"{(added + amortised) / cost['save_without_index_median']:.1%} in all)"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1024], help="MB")
    parser.add_argument(
        "--listing", type=int, nargs="*", default=[10_000, 30_000, 100_000], help="run sizes"
    )
    parser.add_argument("--repeat", type=int, default=7, help="interleaved pairs per figure")
    parser.add_argument("--processes", type=int, default=5, help="new interpreters per size")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(max(os.cpu_count() or 1, 1))
    figures: dict[str, object] = {"torch": torch.__version__, "cpus": os.cpu_count()}
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs; {load()}")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        workdir = Path(tmp)
        for megabytes in args.sizes:
            timing = bench_save_load(megabytes, args.repeat, workdir)
            memory = bench_memory(megabytes, workdir)
            figures[f"{megabytes}MB"] = {**timing, **memory, "load": load()}
            print(f"{megabytes} MB state ({load()}):")
            show("save_agent vs torch.save + fsync", timing["save"], 1, "s")  # type: ignore[arg-type]
            show("load_state_dict vs torch.load mmap", timing["load"], 1e3, "ms")  # type: ignore[arg-type]
            show("  the same, file not yet checked", timing["first_load"], 1e3, "ms")  # type: ignore[arg-type]
            print(
                f"  memory: save peak above model {memory['save_peak_above_model']:.1f} MB "
                f"({memory['save_peak_above_model'] / megabytes:.1%} of state); mmap load "
                f"{memory['load_untouched']:.1f} MB before touching, "
                f"{memory['load_touched']:.1f} MB after"
            )
        if args.listing:
            print(f"listing ({load()}):")
            figures["listing"] = bench_listing(args.listing, args.processes, workdir)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak_mb:.0f} MB; {load()}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
