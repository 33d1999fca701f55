"""CheckpointManager on s3:// against raw s3fs, on a local moto server, in the same run.

    python benchmarks/bench_remote.py                       # 100 MB, 10,000 checkpoints
    python benchmarks/bench_remote.py --megabytes 20 --checkpoints 2000 --repeat 3

moto on 127.0.0.1 has no network latency and its own, slow, request handling: the figures
measure what the manager adds to the bytes it moves (serialising, hashing, the sidecar and
the listing), not what S3 costs. Every comparison is interleaved (raw, manager, raw, ...)
and reports the minimum and median of each side and their ratio (manager / raw; 1.00 means
no overhead). The load average is printed before and after each part. Nothing is asserted.
For save and load, moto runs in a process of its own (in this one, its request handling
would share our GIL); for the listing, in this process, so that the run can be put straight
into its store rather than by 20,000 requests.

- save: ``save_agent`` against ``fs.pipe_file`` of the bytes ``torch.save`` makes of the same
  state (made beforehand, so raw pays no serialising), and against serialising plus the put;
- load: ``load_state_dict`` against ``fs.get_file`` of the same object to a local file;
- memory: the peak RSS a save adds to the state it saves, in a fresh process;
- listing: ``find_best_checkpoint()`` over a run of N checkpoints put straight into the
  server's store, first without an index object (every sidecar read), then with it.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

import fsspec
import s3fs
import torch
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer

from bench_checkpoint import load, make_state  # the same state and load line as there
from checkpoint import CheckpointManager
from checkpoint._remotecatalog import INDEX_OBJECT, list_remote
from checkpoint._sidecar import Sidecar, dump_sidecar
from checkpoint._wording import plural

MB = 1024 * 1024
BUCKET = "bench"


@contextmanager
def moto_server(in_process: bool) -> Iterator[str]:
    """A moto server on a free port: in this process (so a run can be put straight into its
    store), or in one of its own (so its request handling does not share our GIL)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    if in_process:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        stop: Callable[[], object] = server.stop
    else:
        child = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stop = child.terminate
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as probe, suppress(OSError):
                probe.connect(("127.0.0.1", port))
                break
            if time.monotonic() > deadline:
                child.kill()
                raise RuntimeError("the moto server did not start within 60 s")
            time.sleep(0.1)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL_S3=endpoint,
        AWS_EC2_METADATA_DISABLED="true",
    )
    s3fs.S3FileSystem.clear_instance_cache()  # instances cached for an earlier server's port
    try:
        s3fs.S3FileSystem(skip_instance_cache=True).mkdir(BUCKET)
        yield endpoint
    finally:
        stop()


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def report(name: str, raw: list[float], ours: list[float], raw_name: str) -> None:
    raw_min, ours_min = min(raw), min(ours)
    raw_med, ours_med = statistics.median(raw), statistics.median(ours)
    print(
        f"  {name:<34} ours min {ours_min:7.3f} s  median {ours_med:7.3f} s | "
        f"{raw_name} min {raw_min:7.3f} s  median {raw_med:7.3f} s | "
        f"ratio min {ours_min / raw_min:5.2f}x  median {ours_med / raw_med:5.2f}x"
    )


def bench_save_load(megabytes: int, repeat: int) -> None:
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    state = make_state(megabytes)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    print(f"save and load of {len(data) / MB:.0f} MB ({load()})")
    url = f"s3://{BUCKET}/saves/run"
    manager = CheckpointManager(url, "run")
    raw_put: list[float] = []
    raw_serialise_put: list[float] = []
    ours_save: list[float] = []
    raw_get: list[float] = []
    ours_load: list[float] = []

    def serialise_put() -> None:
        out = io.BytesIO()
        torch.save(state, out)
        fs.pipe_file(f"{BUCKET}/saves/raw.pt", out.getvalue())

    with tempfile.TemporaryDirectory() as scratch:
        local = Path(scratch) / "raw.pt"
        for turn in range(repeat):  # each side first on every other turn
            saves = [
                (raw_put, lambda: fs.pipe_file(f"{BUCKET}/saves/raw.pt", data)),
                (raw_serialise_put, serialise_put),
                (ours_save, lambda turn=turn: manager.save_agent(state, turn)),
            ]
            weights = f"{BUCKET}/saves/run/run.e{turn:08d}.pt"  # both sides get this object
            loads = [
                (raw_get, lambda weights=weights: fs.get_file(weights, str(local))),
                (ours_load, lambda turn=turn: manager.load_state_dict(turn)),
            ]
            for sink, action in saves[:: 1 if turn % 2 else -1]:
                sink.append(timed(action))
            for sink, action in loads[:: 1 if turn % 2 else -1]:
                sink.append(timed(action))
            local.unlink()
            manager.delete(turn)
    report("save_agent vs put of the bytes", raw_put, ours_save, "put")
    report("save_agent vs torch.save + put", raw_serialise_put, ours_save, "save+put")
    report("load_state_dict vs get to a file", raw_get, ours_load, "get")
    print(f"  ({load()})")


