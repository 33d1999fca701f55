"""Regenerate ``tests/fixtures/metta_formats/``: Metta's checkpoint formats after PolicyStore.

Metta (github.com/Metta-AI/metta) replaced PolicyStore/PolicyRecord on 2025-09-02 and then
changed its on-disk checkpoint format four times. This script writes a small run in each format
the way Metta's own code wrote it (same names, same zip layout and compression, same safetensors
calls, same JSON fields, same commit order), with toy-sized tensors, plus ground truth:

=========================  ==========================================================  ==========
era directory              files (under ``<era>/<run>/checkpoints/``)                  Metta code
=========================  ==========================================================  ==========
``sep2025_epoch_names``    ``<run>__e{epoch}__s{step}__t{secs}__sc{score*10000}.pt``   5eb9839a3a
                           (a pickled ``MettaAgent``), ``trainer_state.pt``
``sep2025_colon_v``        ``<run>:v{epoch}.pt`` (a pickled ``FastPolicy``),           a1bf59e359
                           ``trainer_state.pt``
``oct2025_mpt``            ``<run>:v{epoch}.mpt`` (zip: ``weights.safetensors`` +      6ddad6cebc
                           ``modelarchitecture.txt``), ``trainer_state.pt``; a second
                           run whose ``.mpt`` holds ``policy.pt`` (a pickled policy)
``jan2026_bundle``         ``<run>:v{epoch}/`` (``weights.safetensors`` +              47b0d081ad
                           ``policy_spec.json``), ``trainer_state.pt``; and the
                           object-storage copies ``remote/<run>/<run>:v{epoch}.zip``
                           (bundle files + that epoch's ``trainer_state.pt``)
=========================  ==========================================================  ==========

How it runs (from the repository root, with the project venv)::

    .venv/bin/python fixtures_src/make_metta_formats.py            # rebuild everything
    .venv/bin/python fixtures_src/make_metta_formats.py --manifest-only

1. ``safetensors==0.6.2`` (the version in Metta's ``uv.lock`` from 2025-10-15 to 2026-01) is
   installed with ``pip --target`` into ``$CHECKPOINT_COMPAT_VENV_CACHE`` (default
   ``~/.cache/checkpoint-compat/venvs``)``/metta-formats-safetensors-0.6.2``, outside the clone.
2. For each era a writer subprocess (``_write ERA``) runs with that era's stand-in ``metta``
   tree from ``fixtures_src/metta_template/<tree>/`` and the safetensors dir on ``sys.path``,
   ``PYTHONHASHSEED=0`` (pickled pydantic models hold sets of field names) and ``TZ=UTC``
   (zip timestamps). It writes the checkpoints and a ``<name>.truth.json`` next to each.
3. ``_verify ERA`` (again with the classes importable) reloads every file the unsafe way Metta
   did and checks it against the truth; ``_check`` (no stand-in classes, no safetensors package)
   checks every truth with a hand-written safetensors parser, ``weights_only=True`` loads of the
   trainer states, a static pickle scan and the zip directories.
4. The verified tree replaces ``tests/fixtures/metta_formats/`` whole; ``MANIFEST.json`` and
   ``README.md`` are rewritten.

The interpreter's torch writes the ``.pt`` files. The project pins 2.13.0+cpu; Metta's
``uv.lock`` had 2.8.0 until 8b611fb0bc (2025-10-15) moved it to 2.9.0. PyPI has only CUDA builds
of 2.8/2.9 for Linux (about 4 GB of wheels each), so the era's torch is not used. The records
2.13 writes (``data.pkl``, ``.format_version`` = 1, ``.storage_alignment``, ``byteorder``,
``version`` = 3, ``.data/serialization_id``) are exactly those of the real 2025 Metta files in
``shared/fixtures/metta``. The bytes were not compared with a real 2.8/2.9 save. ``--python``
runs the writer with another interpreter if you want to try one. Everything is reproducible
byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

FIXTURES_SRC = Path(__file__).resolve().parent
REPO = FIXTURES_SRC.parent
DEFAULT_OUT = REPO / "tests" / "fixtures" / "metta_formats"
TEMPLATE = FIXTURES_SRC / "metta_template"
CACHE_ENV = "CHECKPOINT_COMPAT_VENV_CACHE"
DEFAULT_CACHE = Path("~/.cache/checkpoint-compat/venvs").expanduser()
SAFETENSORS_VERSION = "0.6.2"
GENERATOR = "fixtures_src/make_metta_formats.py"
METTA = "Metta-AI/metta"

DIGEST_RULE = (
    "sha256 over, for each (key, tensor) in order: key utf-8, str(dtype) e.g. 'torch.float32', "
    "str(tuple(shape)), then the tensor's raw bytes (contiguous, viewed as uint8) - as in "
    "shared/fixtures/metta/MANIFEST.json and tests/fixtures/legacy"
)

# Toy environment shared by every era: 4 observation channels on a 5x5 grid, 8 flat actions.
OBS_SIZE = 5
FEATURE_NORMALIZATIONS = {0: 1.0, 1: 10.0, 2: 30.0, 3: 255.0}
FEATURES = {
    "type_id": {"id": 0, "normalization": 1.0},
    "hp": {"id": 1, "normalization": 10.0},
    "inv:ore_red": {"id": 2, "normalization": 30.0},
    "color": {"id": 3, "normalization": 255.0},
}
ACTION_NAMES = ["noop", "move", "rotate", "attack"]
ACTION_MAX_PARAMS = [0, 1, 3, 0]
NUM_FLAT_ACTIONS = sum(top + 1 for top in ACTION_MAX_PARAMS)

# Metta's OptimizerConfig defaults (metta/rl/trainer_config.py at 5eb9839a3a).
ADAM = {"lr": 0.000457, "betas": (0.9, 0.999), "eps": 1e-12, "weight_decay": 0.0}


def _source(commit: str, date: str, paths: list[str], note: str) -> dict[str, Any]:
    return {"repo": METTA, "commit": commit, "date": date, "paths": paths, "note": note}


SOURCES: dict[str, dict[str, Any]] = {
    "sep2025_epoch_names": _source(
        "5eb9839a3a9551f23dc692d8aa7b18618906db9f",
        "2025-09-02",
        [
            "metta/rl/checkpoint_manager.py",
            "metta/rl/trainer.py",
            "agent/src/metta/agent/metta_agent.py",
            "agent/src/metta/agent/component_policies/fast.py",
        ],
        "CheckpointManager.save_agent: torch.save(agent, "
        "'<run>__e{epoch}__s{agent_step}__t{int(total_time)}__sc{int(score * 10000)}.pt'); "
        "save_trainer_state: torch.save({'optimizer', 'epoch', 'agent_step', "
        "'stopwatch_state'}, 'trainer_state.pt'). Replaced by ':v' names in 96d3745e1f "
        "(2025-09-17).",
    ),
    "sep2025_colon_v": _source(
        "a1bf59e3593d7c64a83c3d6cc9cbc5c8cf48344a",
        "2025-10-10",
        [
            "metta/rl/checkpoint_manager.py",
            "agent/src/metta/agent/policies/fast.py",
            "metta/rl/loss/loss.py",
            "metta/cogworks/curriculum/curriculum.py",
        ],
        "'<run>:v{epoch}.pt' from 96d3745e1f (2025-09-17); the pickled agent is a "
        "metta.agent.policy.Policy subclass from b1e7926265 (2025-09-20; a MettaAgent before); "
        "trainer_state.pt gained 'loss_states' (6bb91f6b3d, 2025-09-22) and "
        "'curriculum_state' (3b62903deb, 2025-09-23). Replaced by '.mpt' in 6ddad6cebc.",
    ),
    "oct2025_mpt": _source(
        "6ddad6cebc4ae2c5bc25ecc4420898191f816fdd",
        "2025-10-15",
        ["metta/rl/policy_artifact.py", "metta/rl/checkpoint_manager.py"],
        "save_policy_artifact_safetensors: zip (ZIP_DEFLATED) of 'weights.safetensors' "
        "(safetensors.torch.save of state_dict(), detached, on cpu) then "
        "'modelarchitecture.txt' (policy_architecture_to_string), both via writestr, into a "
        "'.<name>.*.tmp' file renamed over '<run>:v{epoch}.mpt'. save_policy_artifact_pt (used "
        "by Metta's tests, never by the trainer) writes only 'policy.pt' = torch.save(policy) "
        "to a BytesIO. From 793e02d3fd (2025-11-26) mettagrid/policy/mpt_artifact.py wrote the "
        "same layout (cloning tensors that share storage) and no longer read 'policy.pt'. "
        "Replaced by bundles in 7eb0994b9c (2026-01-04).",
    ),
    "jan2026_bundle": _source(
        "47b0d081ad000fa0ff16444e863d124eb9656bd4",
        "2026-01-09",
        [
            "metta/rl/checkpoint_manager.py",
            "packages/mettagrid/python/src/mettagrid/policy/submission.py",
            "agent/src/metta/agent/policy.py",
            "metta/rl/training/context_checkpointer.py",
        ],
        "write_checkpoint_bundle: safetensors.torch.save_file(weights) to a temp file renamed "
        "to 'weights.safetensors', then SubmissionPolicySpec(class_path="
        "'metta.agent.policy.CheckpointPolicy', data_path='weights.safetensors', "
        "init_kwargs={'architecture_spec': architecture.to_spec(), 'device': 'cpu'})"
        ".model_dump_json() to a temp file renamed to 'policy_spec.json' (committed last). "
        "With remote storage, a ZIP_DEFLATED zip of the bundle's files (rglob order) plus "
        "'trainer_state.pt' (from 47b0d081ad) is uploaded as '<prefix>/<run>:v{epoch}.zip'. "
        "Bundles since 7eb0994b9c (2026-01-04); 'avg_reward' in trainer_state.pt since "
        "67eb42a11e (2025-12-23).",
    ),
}

# Template tree (under fixtures_src/metta_template/) each era's writer imports classes from.
TEMPLATES = {
    "sep2025_epoch_names": "sep2025_metta_agent",
    "sep2025_colon_v": "oct2025_policy",
    "oct2025_mpt": "oct2025_policy",
    "jan2026_bundle": "jan2026_bundle",
}
ERAS = tuple(SOURCES)

RUNS = {
    "sep2025_epoch_names": "fixture_sep_e",
    "sep2025_colon_v": "fixture_sep_v",
    "oct2025_mpt": "fixture_oct_mpt",
    "oct2025_mpt_pickled": "fixture_oct_mpt_pickled",
    "jan2026_bundle": "fixture_jan_bundle",
}

# (epoch, agent_step, total_time in seconds as the trainer's timer returned it, eval score or
# None). Only the September 2025 names store a score: int(score * 10000), and
# 0.57 * 10000 == 5699.999999999999, so epoch 3's name says sc5699 (read back as 0.5699).
# The later formats store no score at all, so their rows have None. total_time also feeds the
# stopwatch_state of trainer_state.pt.
SCHEDULES: dict[str, list[tuple[int, int, float, float | None]]] = {
    "sep2025_epoch_names": [(1, 1024, 12.7, None), (2, 2048, 25.3, 0.8765), (3, 3072, 38.9, 0.57)],
    "sep2025_colon_v": [(5, 5120, 61.2, None), (10, 10240, 122.9, None)],
    "oct2025_mpt": [(5, 5120, 60.4, None), (10, 10240, 121.7, None)],
    "oct2025_mpt_pickled": [(3, 3072, 35.0, None)],
    "jan2026_bundle": [(5, 5120, 58.8, None), (10, 10240, 118.1, None)],
}

# Fixed timestamps where Metta's writers stamped "now" into a zip (writestr with a name) or
# where zipfile copies a file's mtime (ZipFile.write): the only pinned inputs.
ZIP_DATE = {
    "oct2025_mpt": (2025, 10, 20, 12, 0, 0),
    "jan2026_bundle": (2026, 1, 9, 12, 0, 0),
}


def log(message: str) -> None:
    print(f"[metta-formats] {message}", flush=True)


# --------------------------------------------------------------------------------------------
# Helpers shared by the writer, the verifier and the checker (torch imported lazily).
# --------------------------------------------------------------------------------------------


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


def tensor_bytes(tensor: Any) -> bytes:
    import torch

    dense = torch.empty(tensor.shape, dtype=tensor.dtype).copy_(tensor.detach().cpu())
    return bytes(dense.reshape(-1).view(torch.uint8).numpy().tobytes())


def tensor_info(tensor: Any) -> dict[str, Any]:
    return {
        "dtype": str(tensor.dtype),
        "shape": list(tensor.shape),
        "sha256": sha256_bytes(tensor_bytes(tensor)),
    }


def digest(items: Iterator[tuple[str, Any]] | list[tuple[str, Any]]) -> str:
    """The corpus digest rule over (key, tensor) pairs in the given order."""
    h = hashlib.sha256()
    for key, tensor in items:
        h.update(key.encode())
        h.update(str(tensor.dtype).encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor_bytes(tensor))
    return h.hexdigest()


def state_dict_truth(state: Mapping[str, Any], of: str) -> dict[str, Any]:
    keys = list(state)
    return {
        "of": of,
        "keys": keys,
        "tensors": {key: tensor_info(state[key]) for key in keys},
        "n_tensors": len(keys),
        "numel": sum(int(state[key].numel()) for key in keys),
        "sha256": digest([(key, state[key]) for key in keys]),
    }


def walk_tensors(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, tensor) for every tensor in nested dicts / lists / tuples, in order."""
    import torch

    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from walk_tensors(value, f"{path}.{key}" if path else str(key))
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            yield from walk_tensors(value, f"{path}.{index}" if path else str(index))


