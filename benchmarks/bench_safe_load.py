"""The safe loading engine against torch.load of the same files, measured in the same run.

    python benchmarks/bench_safe_load.py [--hidden 1024] [--repeat 5]

- A legacy PolicyRecord pickle (the corpus's own ``legacyproj`` classes, made importable
  here so that the unsafe baseline can run at all): ``compat.load`` (inert engine) against
  ``torch.load(weights_only=False)``.
- Plain state_dicts, the agent's and a big one (``--plain-mb``): ``compat.load`` (torch_load
  plugin fast path) against ``torch.load(weights_only=True)``.
- Peak memory of an inert load against the file size, and of ``compat.inspect`` (it must
  not grow with the tensor data), each in a fresh subprocess.

Ratios are compat / raw; lower is better. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
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


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--plain-mb", type=int, default=512, help="size of the big state_dict")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "model_0050.pt"
        write_legacy_record(record, args.hidden)
        plain = Path(tmp) / "state_dict.pt"
        torch.save(torch.load(record, weights_only=False)._cached_policy.state_dict(), plain)
        megabytes = record.stat().st_size / 2**20

        inert = median_seconds(lambda: compat.load(record), args.repeat)
        unsafe = median_seconds(lambda: torch.load(record, weights_only=False), args.repeat)
        print(
            f"legacy record ({megabytes:.1f} MB): compat.load {inert * 1e3:.1f} ms vs "
            f"torch.load(weights_only=False) {unsafe * 1e3:.1f} ms  ratio {inert / unsafe:.2f}x"
        )
        big = Path(tmp) / "big_state_dict.pt"
        torch.save({f"w{i}": torch.randn(args.plain_mb * 2**20 // 32) for i in range(8)}, big)
        for label, path in (("plain state_dict", plain), (f"{args.plain_mb} MB state_dict", big)):
            fast = median_seconds(lambda path=path: compat.load(path), args.repeat)
            raw = median_seconds(lambda path=path: torch.load(path, weights_only=True), args.repeat)
            print(
                f"{label}: compat.load {fast * 1e3:.1f} ms vs "
                f"torch.load(weights_only=True) {raw * 1e3:.1f} ms  ratio {fast / raw:.2f}x"
            )
        load_peak = peak_growth_mb(record, "load")
        inspect_peak = peak_growth_mb(record, "inspect")
        print(
            f"peak memory growth: inert load {load_peak:.1f} MB "
            f"({load_peak / megabytes:.2f}x the file); inspect {inspect_peak:.1f} MB"
        )


if __name__ == "__main__":
    main()
