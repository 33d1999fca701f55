"""The safe loading engine against torch.load of the same files, measured in the same run.

    python benchmarks/bench_safe_load.py [--hidden 1024] [--repeat 15] [--plain-mb 512]

- A legacy PolicyRecord pickle (the corpus's own ``legacyproj`` classes, made importable
  here so that the unsafe baseline can run at all): ``compat.load`` against
  ``torch.load(weights_only=False)``, and ``compat.load(check_crc=True)``.
- Plain state_dicts, the agent's and a big one (``--plain-mb``): ``compat.load`` against
  ``torch.load(weights_only=True)``.
- Peak memory of an inert load against the file size, and of ``compat.inspect`` (it must
  not grow with the tensor data), each in a fresh subprocess.

The two sides of each pair run alternately (each first every other round); the minimum and
the median of each side are printed with their ratios, and the machine's load average with
each part. Both allocate the
tensors' memory, and whether glibc hands back freed pages or fresh ones (each faulted in on
first touch) can outweigh everything else on a small file. So the timings run twice: as the
process comes, and with glibc's dynamic trimming turned off (``MALLOC_TRIM_THRESHOLD_`` and
``MALLOC_MMAP_THRESHOLD_``), where freed pages are reused and the engines themselves show.

Ratios are compat / raw; lower is better. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

import compat

ROOT = Path(__file__).resolve().parents[1]
LEGACY_CLASSES = ROOT / "fixtures_src" / "legacy_template"
#: Fixed glibc thresholds: no returning freed memory to the kernel between loads.
STEADY_ALLOCATOR = {"MALLOC_TRIM_THRESHOLD_": str(2**40), "MALLOC_MMAP_THRESHOLD_": str(2**30)}


def alternating(
    first: Callable[[], object], second: Callable[[], object], repeat: int
) -> tuple[list[float], list[float]]:
    """Seconds of each action, run in turn (each side first every other round) so both
    see the same machine state."""
    times: tuple[list[float], list[float]] = ([], [])
    for turn in range(repeat + 1):  # the first round warms caches and is dropped
        pairs = list(zip((first, second), times, strict=True))
        for action, spent in pairs if turn % 2 else reversed(pairs):
            start = time.perf_counter()
            action()
            spent.append(time.perf_counter() - start)
    return times[0][1:], times[1][1:]


def load_average() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def write_legacy_record(path: Path, hidden: int) -> None:
    """A PolicyRecord wrapping a MettaAgent, pickled whole the way old trainers saved it."""
    sys.path.insert(0, str(LEGACY_CLASSES))
    from legacyproj.agent.metta_agent import MettaAgent
    from legacyproj.agent.policy_metadata import PolicyMetadata
    from legacyproj.agent.policy_record import PolicyRecord

    config = {"obs_channels": 8, "hidden_size": hidden, "num_actions": 16, "obs_grid": 11}
    metadata = PolicyMetadata(agent_step=10_000, epoch=50, generation=1, train_time=3.5)
    record = PolicyRecord(None, "bench", f"file://{path}", metadata)
    record._cached_policy = MettaAgent(config)
    torch.save(record, path)


def report(label: str, ours: list[float], raw: list[float], raw_label: str) -> None:
    """Min and median of each side (ms), and the ratios of the mins and of the medians."""
    low, mid = min(ours) / min(raw), statistics.median(ours) / statistics.median(raw)
    print(
        f"  {label}: compat {min(ours) * 1e3:.1f} / {statistics.median(ours) * 1e3:.1f} ms vs "
        f"{raw_label} {min(raw) * 1e3:.1f} / {statistics.median(raw) * 1e3:.1f} ms "
        f"(min / median)  ratio {low:.2f}x / {mid:.2f}x"
    )


def time_files(files: dict[str, str], repeat: int) -> None:
    record, plain, big = (Path(files[name]) for name in ("record", "plain", "big"))
    sys.path.insert(0, str(LEGACY_CLASSES))
    unsafe = "torch.load(weights_only=False)"
    for label, check_crc in (("legacy record", False), ("legacy record, check_crc=True", True)):
        ours, raw = alternating(
            lambda check_crc=check_crc: compat.load(record, check_crc=check_crc),
            lambda: torch.load(record, weights_only=False),
            repeat,
        )
        report(label, ours, raw, unsafe)
    for label, path in (("plain state_dict", plain), ("big state_dict", big)):
        ours, raw = alternating(
            lambda path=path: compat.load(path),
            lambda path=path: torch.load(path, weights_only=True),
            max(3, repeat // 3) if path is big else repeat,
        )
        report(label, ours, raw, "torch.load(weights_only=True)")


_MEMORY_PROBE = """
import json, sys
import compat, torch

def rss_mb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024

path, action = sys.argv[1], sys.argv[2]
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
before = rss_mb("VmRSS")
result = compat.load(path) if action == "load" else compat.inspect(path)
print(json.dumps({"peak_growth_mb": rss_mb("VmHWM") - before}))
"""


def peak_growth_mb(path: Path, action: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(path), action],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    growth: float = json.loads(out.splitlines()[-1])["peak_growth_mb"]
    return growth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=1024, help="agent width (file size)")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--plain-mb", type=int, default=512, help="size of the big state_dict")
    parser.add_argument("--time-files", help=argparse.SUPPRESS)  # the timing child process
    args = parser.parse_args()
    if args.time_files:
        time_files(json.loads(args.time_files), args.repeat)
        return
    with tempfile.TemporaryDirectory() as tmp:
        files = {name: str(Path(tmp) / f"{name}.pt") for name in ("record", "plain", "big")}
        record = Path(files["record"])
        write_legacy_record(record, args.hidden)
        agent = torch.load(record, weights_only=False)._cached_policy
        torch.save(agent.state_dict(), files["plain"])
        torch.save(
            {f"w{i}": torch.randn(args.plain_mb * 2**18 // 8) for i in range(8)}, files["big"]
        )
        sizes = {name: Path(path).stat().st_size / 2**20 for name, path in files.items()}
        print(
            f"files: legacy record {sizes['record']:.1f} MB, plain state_dict "
            f"{sizes['plain']:.1f} MB, big state_dict {sizes['big']:.0f} MB"
        )
        for condition, extra_env in (
            ("as the process comes", {}),
            ("glibc trimming off", STEADY_ALLOCATOR),
        ):
            print(f"timings ({condition}; {args.repeat} rounds; {load_average()}):", flush=True)
            child = [sys.executable, __file__, "--repeat", str(args.repeat)]
            subprocess.run(
                [*child, "--time-files", json.dumps(files)],
                check=True,
                env={**os.environ, **extra_env},
            )
        load_peak = peak_growth_mb(record, "load")
        inspect_peak = peak_growth_mb(record, "inspect")
        print(
            f"peak memory growth: inert load {load_peak:.1f} MB "
            f"({load_peak / sizes['record']:.2f}x the file); inspect {inspect_peak:.1f} MB"
        )
        print(load_average())


if __name__ == "__main__":
    main()