def plain(obj: Any) -> Any:
    """JSON form of non-tensor data: tuples become lists, tensors a {"tensor": ...} summary."""
    import torch

    if isinstance(obj, torch.Tensor):
        return {"tensor": tensor_info(obj)}
    if isinstance(obj, Mapping):
        return {str(key): plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(value) for value in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(plain(value) for value in obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return {"repr": repr(obj)}


def trainer_state_truth(state: Mapping[str, Any]) -> dict[str, Any]:
    tensors = [{"path": path, **tensor_info(t)} for path, t in walk_tensors(state)]
    optimizer = state["optimizer"]
    return {
        "top_level_keys": list(state),
        "epoch": state["epoch"],
        "agent_step": state["agent_step"],
        "tensors": tensors,
        "tensors_sha256": digest([(t_path, t) for t_path, t in walk_tensors(state)]),
        "optimizer_param_groups": plain(optimizer["param_groups"]),
        "optimizer_state_params": sorted(int(k) for k in optimizer["state"]),
        "extras": plain({k: v for k, v in state.items() if k not in ("optimizer",)}),
    }


def zip_truth(data: bytes) -> list[dict[str, Any]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [
            {
                "name": info.filename,
                "compress_type": info.compress_type,
                "file_size": info.file_size,
                "compress_size": info.compress_size,
                "date_time": list(info.date_time),
                "external_attr": info.external_attr,
                "sha256": sha256_bytes(archive.read(info.filename)),
            }
            for info in archive.infolist()
        ]


def torch_zip_pickle(data: bytes) -> bytes:
    """The ``data.pkl`` record of a torch zip checkpoint (read without unpickling)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
        return archive.read(name)


def torch_archive_prefix(data: bytes) -> str:
    """The top directory of a torch zip checkpoint: torch.save names it after the file."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()[0].split("/", 1)[0]


def pickle_globals_of(pickle_bytes: bytes) -> list[str]:
    sys.path.insert(0, str(FIXTURES_SRC))
    try:
        from pickle_scan import pickle_globals
    finally:
        sys.path.remove(str(FIXTURES_SRC))
    return list(pickle_globals(pickle_bytes))


# The safetensors format, parsed by hand so the checker needs no safetensors package:
# u64 little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
# optional "__metadata__", then the data buffer.
_ST_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}


def parse_safetensors(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header as written, {name: tensor} in header order)."""
    import torch

    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length].decode("utf-8"))
    base = 8 + length
    tensors: dict[str, Any] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        dtype = getattr(torch, _ST_DTYPES[entry["dtype"]])
        raw = bytearray(data[base + start : base + end])
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"])
    return header, tensors


def safetensors_truth(data: bytes, source_order: list[str]) -> dict[str, Any]:
    header, tensors = parse_safetensors(data)
    by_offset = sorted(tensors, key=lambda name: header[name]["data_offsets"][0])
    return {
        "header_metadata": header.get("__metadata__"),
        "header_key_order": [k for k in header if k != "__metadata__"],
        "data_order": by_offset,
        "sha256_in_source_order": digest([(k, tensors[k]) for k in source_order]),
        "sha256_in_header_order": digest([(k, tensors[k]) for k in header if k != "__metadata__"]),
    }


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n")


# --------------------------------------------------------------------------------------------
# Writer (runs with the era's stand-in classes importable)
# --------------------------------------------------------------------------------------------


def _versions() -> dict[str, Any]:
    import pydantic
    import torch

    out: dict[str, Any] = {
        "torch_version": torch.__version__,
        "python_version": ".".join(str(part) for part in sys.version_info[:3]),
        "pydantic_version": pydantic.VERSION,
    }
    try:
        import safetensors

        out["safetensors_version"] = safetensors.__version__
    except ImportError:
        out["safetensors_version"] = None
    return out


def _train(module: Any, optimizer: Any, seed: int, steps: int = 2) -> None:
    """Deterministic stand-in for training: Adam steps on a fixed linear loss per parameter."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    targets = [torch.randn(p.shape, generator=generator) for p in module.parameters()]
    for _ in range(steps):
        optimizer.zero_grad()
        loss = sum((p * t).sum() for p, t in zip(module.parameters(), targets, strict=True))
        loss.backward()  # type: ignore[union-attr]
        optimizer.step()


def _stopwatch_state(total_time: float, epoch: int) -> dict[str, Any]:
    """Shape of Stopwatch.save_state() (mettagrid/profiling/stopwatch.py) while running."""

    def timer(name: str, elapsed: float, line: int) -> dict[str, Any]:
        return {
            "name": name,
            "start_time": None,
            "total_elapsed": elapsed,
            "last_elapsed": round(elapsed / max(epoch, 1), 3),
            "checkpoints": {
                "_start": {"elapsed_time": 0.0, "steps": 0},
                f"_lap_{epoch}": {"elapsed_time": elapsed, "steps": epoch * 1024},
            },
            "lap_counter": epoch,
            "references": [("metta/rl/trainer.py", line)],
            "max_laps": 4,
            "_was_running_for": 0.25,
            "_was_running": name == "global",
        }

    return {
        "version": "1.0",
        "timers": {
            "global": timer("global", total_time, 140),
            "_rollout": timer("_rollout", round(total_time * 0.6, 3), 162),
            "_train": timer("_train", round(total_time * 0.3, 3), 178),
        },
        "max_laps": 4,
    }


def _curriculum_state(epoch: int) -> dict[str, Any]:
    """Shape of Curriculum.get_state() (metta/cogworks/curriculum/curriculum.py, 3b62903deb)."""
    rng = random.Random(1234)  # noqa: S311 - deterministic fixture data
    tasks = {}
    for task_id in (rng.randrange(1_000_000) for _ in range(3)):
        tasks[task_id] = {
            "num_completions": epoch,
            "total_score": 0.5 * epoch,
            "mean_score": 0.5,
            "num_scheduled": epoch + 1,
            "slice_values": {"game.map_builder.width": 5},
        }
    return {
        "config": {
            "task_generator": {"type": "single", "env": "arena_tiny"},
            "max_task_id": 1_000_000,
            "num_active_tasks": 16,
            "min_presentations_for_eviction": 5,
            "algorithm_config": None,
        },
        "seed": rng.getstate(),
        "num_created": 3,
        "num_evicted": 0,
        "tasks": tasks,
    }


def _loss_states(epoch: int) -> dict[str, Any]:
    """{loss name: Loss.state_dict()} (metta/rl/loss/loss.py, 6bb91f6b3d): an OrderedDict."""
    tracker = {
        "policy_loss": [0.1 / epoch, 0.09 / epoch],
        "value_loss": [0.5 / epoch, 0.45 / epoch],
    }
    return {
        "ppo": OrderedDict(
            [("anneal_beta", 0.6), ("burn_in_steps_iter", 0), ("loss_tracker", tracker)]
        )
    }


def _save_trainer_state_sep(
    directory: Path, optimizer: Any, epoch: int, step: int, t: float
) -> Any:
    """CheckpointManager.save_trainer_state at 5eb9839a3a: a plain torch.save."""
    import torch

    state = {
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "agent_step": step,
        "stopwatch_state": _stopwatch_state(t, epoch),
    }
    torch.save(state, directory / "trainer_state.pt")
    return state


def _atomic_torch_save(obj: Any, target: Path) -> None:
    """Metta's trainer-state commit from 6ddad6cebc on: temp file in the directory, replace."""
    import torch

    with tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
    ) as handle:
        tmp = Path(handle.name)
        torch.save(obj, tmp)
        tmp.replace(target)


def _trainer_state_oct(optimizer: Any, epoch: int, step: int, t: float) -> dict[str, Any]:
    return {
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "agent_step": step,
        "stopwatch_state": _stopwatch_state(t, epoch),
        "curriculum_state": _curriculum_state(epoch),
        "loss_states": _loss_states(epoch),
    }


def _writestr_as_metta(
    archive: zipfile.ZipFile, name: str, data: bytes | str, when: tuple[int, ...]
) -> None:
    """``archive.writestr(name, data)`` with the clock pinned to ``when``.

    For a str name, ZipFile.writestr builds ZipInfo(name, date_time=now) with the archive's
    compression and level and external_attr 0o600 << 16; this builds the same ZipInfo.
    """
    info = zipfile.ZipInfo(filename=name, date_time=when)  # type: ignore[arg-type]
    info.compress_type = archive.compression
    level = archive.compresslevel
    if hasattr(info, "compress_level"):  # Python >= 3.13
        info.compress_level = level
    else:
        info._compresslevel = level  # type: ignore[attr-defined]
    info.external_attr = 0o600 << 16
    archive.writestr(info, data)


def _write_mpt(path: Path, members: list[tuple[str, bytes | str]], when: tuple[int, ...]) -> None:
    """_save_policy_artifact (6ddad6cebc): zip into '.<name>.*.tmp' next to it, then replace."""
    with tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as handle:
        tmp = Path(handle.name)
    with zipfile.ZipFile(tmp, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            _writestr_as_metta(archive, name, data, when)
    tmp.replace(path)


def _paired_trainer_state(schedule: str, epoch: int, name: str | None = "trainer_state.pt") -> Any:
    """Metta keeps one trainer_state.pt per run, overwritten at every save: the latest epoch's."""
    if name is None:
        return None
    latest = SCHEDULES[schedule][-1][0]
    return {"file": name, "epoch": latest, "is_this_epoch": epoch == latest}


def _checkpoint_truth(
    era: str,
    path: Path,
    root: Path,
    fmt: str,
    run: str,
    schedule_row: tuple[int, int, float, float | None],
) -> dict[str, Any]:
    epoch, step, total_time, score = schedule_row
    return {
        "file": str(path.relative_to(root)),
        "era": era,
        "format": fmt,
        "source": SOURCES[era],
        "writer": {"generator": GENERATOR, **_versions()},
        "digest_rule": DIGEST_RULE,
        "run_name": run,
        "epoch": epoch,
        "agent_step": step,
        "total_time": total_time,
        "score": score,
    }


def write_sep2025_epoch_names(root: Path) -> None:
    import torch
    from metta.agent.agent_config import AgentConfig
    from metta.agent.component_policies.fast import Fast
    from metta.agent.metta_agent import MettaAgent

    era = "sep2025_epoch_names"
    run = RUNS[era]
    directory = root / era / run / "checkpoints"
    directory.mkdir(parents=True)
    torch.manual_seed(2509)
    policy = Fast(
        OBS_SIZE,
        OBS_SIZE,
        FEATURE_NORMALIZATIONS,
        {"clip_range": 0, "analyze_weights_interval": 300},
    )
    agent = MettaAgent(OBS_SIZE, OBS_SIZE, FEATURE_NORMALIZATIONS, AgentConfig(), policy)
    agent.initialize_to_environment(FEATURES, ACTION_NAMES, ACTION_MAX_PARAMS)
    optimizer = torch.optim.Adam(agent.parameters(), **ADAM)
    for row in SCHEDULES[era]:
        epoch, step, total_time, score = row
        _train(agent, optimizer, seed=epoch)
        # CheckpointManager.save_agent (5eb9839a3a): the name carries the metadata.
        metadata: dict[str, Any] = {"agent_step": step, "total_time": total_time}
        if score is not None:
            metadata["score"] = score
        name_time = int(metadata.get("total_time", 0))
        name_score = int(metadata.get("score", 0.0) * 10000)
        filename = f"{run}__e{epoch}__s{step}__t{name_time}__sc{name_score}.pt"
        path = directory / filename
        torch.save(agent, path)
        state = agent.state_dict()
        data = path.read_bytes()
        globals_ = pickle_globals_of(torch_zip_pickle(data))
        truth = _checkpoint_truth(era, path, root, "metta_epoch_names_pt", run, row)
        truth.update(
            {
                "name_fields": {
                    "run_name": run,
                    "epoch": epoch,
                    "agent_step": step,
                    "total_time": name_time,
                    "score_int": name_score,
                    "score": name_score / 10000.0,
                },
                "stored_metadata": "only the file name: epoch, agent_step, int(total_time), "
                "int(score * 10000) (0 when no evaluation ran)",
                "top_level_class": "metta.agent.metta_agent.MettaAgent",
                "policy_class": "metta.agent.component_policies.fast.Fast",
                "torch_archive_prefix": torch_archive_prefix(data),
                "pickle_globals": globals_,
                "legacy_classes": [g for g in globals_ if g.startswith("metta.")],
                "loads_weights_only": False,
                "state_dict": state_dict_truth(state, "agent.state_dict()"),
                "tensors_outside_state_dict": {
                    "cum_action_max_params": tensor_info(agent.cum_action_max_params),
                    "action_index_tensor": tensor_info(agent.action_index_tensor),
                },
                "agent_attributes": {
                    "cfg": agent.cfg.model_dump(),
                    "device": agent.device,
                    "obs_width": agent.obs_width,
                    "obs_height": agent.obs_height,
                    "feature_normalizations": plain(agent.feature_normalizations),
                    "action_names": agent.action_names,
                    "action_max_params": agent.action_max_params,
                    "original_feature_mapping": agent.original_feature_mapping,
                    "_total_params": agent._total_params,
                },
                "num_params_trainable": sum(
                    p.numel() for p in agent.parameters() if p.requires_grad
                ),
                "trainer_state": _paired_trainer_state(era, epoch),
            }
        )
        write_json(path.with_name(filename[: -len(".pt")] + ".truth.json"), truth)
        trainer_state = _save_trainer_state_sep(directory, optimizer, epoch, step, total_time)
    _write_trainer_truth(era, directory / "trainer_state.pt", root, trainer_state)


def _write_trainer_truth(era: str, path: Path, root: Path, state: Mapping[str, Any]) -> None:
    data = path.read_bytes()
    globals_ = pickle_globals_of(torch_zip_pickle(data))
    truth = {
        "file": str(path.relative_to(root)),
        "era": era,
        "format": "metta_trainer_state",
        "source": SOURCES[era],
        "writer": {"generator": GENERATOR, **_versions()},
        "digest_rule": DIGEST_RULE + "; over (path, tensor) in walk order for tensors_sha256",
        "torch_archive_prefix": torch_archive_prefix(data),
        "pickle_globals": globals_,
        "loads_weights_only": True,
        **trainer_state_truth(state),
    }
    write_json(path.with_name("trainer_state.truth.json"), truth)


def _oct_agent(seed: int) -> tuple[Any, Any]:
    import torch
    from metta.agent.components.cnn_encoder import CNNEncoderConfig
    from metta.agent.components.lstm import LSTMConfig
    from metta.agent.policies.fast import FastConfig, FastPolicy

    config = FastConfig(
        cnn_encoder_config=CNNEncoderConfig(
            in_key="obs_normalizer",
            out_key="encoded_obs",
            cnn1_cfg={"out_channels": 4, "kernel_size": 3, "stride": 1},
            cnn2_cfg={"out_channels": 4, "kernel_size": 1, "stride": 1},
            fc1_cfg={"out_features": 16},
            encoded_obs_cfg={"out_features": 8},
        ),
        lstm_config=LSTMConfig(
            in_key="encoded_obs", out_key="core", latent_size=8, hidden_size=8, num_layers=1
        ),
        critic_hidden_dim=8,
        actor_hidden_dim=8,
    )
    torch.manual_seed(seed)
    policy = FastPolicy(config, OBS_SIZE, OBS_SIZE, FEATURE_NORMALIZATIONS, NUM_FLAT_ACTIONS)
    return config, policy


def _policy_pickle_truth(policy: Any, data: bytes) -> dict[str, Any]:
    globals_ = pickle_globals_of(torch_zip_pickle(data))
    return {
        "top_level_class": f"{type(policy).__module__}.{type(policy).__qualname__}",
        "torch_archive_prefix": torch_archive_prefix(data),
        "pickle_globals": globals_,
        "legacy_classes": [
            g for g in globals_ if g.split(".")[0] in ("metta", "mettagrid", "tensordict")
        ],
        "loads_weights_only": False,
        "state_dict": state_dict_truth(policy.state_dict(), "policy.state_dict()"),
        "config": policy.config.model_dump(mode="json"),
        "num_params_trainable": sum(p.numel() for p in policy.parameters() if p.requires_grad),
    }


def write_sep2025_colon_v(root: Path) -> None:
    import torch

    era = "sep2025_colon_v"
    run = RUNS[era]
    directory = root / era / run / "checkpoints"
    directory.mkdir(parents=True)
    _, policy = _oct_agent(seed=2510)
    optimizer = torch.optim.Adam(policy.parameters(), **ADAM)
    state: dict[str, Any] = {}
    for row in SCHEDULES[era]:
        epoch, step, total_time, _ = row
        _train(policy, optimizer, seed=epoch)
        # CheckpointManager.save_agent (a1bf59e359): torch.save(agent, '<run>:v{epoch}.pt').
        path = directory / f"{run}:v{epoch}.pt"
        torch.save(policy, path)
        truth = _checkpoint_truth(era, path, root, "metta_colon_v_pt", run, row)
        truth.update(
            {
                "name_fields": {"run_name": run, "epoch": epoch},
                "stored_metadata": "only the file name: run and epoch; agent_step is in "
                "trainer_state.pt (latest epoch only), total_time and score are not stored",
                **_policy_pickle_truth(policy, path.read_bytes()),
                "trainer_state": _paired_trainer_state(era, epoch),
            }
        )
        write_json(directory / f"{run}:v{epoch}.truth.json", truth)
        # CheckpointManager.save_trainer_state (a1bf59e359): a plain torch.save.
        state = _trainer_state_oct(optimizer, epoch, step, total_time)
        torch.save(state, directory / "trainer_state.pt")
    _write_trainer_truth(era, directory / "trainer_state.pt", root, state)


def write_oct2025_mpt(root: Path) -> None:
    import torch
    from metta.rl.policy_artifact import policy_architecture_to_string
    from safetensors.torch import save as save_safetensors

    era = "oct2025_mpt"
    when = ZIP_DATE[era]
    run = RUNS[era]
    directory = root / era / run / "checkpoints"
    directory.mkdir(parents=True)
    config, policy = _oct_agent(seed=2511)
    optimizer = torch.optim.Adam(policy.parameters(), **ADAM)
    state: dict[str, Any] = {}
    for row in SCHEDULES[era]:
        epoch, step, total_time, _ = row
        _train(policy, optimizer, seed=epoch)
        # CheckpointManager.save_agent -> save_policy_artifact_safetensors (6ddad6cebc).
        source = policy.state_dict()
        artifact_state = OrderedDict((key, value.detach().cpu()) for key, value in source.items())
        weights = save_safetensors(artifact_state)
        architecture = policy_architecture_to_string(config)
        path = directory / f"{run}:v{epoch}.mpt"
        _write_mpt(
            path, [("weights.safetensors", weights), ("modelarchitecture.txt", architecture)], when
        )
        truth = _checkpoint_truth(era, path, root, "metta_mpt_safetensors", run, row)
        truth.update(
            {
                "name_fields": {"run_name": run, "epoch": epoch},
                "stored_metadata": "only the file name: run and epoch; no metadata in the zip "
                "or in the safetensors header; agent_step is in trainer_state.pt (latest epoch "
                "only), total_time and score are not stored",
                "zip_members": zip_truth(path.read_bytes()),
                "architecture_text": architecture,
                "architecture_class_path": architecture.split("(", 1)[0],
                "state_dict": state_dict_truth(
                    source, "policy.state_dict() (= the safetensors tensors)"
                ),
                "safetensors": {
                    **safetensors_truth(weights, list(source)),
                    "sha256": sha256_bytes(weights),
                },
                "config": config.model_dump(mode="json"),
                "trainer_state": _paired_trainer_state(era, epoch),
            }
        )
        write_json(directory / f"{run}:v{epoch}.truth.json", truth)
        state = _trainer_state_oct(optimizer, epoch, step, total_time)
        _atomic_torch_save(state, directory / "trainer_state.pt")
    _write_trainer_truth(era, directory / "trainer_state.pt", root, state)

    # save_policy_artifact_pt (6ddad6cebc): the same zip with one member, torch.save(policy).
    run_p = RUNS["oct2025_mpt_pickled"]
    directory_p = root / era / run_p / "checkpoints"
    directory_p.mkdir(parents=True)
    _, pickled = _oct_agent(seed=2512)
    for row in SCHEDULES["oct2025_mpt_pickled"]:
        epoch = row[0]
        _train(pickled, torch.optim.Adam(pickled.parameters(), **ADAM), seed=epoch)
        buffer = io.BytesIO()
        torch.save(pickled, buffer)
        payload = buffer.getvalue()
        path = directory_p / f"{run_p}:v{epoch}.mpt"
        _write_mpt(path, [("policy.pt", payload)], when)
        truth = _checkpoint_truth(era, path, root, "metta_mpt_pickled", run_p, row)
        truth.update(
            {
                "name_fields": {"run_name": run_p, "epoch": epoch},
                "stored_metadata": "only the file name: run and epoch",
                "zip_members": zip_truth(path.read_bytes()),
                "member": "policy.pt",
                **_policy_pickle_truth(pickled, payload),
                "trainer_state": None,
            }
        )
        write_json(directory_p / f"{run_p}:v{epoch}.truth.json", truth)


def _jan_config() -> Any:
    """A toy-sized January 2026 ``FastConfig``."""
    from cortex.config import CortexStackConfig, LSTMCellConfig, PassThroughBlockConfig
    from metta.agent.components.cnn_encoder import CNNEncoderConfig
    from metta.agent.components.cortex import CortexTDConfig
    from metta.agent.policies.fast import FastConfig

    return FastConfig(
        cnn_encoder_config=CNNEncoderConfig(
            in_key="obs_normalizer",
            out_key="encoded_obs",
            cnn1_cfg={"out_channels": 4, "kernel_size": 3, "stride": 1},
            cnn2_cfg={"out_channels": 4, "kernel_size": 1, "stride": 1},
            fc1_cfg={"out_features": 16},
            encoded_obs_cfg={"out_features": 8},
        ),
        cortex_core_config=CortexTDConfig(
            in_key="encoded_obs",
            out_key="core",
            d_hidden=8,
            out_features=8,
            key_prefix="fast_cortex_state",
            stack_cfg=CortexStackConfig(
                blocks=[PassThroughBlockConfig(cell=LSTMCellConfig())], d_hidden=8, post_norm=False
            ),
        ),
        critic_hidden_dim=8,
        actor_hidden_dim=8,
    )


def write_checkpoint_bundle(
    bundle: Path, architecture_spec: str, state_dict: Mapping[str, Any]
) -> None:
    """write_checkpoint_bundle (metta/rl/checkpoint_manager.py, 47b0d081ad): weights first,
    de-aliased by data_ptr, then policy_spec.json last; each through a temp file + rename."""
    from mettagrid.policy.submission import POLICY_SPEC_FILENAME, SubmissionPolicySpec
    from safetensors.torch import save_file as save_safetensors_file

    bundle.mkdir(parents=True, exist_ok=True)
    weights: dict[str, Any] = {}
    seen: set[int] = set()
    for key, tensor in state_dict.items():
        value = tensor.detach().cpu()
        if value.data_ptr() in seen:
            value = value.clone()
        else:
            seen.add(value.data_ptr())
        weights[key] = value
    with tempfile.NamedTemporaryFile(
        dir=bundle, prefix=".weights.safetensors.", suffix=".tmp", delete=False
    ) as handle:
        tmp = Path(handle.name)
    save_safetensors_file(weights, str(tmp))
    tmp.replace(bundle / "weights.safetensors")
    spec = SubmissionPolicySpec(
        class_path="metta.agent.policy.CheckpointPolicy",
        data_path="weights.safetensors",
        init_kwargs={"architecture_spec": architecture_spec, "device": "cpu"},
    )
    with tempfile.NamedTemporaryFile(
        dir=bundle, prefix=f".{POLICY_SPEC_FILENAME}.", suffix=".tmp", delete=False
    ) as handle:
        tmp = Path(handle.name)
        handle.write(spec.model_dump_json().encode("utf-8"))
    tmp.replace(bundle / POLICY_SPEC_FILENAME)


def zip_bundle(bundle: Path, trainer_state_path: Path, zip_path: Path) -> None:
    """The remote copy (save_policy_checkpoint, 47b0d081ad): a ZIP_DEFLATED zip of the bundle's
    files plus the run's trainer_state.pt, built in a temp file beside the bundle."""
    with tempfile.NamedTemporaryFile(
        dir=bundle.parent, prefix=f".{bundle.name}.", suffix=".zip", delete=False
    ) as handle:
        tmp_zip = Path(handle.name)
    try:
        with zipfile.ZipFile(tmp_zip, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
            # Metta iterates checkpoint_dir.rglob("*") (directory order); sorted here.
            for file_path in sorted(bundle.rglob("*")):
                if file_path.is_file():
                    archive.write(file_path, arcname=file_path.relative_to(bundle))
            if trainer_state_path.exists():
                archive.write(trainer_state_path, arcname="trainer_state.pt")
        shutil.copyfile(tmp_zip, zip_path)  # stands in for write_file(remote_zip, ...)
    finally:
        tmp_zip.unlink(missing_ok=True)


def write_jan2026_bundle(root: Path) -> None:
    import torch
    from metta.agent.policies.fast import FastPolicy

    era = "jan2026_bundle"
    run = RUNS[era]
    directory = root / era / run / "checkpoints"
    remote = root / era / "remote" / run
    directory.mkdir(parents=True)
    remote.mkdir(parents=True)
    mtime = _utc_timestamp(ZIP_DATE[era])
    config = _jan_config()
    torch.manual_seed(2601)
    policy = FastPolicy(config, OBS_SIZE, OBS_SIZE, FEATURE_NORMALIZATIONS, NUM_FLAT_ACTIONS)
    optimizer = torch.optim.Adam(policy.parameters(), **ADAM)
    state: dict[str, Any] = {}
    for row in SCHEDULES[era]:
        epoch, step, total_time, _ = row
        _train(policy, optimizer, seed=epoch)
        # ContextCheckpointer saves the trainer state first (same cadence), then the policy.
        state = _trainer_state_oct(optimizer, epoch, step, total_time)
        # ComponentContext.avg_reward: float32, one entry per agent (67eb42a11e).
        state["avg_reward"] = torch.linspace(0.0, 0.03 * epoch, 4, dtype=torch.float32)
        state = _reorder_jan_trainer_state(state)
        _atomic_torch_save(state, directory / "trainer_state.pt")
        os.utime(directory / "trainer_state.pt", (mtime, mtime))
        trainer_truth = {
            "torch_archive_prefix": torch_archive_prefix(
                (directory / "trainer_state.pt").read_bytes()
            ),
            **trainer_state_truth(state),
        }

        # CheckpointManager.save_policy_checkpoint (47b0d081ad): bundle, then the remote zip.
        bundle = directory / f"{run}:v{epoch}"
        source = policy.state_dict()
        architecture_spec = config.to_spec()
        write_checkpoint_bundle(bundle, architecture_spec, source)
        for member in bundle.iterdir():
            os.utime(member, (mtime, mtime))
        zip_path = remote / f"{bundle.name}.zip"
        zip_bundle(bundle, directory / "trainer_state.pt", zip_path)

        weights_bytes = (bundle / "weights.safetensors").read_bytes()
        spec_text = (bundle / "policy_spec.json").read_text(encoding="utf-8")
        common = {
            "name_fields": {"run_name": run, "epoch": epoch},
            "stored_metadata": "only the directory / zip name: run and epoch; policy_spec.json "
            "holds the architecture; agent_step is in trainer_state.pt; total_time and score "
            "are not stored",
            "policy_spec": json.loads(spec_text),
            "policy_spec_json": spec_text,
            "architecture_spec": architecture_spec,
            "architecture_class_path": architecture_spec.split("(", 1)[0],
            "state_dict": state_dict_truth(
                source, "policy.state_dict() (= the safetensors tensors)"
            ),
            "safetensors": {
                **safetensors_truth(weights_bytes, list(source)),
                "sha256": sha256_bytes(weights_bytes),
            },
            "config": config.model_dump(mode="json"),
        }
        truth = _checkpoint_truth(era, bundle, root, "metta_bundle_dir", run, row)
        truth.update(
            {
                **common,
                "bundle_files": sorted(p.name for p in bundle.iterdir()),
                "commit_order": ["weights.safetensors", "policy_spec.json"],
                "trainer_state": _paired_trainer_state(era, epoch),
            }
        )
        write_json(directory / f"{run}:v{epoch}.truth.json", truth)
        truth = _checkpoint_truth(era, zip_path, root, "metta_bundle_zip", run, row)
        truth.update(
            {
                **common,
                "zip_members": zip_truth(zip_path.read_bytes()),
                "trainer_state": {
                    "member": "trainer_state.pt",
                    "is_this_epoch": True,
                    **trainer_truth,
                },
            }
        )
        write_json(remote / f"{run}:v{epoch}.truth.json", truth)
    _write_trainer_truth(era, directory / "trainer_state.pt", root, state)


def _reorder_jan_trainer_state(state: dict[str, Any]) -> dict[str, Any]:
    """save_trainer_state at 47b0d081ad inserts avg_reward right after agent_step."""
    order = [
        "optimizer",
        "epoch",
        "agent_step",
        "avg_reward",
        "stopwatch_state",
        "curriculum_state",
        "loss_states",
    ]
    return {key: state[key] for key in order if key in state}


def _utc_timestamp(when: tuple[int, ...]) -> float:
    import calendar

    return float(calendar.timegm((*when, 0, 0, 0)))


WRITERS: dict[str, Callable[[Path], None]] = {
    "sep2025_epoch_names": write_sep2025_epoch_names,
    "sep2025_colon_v": write_sep2025_colon_v,
    "oct2025_mpt": write_oct2025_mpt,
    "jan2026_bundle": write_jan2026_bundle,
}


# --------------------------------------------------------------------------------------------
# Verifier (classes importable): reload each file the way Metta did, compare with the truth.
# --------------------------------------------------------------------------------------------


def _unsafe_load(source: Path | io.BytesIO) -> Any:
    import torch

    return torch.load(source, map_location="cpu", weights_only=False)


def verify_era(root: Path, era: str) -> int:
    from safetensors.torch import load as load_safetensors

    count = 0
    for truth_path in sorted((root / era).rglob("*.truth.json")):
        truth = json.loads(truth_path.read_text())
        target = root / truth["file"]
        fmt = truth["format"]
        if fmt == "metta_trainer_state":
            state = _unsafe_load(target)
            got = trainer_state_truth(state)
            _expect(got["tensors"] == truth["tensors"], truth_path, "trainer state tensors")
            _expect(got["extras"] == truth["extras"], truth_path, "trainer state extras")
        elif fmt in ("metta_epoch_names_pt", "metta_colon_v_pt"):
            agent = _unsafe_load(target)
            got_sd = agent.state_dict()
            _expect(
                digest(list(got_sd.items())) == truth["state_dict"]["sha256"], truth_path, "digest"
            )
            _expect(
                f"{type(agent).__module__}.{type(agent).__qualname__}" == truth["top_level_class"],
                truth_path,
                "class",
            )
        elif fmt == "metta_mpt_pickled":
            with zipfile.ZipFile(target) as archive:
                policy = _unsafe_load(io.BytesIO(archive.read("policy.pt")))
            _expect(
                digest(list(policy.state_dict().items())) == truth["state_dict"]["sha256"],
                truth_path,
                "digest",
            )
        elif fmt == "metta_mpt_safetensors":
            with zipfile.ZipFile(target) as archive:
                names = archive.namelist()
                loaded = load_safetensors(archive.read("weights.safetensors"))
                text = archive.read("modelarchitecture.txt").decode("utf-8")
            _expect(
                names == ["weights.safetensors", "modelarchitecture.txt"], truth_path, "members"
            )
            _expect(text == truth["architecture_text"], truth_path, "architecture text")
            keys = truth["state_dict"]["keys"]
            _expect(
                digest([(k, loaded[k]) for k in keys]) == truth["state_dict"]["sha256"],
                truth_path,
                "digest",
            )
        elif fmt in ("metta_bundle_dir", "metta_bundle_zip"):
            if fmt == "metta_bundle_dir":
                weights = (target / "weights.safetensors").read_bytes()
                spec_text = (target / "policy_spec.json").read_text(encoding="utf-8")
            else:
                with zipfile.ZipFile(target) as archive:
                    weights = archive.read("weights.safetensors")
                    spec_text = archive.read("policy_spec.json").decode("utf-8")
                    inner = _unsafe_load(io.BytesIO(archive.read("trainer_state.pt")))
                got = trainer_state_truth(inner)
                _expect(
                    got["tensors"] == truth["trainer_state"]["tensors"],
                    truth_path,
                    "zip trainer state",
                )
            loaded = load_safetensors(weights)
            keys = truth["state_dict"]["keys"]
            _expect(
                digest([(k, loaded[k]) for k in keys]) == truth["state_dict"]["sha256"],
                truth_path,
                "digest",
            )
            _expect(spec_text == truth["policy_spec_json"], truth_path, "policy_spec.json")
        else:
            raise SystemExit(f"{truth_path}: unknown format {fmt}")
        count += 1
    return count


def _expect(ok: bool, where: Path, what: str) -> None:
    if not ok:
        raise SystemExit(f"verify failed: {where}: {what}")


# --------------------------------------------------------------------------------------------
# Checker (no stand-in classes, no safetensors package): the truths hold with a modern torch.
# --------------------------------------------------------------------------------------------


def check_tree(root: Path) -> int:
    for name in ("metta", "mettagrid", "tensordict", "cortex", "safetensors"):
        try:
            __import__(name)
        except ImportError:
            continue
        raise SystemExit(f"the check must run without {name!r} importable")
    checks: dict[str, Callable[[Path, Mapping[str, Any], Path], None]] = {
        "metta_trainer_state": _check_trainer_state,
        "metta_epoch_names_pt": _check_pickle,
        "metta_colon_v_pt": _check_pickle,
        "metta_mpt_pickled": _check_pickle,
        "metta_mpt_safetensors": _check_mpt,
        "metta_bundle_dir": _check_bundle_dir,
        "metta_bundle_zip": _check_bundle_zip,
    }
    count = 0
    for truth_path in sorted(root.rglob("*.truth.json")):
        truth = json.loads(truth_path.read_text())
        if truth["format"] not in checks:
            raise SystemExit(f"{truth_path}: unknown format {truth['format']}")
        checks[truth["format"]](root / truth["file"], truth, truth_path)
        count += 1
    return count


def _check_trainer_state(target: Path, truth: Mapping[str, Any], where: Path) -> None:
    import torch

    got = trainer_state_truth(torch.load(target, map_location="cpu", weights_only=True))
    _expect(got["tensors"] == truth["tensors"], where, "weights_only trainer state")
    _expect(got["tensors_sha256"] == truth["tensors_sha256"], where, "tensors_sha256")
    globals_ = pickle_globals_of(torch_zip_pickle(target.read_bytes()))
    _expect(globals_ == truth["pickle_globals"], where, "globals")


def _check_pickle(target: Path, truth: Mapping[str, Any], where: Path) -> None:
    import pickle

    import torch

    if truth["format"] == "metta_mpt_pickled":
        with zipfile.ZipFile(target) as archive:
            data = archive.read(truth["member"])
    else:
        data = target.read_bytes()
    _expect(pickle_globals_of(torch_zip_pickle(data)) == truth["pickle_globals"], where, "globals")
    try:
        torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        return
    raise SystemExit(f"{where}: a whole-object pickle loaded with weights_only=True")


def _check_mpt(target: Path, truth: Mapping[str, Any], where: Path) -> None:
    _expect(zip_truth(target.read_bytes()) == truth["zip_members"], where, "zip members")
    with zipfile.ZipFile(target) as archive:
        _expect(archive.testzip() is None, where, "zip CRC")
        weights = archive.read("weights.safetensors")
        text = archive.read("modelarchitecture.txt").decode("utf-8")
    _expect(text == truth["architecture_text"], where, "architecture text")
    _check_safetensors(weights, truth, where)


def _check_bundle_dir(target: Path, truth: Mapping[str, Any], where: Path) -> None:
    weights = (target / "weights.safetensors").read_bytes()
    spec = json.loads((target / "policy_spec.json").read_text(encoding="utf-8"))
    _expect(spec == truth["policy_spec"], where, "policy_spec")
    _expect(sorted(p.name for p in target.iterdir()) == truth["bundle_files"], where, "files")
    _check_safetensors(weights, truth, where)


def _check_bundle_zip(target: Path, truth: Mapping[str, Any], where: Path) -> None:
    import torch

    _expect(zip_truth(target.read_bytes()) == truth["zip_members"], where, "zip members")
    with zipfile.ZipFile(target) as archive:
        _expect(archive.testzip() is None, where, "zip CRC")
        weights = archive.read("weights.safetensors")
        inner = torch.load(io.BytesIO(archive.read("trainer_state.pt")), weights_only=True)
        spec_text = archive.read("policy_spec.json").decode("utf-8")
    _expect(spec_text == truth["policy_spec_json"], where, "policy_spec.json")
    got = trainer_state_truth(inner)["tensors"]
    _expect(got == truth["trainer_state"]["tensors"], where, "trainer state in the zip")
    _check_safetensors(weights, truth, where)


def _check_safetensors(weights: bytes, truth: Mapping[str, Any], where: Path) -> None:
    header, tensors = parse_safetensors(weights)
    expected = truth["safetensors"]
    _expect(sha256_bytes(weights) == expected["sha256"], where, "safetensors bytes")
    _expect(header.get("__metadata__") is None, where, "no safetensors metadata")
    keys = truth["state_dict"]["keys"]
    _expect(sorted(tensors) == sorted(keys), where, "safetensors keys")
    _expect(
        digest([(k, tensors[k]) for k in keys]) == truth["state_dict"]["sha256"], where, "digest"
    )
    for key in keys:
        _expect(tensor_info(tensors[key]) == truth["state_dict"]["tensors"][key], where, key)


# --------------------------------------------------------------------------------------------
# Orchestrator
# --------------------------------------------------------------------------------------------


def run(cmd: list[str], env: Mapping[str, str] | None = None) -> None:
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, env=dict(env) if env is not None else None)


def ensure_safetensors(cache_dir: Path, python: str) -> Path:
    """safetensors==0.6.2 in a pip --target dir outside the clone (stamp written last)."""
    target = cache_dir / f"metta-formats-safetensors-{SAFETENSORS_VERSION}"
    stamp = target / ".stamp"
    if stamp.is_file() and stamp.read_text().strip() == SAFETENSORS_VERSION:
        log(f"reusing {target}")
        return target
    if target.exists():
        shutil.rmtree(target)
    run([python, "-m", "pip", "install", "--no-input", "--no-deps", "--target", str(target),
         f"safetensors=={SAFETENSORS_VERSION}"])  # fmt: skip
    stamp.write_text(SAFETENSORS_VERSION + "\n")
    return target


def child_env(paths: list[Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update({"PYTHONHASHSEED": "0", "TZ": "UTC", "PYTHONDONTWRITEBYTECODE": "1"})
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    return env


def generate(out: Path, python: str, check_python: str, cache_dir: Path) -> None:
    deps = ensure_safetensors(cache_dir, python)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-metta-formats-", dir=out.parent))
    try:
        for era in ERAS:
            env = child_env([TEMPLATE / TEMPLATES[era], deps])
            run([python, "-B", __file__, "_write", era, str(staging)], env)
            run([python, "-B", __file__, "_verify", era, str(staging)], env)
        run([check_python, "-B", __file__, "_check", str(staging)], child_env([]))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
        log(f"wrote {out}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_manifest(out: Path) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = str(path.relative_to(out))
        if rel in ("MANIFEST.json", "README.md"):
            continue
        entry: dict[str, Any] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        era = rel.split("/", 1)[0]
        entry["era"] = era
        if path.name.endswith(".truth.json"):
            truth = json.loads(path.read_text())
            entry.update({"role": "truth", "describes": truth["file"], "format": truth["format"]})
        else:
            entry["role"] = _role(path)
        files[rel] = entry
    truths = [json.loads(p.read_text()) for p in sorted(out.rglob("*.truth.json"))]
    writer = truths[0]["writer"] if truths else {}
    manifest = {
        "what": "Metta checkpoint formats after PolicyStore (Sep 2025 - Jan 2026), written the "
        "way Metta's code wrote them, with toy tensors and ground truth (see README.md)",
        "regenerate": f"python {GENERATOR}",
        "writer": writer,
        "digest_rule": DIGEST_RULE,
        "sources": SOURCES,
        "checkpoints": {
            t["file"]: {
                "format": t["format"],
                "run_name": t["run_name"],
                "epoch": t["epoch"],
                "agent_step": t["agent_step"],
                "total_time": t["total_time"],
                "score": t["score"],
                "state_dict_sha256": t["state_dict"]["sha256"],
            }
            for t in truths
            if t["format"] != "metta_trainer_state"
        },
        "total_bytes": sum(f["bytes"] for f in files.values()),
        "files": files,
    }
    write_json(out / "MANIFEST.json", manifest)
    log(f"MANIFEST.json: {len(files)} files, {manifest['total_bytes']} bytes")
    return manifest


def _role(path: Path) -> str:
    if path.name == "trainer_state.pt":
        return "trainer_state"
    if ":v" in path.parent.name:
        return "bundle_member"
    return "checkpoint"


class _SeededTempNames:
    """Stands in for tempfile's random name sequence in the writer, so reproducible.

    It matters for the bytes: torch.save names the zip archive's top directory after the file
    it writes, so Metta's atomic saves (torch.save to '.trainer_state.pt.<8 random chars>.tmp',
    then rename) leave that temp name inside every trainer_state.pt from 6ddad6cebc on.
    """

    characters = "abcdefghijklmnopqrstuvwxyz0123456789_"

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible temp names, not secrets

    def __iter__(self) -> _SeededTempNames:
        return self

    def __next__(self) -> str:
        return "".join(self.rng.choice(self.characters) for _ in range(8))


def _seed_temp_names(seed: int) -> None:
    tempfile._name_sequence = _SeededTempNames(seed)  # type: ignore[attr-defined]


def _drop_legacy_alias_finder() -> None:
    """Remove checkpoint-compat's own legacy-import finder (installed by its .pth) from this
    process, so ``metta`` resolves to the stand-in tree in writers and to nothing in the check."""
    sys.meta_path[:] = [
        finder
        for finder in sys.meta_path
        if type(finder).__module__ != "_checkpoint_compat_startup"
    ]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["_write"], ["_verify"], ["_check"]):
        _drop_legacy_alias_finder()
    if argv[:1] == ["_write"]:
        _seed_temp_names(sum(map(ord, argv[1])))
        WRITERS[argv[1]](Path(argv[2]))
        return 0
    if argv[:1] == ["_verify"]:
        count = verify_era(Path(argv[2]), argv[1])
        log(f"{argv[1]}: {count} files match their truth (unsafe reload)")
        return 0
    if argv[:1] == ["_check"]:
        log(f"{check_tree(Path(argv[1]))} truths hold without the classes (weights_only / parsed)")
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter that writes (needs torch, pydantic)"
    )
    parser.add_argument(
        "--check-python", default=sys.executable, help="interpreter for the modern check"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ[CACHE_ENV]).expanduser()
        if CACHE_ENV in os.environ
        else DEFAULT_CACHE,
        help=f"where the safetensors {SAFETENSORS_VERSION} target dir lives (env {CACHE_ENV})",
    )
    parser.add_argument("--manifest-only", action="store_true")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if not args.manifest_only:
        generate(out, args.python, args.check_python, args.cache_dir)
    (out / "README.md").write_text(README)
    write_manifest(out)
    return 0


README = """\
# Metta checkpoint formats after PolicyStore

Generated by `fixtures_src/make_metta_formats.py`; do not edit by hand. Each directory is one
era of Metta's checkpoint format (github.com/Metta-AI/metta), written the way Metta's code wrote
it: the same file and directory names, the same zip members, compression and member order, the
same safetensors calls (no header metadata), the same JSON fields and the same commit order. The
tensors are toy-sized (about 1,700 parameters per agent) and the whole directory is under 1 MB.

```sh
.venv/bin/python fixtures_src/make_metta_formats.py     # rebuild, verify, replace this directory
```

The writer installs `safetensors==0.6.2` (the version in Metta's uv.lock) with `pip --target` into
`$CHECKPOINT_COMPAT_VENV_CACHE/metta-formats-safetensors-0.6.2` (default under
`~/.cache/checkpoint-compat/venvs`), outside the clone. Each era is written in a subprocess with
its stand-in classes from `fixtures_src/metta_template/<tree>/` on `sys.path`; they are never
importable from tests. The `.pt` files come from the project's torch (2.13.0+cpu). Metta's lock
file had torch 2.8.0 until 8b611fb0bc (2025-10-15) and 2.9.0 after. MANIFEST.json records every
version used. Output is byte-for-byte reproducible: `PYTHONHASHSEED=0`, `TZ=UTC`, pinned zip
timestamps and seeded temp-file names.

## Layout

```
sep2025_epoch_names/fixture_sep_e/checkpoints/
    fixture_sep_e__e1__s1024__t12__sc0.pt       pickled metta.agent.metta_agent.MettaAgent
    fixture_sep_e__e2__s2048__t25__sc8765.pt    best by score (0.8765)
    fixture_sep_e__e3__s3072__t38__sc5699.pt    latest; score 0.57 truncates to 5699
    trainer_state.pt                            epoch 3 (one file per run, overwritten)
sep2025_colon_v/fixture_sep_v/checkpoints/
    fixture_sep_v:v5.pt, fixture_sep_v:v10.pt   pickled metta.agent.policies.fast.FastPolicy
    trainer_state.pt                            epoch 10
oct2025_mpt/fixture_oct_mpt/checkpoints/
    fixture_oct_mpt:v5.mpt, fixture_oct_mpt:v10.mpt
                                                zip: weights.safetensors, modelarchitecture.txt
    trainer_state.pt                            epoch 10
oct2025_mpt/fixture_oct_mpt_pickled/checkpoints/
    fixture_oct_mpt_pickled:v3.mpt              zip: policy.pt (a pickled FastPolicy)
jan2026_bundle/fixture_jan_bundle/checkpoints/
    fixture_jan_bundle:v5/, fixture_jan_bundle:v10/   weights.safetensors + policy_spec.json
    trainer_state.pt                            epoch 10
jan2026_bundle/remote/fixture_jan_bundle/
    fixture_jan_bundle:v5.zip, fixture_jan_bundle:v10.zip   the object-storage copies; each
                                                holds policy_spec.json, weights.safetensors and
                                                that epoch's trainer_state.pt
```

Next to every checkpoint (file, bundle directory or zip) is `<name>.truth.json`, and
`trainer_state.truth.json` is next to each `trainer_state.pt`.

## The formats, from Metta's source

All paths are in Metta-AI/metta; commits are given with their dates.

### `<run>__e{epoch}__s{agent_step}__t{total_time}__sc{score}.pt` (2025-09-02 to 09-17)

`metta/rl/checkpoint_manager.py` at 5eb9839a3a (2025-09-02), which removed PolicyStore:
- `save_agent(agent, epoch, metadata)` writes `torch.save(agent, path)`, the whole agent, to
  `<run_dir>/<run>/checkpoints/`. The name is built from
  `agent_step = metadata.get("agent_step", 0)`,
  `total_time = int(metadata.get("total_time", 0))` and
  `score = int(metadata.get("score", 0.0) * 10000)`.
  The trainer passes `total_time = timer.get_elapsed()`, float seconds, so the name holds whole
  seconds, truncated. `score` is the evaluation's average simulation score. It is only present
  after an evaluation, so it is otherwise 0. `int()` truncates, so 0.57 becomes `sc5699`.
- Reading a name back does not use a regex: `filename[:-3].split("__")` must give 5 parts, and
  `e`, `s`, `t` and `sc` are followed by `str.isdigit()` digits. The score is read back as
  `int(...) / 10000.0`. A negative score makes a name such as `sc-5000`, which then does not
  parse. Run names may not contain `__`, spaces, `/`, `*`, `\\`, `:`, `<`, `>`, `|`, `?` or `"`.
  The latest checkpoint is the one with the highest epoch, from `*.pt` in the directory or its
  `checkpoints/`. There is no `:latest`.
- The agent is `metta.agent.metta_agent.MettaAgent`. Its `policy` is the default "fast"
  `metta.agent.component_policies.fast.Fast` ComponentPolicy, whose layers come from
  `metta.agent.lib.*`. It also carries a pydantic `metta.agent.agent_config.AgentConfig` and
  plain tensor attributes that are not in `state_dict()`.
- `save_trainer_state` writes `torch.save({"optimizer": optimizer.state_dict(), "epoch",
  "agent_step", "stopwatch_state"}, "trainer_state.pt")`. There is one such file per run,
  overwritten at each save. The on-disk key is `optimizer`. `load_trainer_state` maps
  `optimizer` (or `optimizer_state`) to `optimizer_state` in the dict it returns.

### `<run>:v{epoch}.pt` (2025-09-17 to 10-15)

96d3745e1f (2025-09-17) changed the name to `f"{run}:v{epoch}.pt"`. The agent is still
`torch.save`d whole. Nothing else is kept: agent_step, total_time and score left the file name.
- Until b1e7926265 (2025-09-20) the agent was a `MettaAgent`. After that it is a
  `metta.agent.policy.Policy` subclass: here `metta.agent.policies.fast.FastPolicy`, holding a
  pydantic `FastConfig` and `tensordict.nn.common.TensorDictModule`-wrapped layers. The fixture
  follows a1bf59e359 (2025-10-10).
- `trainer_state.pt` gained `loss_states` (6bb91f6b3d, 2025-09-22) and `curriculum_state`
  (3b62903deb, 2025-09-23). `loss_states` maps a loss name to an OrderedDict from
  `Loss.state_dict()`.
- Names are parsed with `stem.rsplit(":v", 1)`: the run must be non-empty and the suffix all digits.
  At 96d3745e1f the parser was more lenient: it also tried the directory names, `v{n}.pt` and
  `run__e{n}`. `:latest` first appeared (d0c6f69a2a, 2025-09-24) as `<run>:latest.pt`. From
  4a72d29a6c (2025-09-30) a URI that ends in `:latest` is cut down to its directory, and the
  `*.pt` there (except `trainer_state.pt`) with the highest epoch is taken.

### `<run>:v{epoch}.mpt` (2025-10-15 to 2026-01-04)

`metta/rl/policy_artifact.py` at 6ddad6cebc (2025-10-15, "safetensors again"):
- `save_policy_artifact_safetensors` writes a `zipfile.ZIP_DEFLATED` zip with two members, in
  this order. `weights.safetensors` is the bytes of `safetensors.torch.save()` of the policy's
  `state_dict()`, each tensor detached and moved to the CPU, with no metadata. Tensors sharing
  storage make that call fail (it was not de-aliased until 793e02d3fd).
  `modelarchitecture.txt` is `policy_architecture_to_string(architecture)`. Both are added with
  `writestr(name, ...)`, which stamps the current time and gives mode 0600. The zip goes to a
  `.<name>.*.tmp` temp file in the same directory, which is then renamed over the target.
  The PR description calls the text file `modelarchitecture.json`; the code writes `.txt`.
- The architecture text is `<module>.<qualname>(key=repr(value), ...)`. It is built from the
  config's `model_dump(mode="json")` without `class_path`. `components` and
  `action_probs_config` get a `class_path` entry. Every dict is rebuilt with sorted keys, and the
  keywords are sorted. A config with nothing left is written as just the class path. It is read
  back with `ast.parse` and `ast.literal_eval`. For example, Metta's default `FastConfig()`:
  ```
  metta.agent.policies.fast.FastConfig(action_probs_config={
  'class_path': 'metta.agent.components.actor.ActionProbsConfig', 'in_key': 'logits',
  'name': 'action_probs'}, actor_hidden_dim=512,
  cnn_encoder_config={'cnn1_cfg': {'kernel_size': 5, 'out_channels': 64, 'stride': 3},
  'cnn2_cfg': {'kernel_size': 3, 'out_channels': 64, 'stride': 1},
  'encoded_obs_cfg': {'out_features': 128}, 'fc1_cfg': {'out_features': 128},
  'in_key': 'obs_normalizer', 'name': 'cnn_encoder', 'out_key': 'encoded_obs'},
  components=[], critic_hidden_dim=1024, lstm_config={'hidden_size': 128,
  'in_key': 'encoded_obs', 'latent_size': 128, 'name': 'lstm', 'num_layers': 2,
  'out_key': 'core'}, obs_shim_config={'in_key': 'env_obs', 'name': 'obs_shim_box',
  'out_key': 'obs_normalizer'})
  ```
  (one line in the file; wrapped here).
  The stand-in implementations were checked against Metta's own functions on the fixture
  configs: the strings are identical.
- `save_policy_artifact_pt` writes the other variant: a zip whose only member is `policy.pt`, the
  bytes of `torch.save(policy, BytesIO)`. Only Metta's tests call it, with names
  `<run>:v{epoch}.mpt`. The trainer always wrote safetensors. From 793e02d3fd (2025-11-26) the
  format lives in `mettagrid/policy/mpt_artifact.py`. It writes the same two members and clones
  tensors that share storage, and its reader no longer accepts `policy.pt`.
- Epoch is carried only in the name. There is no agent_step, total_time or score anywhere in the
  file. `trainer_state.pt` (which has `agent_step`) is written atomically through a temp file from
  6ddad6cebc on. Listing and `:latest` are the same as for `:v` names, over `*.mpt`.
- `torch.save` names a zip checkpoint's top directory after the file it writes: `archive` for a
  buffer, so `policy.pt` inside an `.mpt` has `archive/data.pkl`; `fixture_sep_v:v5/` for
  `fixture_sep_v:v5.pt`. The atomic trainer-state save writes to
  `.trainer_state.pt.<8 random chars>.tmp`, so from 6ddad6cebc on every `trainer_state.pt` has
  records like `.trainer_state.pt.k3v9x0ab/data.pkl`. The writer seeds the temp names so they
  are reproducible. Each truth has `torch_archive_prefix`.

### Bundles `<run>:v{epoch}/` and `<run>:v{epoch}.zip` (from 2026-01-04)

`metta/rl/checkpoint_manager.py` at 47b0d081ad (2026-01-09); bundles date from 7eb0994b9c
(2026-01-04):
- `write_checkpoint_bundle` clones tensors whose `data_ptr` it has already seen, then writes
  `safetensors.torch.save_file(weights)` to `.weights.safetensors.*.tmp` and renames it to
  `weights.safetensors`. It writes `policy_spec.json` **last**, through
  `.policy_spec.json.*.tmp`. Temp files have mode 0600.
- `policy_spec.json` is `SubmissionPolicySpec(...).model_dump_json()`: compact pydantic JSON,
  with fields in this order: `class_path` (`"metta.agent.policy.CheckpointPolicy"`),
  `data_path` (`"weights.safetensors"`), `init_kwargs`
  (`{"architecture_spec": architecture.to_spec(), "device": "cpu"}`) and `setup_script`
  (`null`). See `mettagrid/policy/submission.py`; `setup_script` was added in d6f4492d2d,
  2025-12-09. `to_spec()` uses the architecture-text rule above.
- With remote storage, `save_policy_checkpoint` also uploads `<prefix>/<run>:v{epoch}.zip`. This
  `ZIP_DEFLATED` zip holds the bundle's files via `ZipFile.write` in `rglob("*")` order, which is
  directory order (sorted here). From 47b0d081ad it also holds the run's `trainer_state.pt`. The
  trainer saves that just before the policy, so it belongs to the same epoch.
- `trainer_state.pt` gained `avg_reward` (67eb42a11e, 2025-12-23): a float32 tensor with one entry
  per agent, inserted after `agent_step`. `load_trainer_state` returns the raw dict. It reads
  `<checkpoints>/trainer_state.pt`, then `trainer_state.pt` inside the policy's directory or zip.
- Names: `Path(path).stem.rsplit(":v", 1)`, with the same digit rule. `:latest` on a directory
  takes the subdirectory that has a `policy_spec.json`, or the `.zip` file, with the highest
  epoch. On S3 only `.zip` keys count. Beware that a bundle *directory* for a run with a dot in
  its name, such as `a.b:v5`, has the stem `a`, so it does not parse.

## Truth files

`<name>.truth.json` holds:
- `file`, `era`, `format` and `source`: the Metta repository, commit, date, paths and a summary
  of what the code did;
- `writer`: the generator and the versions of torch, Python, pydantic and safetensors;
- `run_name`, `epoch`, `agent_step`, `total_time` and `score`: what the writer used (null where
  the era had none). `name_fields` is what the name says, and `stored_metadata` says where each
  value lives;
- `state_dict`: the keys in `state_dict()` order, and per tensor the dtype, shape and sha256 of
  its contiguous bytes, plus `n_tensors`, `numel` and `sha256`, the digest of
  `shared/fixtures/metta/MANIFEST.json`. safetensors 0.6.2 writes the header keys sorted by name
  and its `load()` returns them in no fixed order, so the agent's order is lost; `safetensors`
  also gives `header_key_order`, `data_order` and the digest in both orders;
- for pickles: `top_level_class`, `pickle_globals` (a static scan), `legacy_classes`,
  `loads_weights_only` (false) and the config or attributes;
- for zips: `zip_members`, with each member's name, compression, sizes, date_time,
  external_attr and sha256. `.mpt` truths also have `architecture_text`;
- for bundles: `policy_spec` (parsed), `policy_spec_json` (the exact text), `architecture_spec`
  and `commit_order`;
- `trainer_state`: the run's `trainer_state.pt` and the epoch it belongs to. In a zip truth it is
  the full truth of the member.

`trainer_state.truth.json` lists every tensor as `{path, dtype, shape, sha256}`, with paths
such as `optimizer.state.0.exp_avg` and `avg_reward`. It also has `tensors_sha256` (the digest
over those paths), `epoch`, `agent_step`, `top_level_keys`, the optimizer's `param_groups` and
the other entries as JSON. Every trainer state loads with `torch.load(weights_only=True)`.

## What is synthetic

- The agents are tiny and trained with a few Adam steps (Metta's default hyperparameters) on a
  fixed loss. Class paths, class names and parameter names follow the era's Metta code. The
  sizes, some attributes (gym spaces, env objects) and the January cortex stack config
  (simplified to one pass-through LSTM block) do not.
- `stopwatch_state`, `curriculum_state` and `loss_states` have Metta's structure with made-up
  values.
- The zip timestamps are pinned: 2025-10-20 12:00 for `.mpt`, 2026-01-09 12:00 UTC for bundle
  zips. Metta's writers used the current time, or the file's mtime.
- The bundle zips' member order is sorted, where Metta used directory order.
"""


if __name__ == "__main__":
    sys.exit(main())