_MEMORY = """
import sys
sys.path.insert(0, {bench!r})
from bench_checkpoint import make_state
from checkpoint import CheckpointManager

def status(field):
    with open("/proc/self/status") as file:
        return next(int(line.split()[1]) for line in file if line.startswith(field))

state = make_state({megabytes})
manager = CheckpointManager("s3://{bucket}/memory/run", "run")
manager.list()
before = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as file:
    file.write("5")  # restart the peak (VmHWM) from here
manager.save_agent(state, 1)
print((status("VmHWM:") - before) / 1024)
"""


def bench_memory(megabytes: int) -> None:
    code = _MEMORY.format(bench=str(Path(__file__).parent), megabytes=megabytes, bucket=BUCKET)
    added = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(
        f"memory: a save of a {megabytes} MB state raises peak RSS by {float(added):.0f} MB "
        "(the state itself excluded)"
    )


def small_run(count: int) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of ``count`` small valid checkpoints of run ``run``."""
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buffer)
    weights = buffer.getvalue()
    for epoch in range(count):
        sidecar = Sidecar(
            run_name="run",
            epoch=epoch,
            score=float((epoch * 7919) % 10007),
            metrics={"loss": 1.0 / (epoch + 1)},
            torch_version=torch.__version__,
            created_at=datetime.now(UTC),
            sha256=sha256(weights).hexdigest(),
            size=len(weights),
        )
        yield f"run.e{epoch:08d}.pt", weights
        yield f"run.e{epoch:08d}.yaml", dump_sidecar(sidecar)


def bench_listing(count: int, repeat: int) -> None:
    url = f"s3://{BUCKET}/listing/run"
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]  # moto runs here: no request per object
    memory = fsspec.filesystem("memory")
    for name, data in small_run(count):
        backend.put_object(BUCKET, f"listing/run/{name}", data)
        memory.pipe_file(f"/listing/run/{name}", data)
    print(f"find_best_checkpoint over {count} remote checkpoints ({load()})")
    in_memory = "memory://listing/run"
    CheckpointManager(in_memory, "run").find_best_checkpoint()  # writes the index object
    ours = [timed(CheckpointManager(in_memory, "run").find_best_checkpoint) for _ in range(repeat)]
    print(
        f"  on memory:// (no store cost: our overhead):    min {min(ours):7.3f} s  "
        f"median {statistics.median(ours):7.3f} s"
    )
    manager = CheckpointManager(url, "run")
    cold = timed(manager.find_best_checkpoint)
    print(f"  without an index object (every sidecar read):   {cold:7.3f} s")
    assert s3fs.S3FileSystem(skip_instance_cache=True).exists(f"{url}/{INDEX_OBJECT}")
    warm = [timed(CheckpointManager(url, "run").find_best_checkpoint) for _ in range(repeat)]
    print(
        f"  with it (a LIST of {plural(-(-(2 * count + 1) // 1000), 'page')}, one GET): "
        f"min {min(warm):7.3f} s  median {statistics.median(warm):7.3f} s"
    )
    listed = [timed(lambda: list(manager.store.list())) for _ in range(repeat)]
    print(
        f"  of which the paginated LIST alone:               min {min(listed):7.3f} s  "
        f"median {statistics.median(listed):7.3f} s"
    )
    print(f"  sidecars read by a warm listing: {list_remote(manager.store).reread}  ({load()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--checkpoints", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("moto on 127.0.0.1: this measures our overhead, not S3's latency")
    if args.megabytes:
        with moto_server(in_process=False):
            bench_save_load(args.megabytes, args.repeat)
            bench_memory(args.megabytes)
    if args.checkpoints:
        with moto_server(in_process=True):
            bench_listing(args.checkpoints, args.repeat)


if __name__ == "__main__":
    main()
