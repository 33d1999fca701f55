"""Torch-side half of the legacy corpus generator; runs INSIDE a throwaway old-torch venv.

``make_legacy_corpus.py`` (the driver) runs this file with the venv's interpreter:

* ``generate OUT``: build the legacy objects with fixed seeds, write every checkpoint in zip and
  legacy (non-zip) format, the ground truth (``<name>.truth.pt`` / ``<name>.truth.json``) and
  ``index.json``. Everything is written by this old torch.
* ``verify-unsafe DIR``: re-open every checkpoint with an UNSAFE ``torch.load`` while the legacy
  classes are importable (only ever in the old venv, only on our own non-hostile files) and check
  that it reproduces the truth. This is what proves the truth is right.
* ``check-truth DIR``: with any torch (meant for the modern one), load only the truth files with
  ``weights_only=True`` and check them against the JSON; also report which plain-data
  checkpoints that torch opens with ``weights_only=True``.

Python 3.8+ syntax only: the venvs run older interpreters than the project.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pickle_scan import main_pickle, pickle_globals

TEMPLATE_DIR = Path(__file__).resolve().parent / "legacy_template"
LEGACY_PACKAGE = "legacyproj"
SEED = 1234
FORMATS = ("zip", "legacy")
DIGEST_RULE = (
    "sha256 over, for each (key, tensor) in state_dict order: key utf-8, str(dtype) e.g. "
    "'torch.float32', str(tuple(shape)), then the tensor's raw bytes (contiguous, viewed as uint8)"
)
AGENT_CONFIG = {
    "obs_channels": 3,
    "obs_grid": 5,
    "hidden_size": 8,
    "num_actions": 6,
    "arch": "conv-bn-lstm",
    "tags": ["legacy", "fixture"],
}
RECORD_METADATA = {
    "agent_step": 1234,
    "epoch": 3,
    "generation": 1,
    "train_time": 12.5,
    "score": 0.75,
    "eval_scores": {"navigation": 0.5, "combat": 0.25},
}
TRAINER_COUNTERS = {"epoch": 3, "agent_step": 1234}


# --------------------------------------------------------------------------------------------
# helpers shared by all three commands


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """Raw little-endian bytes of ``tensor`` in row-major order (no numpy needed)."""
    flat = tensor.detach().contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    return bytes(flat.view(torch.uint8).tolist())


def state_dict_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """The digest of ``shared/fixtures/metta/MANIFEST.json`` (see ``DIGEST_RULE``)."""
    digest = hashlib.sha256()
    for key, tensor in state_dict.items():
        digest.update(key.encode("utf-8"))
        digest.update(str(tensor.dtype).encode("utf-8"))
        digest.update(str(tuple(tensor.shape)).encode("utf-8"))
        digest.update(tensor_bytes(tensor))
    return digest.hexdigest()


def flatten_optimizer_state(opt_state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """``optimizer.state_dict()["state"]`` as ``state.<param index>.<name>`` -> tensor."""
    flat: dict[str, torch.Tensor] = {}
    for index, per_param in opt_state["state"].items():
        for name, value in per_param.items():
            if isinstance(value, torch.Tensor):
                flat[f"state.{index}.{name}"] = value
    return flat


def plain(value: Any) -> Any:
    """JSON-able copy of plain data (tuples become lists, tensors are summarised)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return {"tensor": str(value.dtype), "shape": list(value.shape)}
    return value


def tensor_table(state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Keys, dtypes, shapes, strides, offsets, tied groups and digest of a state_dict."""
    by_storage: dict[int, list[str]] = collections.OrderedDict()
    for key, tensor in state_dict.items():
        if tensor.numel():
            by_storage.setdefault(storage_ptr(tensor), []).append(key)
    return {
        "keys": list(state_dict),
        "dtypes": {k: str(t.dtype) for k, t in state_dict.items()},
        "shapes": {k: list(t.shape) for k, t in state_dict.items()},
        "strides": {k: list(t.stride()) for k, t in state_dict.items()},
        "storage_offsets": {k: int(t.storage_offset()) for k, t in state_dict.items()},
        "n_tensors": len(state_dict),
        "numel": int(sum(t.numel() for t in state_dict.values())),
        "shared_storage_groups": [keys for keys in by_storage.values() if len(keys) > 1],
        "sha256": state_dict_digest(state_dict),
    }


def storage_ptr(tensor: torch.Tensor) -> int:
    if hasattr(tensor, "untyped_storage"):  # torch >= 2.0
        return int(tensor.untyped_storage().data_ptr())
    return int(tensor.storage().data_ptr())


def torch_save(obj: Any, path: Path, fmt: str) -> None:
    if fmt == "zip":
        torch.save(obj, str(path))
    else:
        torch.save(obj, str(path), _use_new_zipfile_serialization=False)


def install_legacy_package() -> Path:
    """Copy the legacy package to a temp dir and make it importable in THIS process only."""
    root = Path(tempfile.mkdtemp(prefix="legacyproj-"))
    shutil.copytree(str(TEMPLATE_DIR / LEGACY_PACKAGE), str(root / LEGACY_PACKAGE))
    sys.path.insert(0, str(root))
    return root


def qualname(obj: Any) -> str:
    cls = type(obj)
    return cls.__module__ + "." + cls.__qualname__


def versions() -> dict[str, Any]:
    try:
        import numpy

        numpy_version: str | None = numpy.__version__
    except ImportError:
        numpy_version = None
    return {
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "numpy_version": numpy_version,
    }


# --------------------------------------------------------------------------------------------
# generate


def build_objects() -> dict[str, Any]:
    """Agent trained for a few steps, its Adam optimizer, the record and the dtype zoo."""
    from legacyproj.agent.metta_agent import MettaAgent
    from legacyproj.agent.policy_metadata import PolicyMetadata
    from legacyproj.agent.policy_record import PolicyRecord
    from legacyproj.optim import LegacyAdam

    torch.manual_seed(SEED)
    agent = MettaAgent(AGENT_CONFIG)
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-3)
    legacy_optimizer = LegacyAdam(agent.parameters(), lr=5e-4)
    grid = AGENT_CONFIG["obs_grid"]
    # Two optimizer steps: Adam state gets step/exp_avg/exp_avg_sq, BatchNorm's running stats and
    # num_batches_tracked move away from their initial values.
    for _ in range(2):
        obs = torch.randn(4, AGENT_CONFIG["obs_channels"], grid, grid)
        logits, value = agent(obs)
        loss = logits.logsumexp(-1).mean() + value.pow(2).mean()
        for opt in (optimizer, legacy_optimizer):
            opt.zero_grad()
        loss.backward()
        optimizer.step()
        legacy_optimizer.step()
        agent.updates += 1
    agent.eval()

    metadata = PolicyMetadata(RECORD_METADATA)
    record = PolicyRecord(None, "legacy_run.e3", "file:///runs/legacy_run/model_0003.pt", metadata)
    record._cached_policy = agent
    return {
        "agent": agent,
        "optimizer": optimizer,
        "legacy_optimizer": legacy_optimizer,
        "record": record,
        "dtypes": dtype_zoo(),
    }


def dtype_zoo() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(SEED)
    base = torch.randn(3, 4, generator=generator)
    shared = torch.arange(10, dtype=torch.float32)
    zoo: dict[str, torch.Tensor] = collections.OrderedDict()
    zoo["float32"] = torch.randn(5, generator=generator)
    zoo["float16"] = torch.randn(2, 3, generator=generator).half()
    if hasattr(torch, "bfloat16"):
        zoo["bfloat16"] = torch.randn(4, generator=generator).to(torch.bfloat16)
    zoo["float64"] = torch.randn(2, 2, generator=generator).double()
    zoo["complex64"] = torch.randn(3, generator=generator).to(torch.complex64) * (1 + 2j)
    zoo["int64"] = torch.tensor([-(2**40), -1, 0, 2**40], dtype=torch.int64)
    zoo["int32"] = torch.tensor([-7, 0, 7], dtype=torch.int32)
    zoo["int8"] = torch.tensor([-128, -1, 0, 127], dtype=torch.int8)
    zoo["uint8"] = torch.tensor([0, 1, 254, 255], dtype=torch.uint8)
    zoo["bool"] = torch.tensor([True, False, True])
    zoo["scalar_0d"] = torch.tensor(3.5)
    zoo["empty"] = torch.empty(0, 4)
    # A transposed view and a strided slice: saved as their whole base storage plus strides.
    zoo["transposed"] = base.t()
    zoo["strided"] = base[:, ::2]
    # Two tensors on one storage, the second at a non-zero offset.
    zoo["shared_base"] = shared
    zoo["shared_view"] = shared[2:6]
    return zoo


def truth_for(kind: str, objs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(object to save, ground truth dict) for one kind of checkpoint."""
    agent = objs["agent"]
    truth: dict[str, Any] = {"kind": kind}
    if kind in ("record", "agent", "state_dict", "raw_dict"):
        state_dict = agent.state_dict()
        truth["state_dict"] = dict(state_dict)
        truth["state_dict_metadata"] = plain(getattr(state_dict, "_metadata", {}))
        truth["non_persistent_buffers"] = ["scratch"]
    if kind in ("record", "agent"):
        truth["agent_class"] = qualname(agent)
        truth["agent_attributes"] = {"config": dict(agent.config)}
        if hasattr(agent, "obs_scale"):
            truth["agent_attributes"]["obs_scale"] = torch.tensor(agent.obs_scale.tolist())
    obj: Any = agent
    if kind == "record":
        obj = objs["record"]
        truth["run_name"] = obj.run_name
        truth["uri"] = obj.uri
        truth["metadata_class"] = qualname(obj.metadata)
        truth["metadata"] = json.loads(json.dumps(dict(obj.metadata)))
    elif kind == "state_dict":
        obj = agent.state_dict()
    elif kind == "raw_dict":
        extras = {"lr": 3e-4, "tags": ["raw", "dict"], "best": 0.75, "counts": torch.arange(3)}
        obj = {"model_state_dict": agent.state_dict(), "epoch": 7, "extras": extras}
        truth["object"] = {"epoch": 7, "extras": extras}
    elif kind == "dtypes":
        obj = objs["dtypes"]
        truth["state_dict"] = dict(obj)
    elif kind in ("optimizer", "trainer_state", "trainer_state_object"):
        opt = objs["legacy_optimizer" if kind == "trainer_state_object" else "optimizer"]
        opt_state = opt.state_dict()
        truth["optimizer_class"] = qualname(opt)
        truth["optimizer_state_dict"] = opt_state
        truth["state_dict"] = flatten_optimizer_state(opt_state)
        if kind == "optimizer":
            obj = opt
        else:
            truth["object"] = dict(TRAINER_COUNTERS)
            pickled = opt_state if kind == "trainer_state" else opt
            obj = {"optimizer": pickled, **TRAINER_COUNTERS}
    elif kind != "agent":
        raise ValueError(kind)
    return obj, truth


KINDS = (
    "record",
    "agent",
    "optimizer",
    "trainer_state",
    "trainer_state_object",
    "state_dict",
    "raw_dict",
    "dtypes",
)
TOP_LEVEL = {
    "record": "legacyproj.agent.policy_record.PolicyRecord",
    "agent": "legacyproj.agent.metta_agent.MettaAgent",
    "optimizer": "torch.optim.adam.Adam",
    "trainer_state": "builtins.dict",
    "trainer_state_object": "builtins.dict",
    "state_dict": "collections.OrderedDict",
    "raw_dict": "builtins.dict",
    "dtypes": "collections.OrderedDict",
}
DIGEST_OF = {
    "record": "record._cached_policy.state_dict()",
    "agent": "agent.state_dict()",
    "optimizer": "optimizer.state_dict()['state'] flattened as state.<param index>.<name>",
    "trainer_state": "obj['optimizer']['state'] flattened as state.<param index>.<name>",
    "trainer_state_object": (
        "obj['optimizer'].state_dict()['state'] flattened as state.<param index>.<name>"
    ),
    "state_dict": "the object itself",
    "raw_dict": "obj['model_state_dict']",
    "dtypes": "the object itself",
}


def describe(kind: str, fmt: str, ckpt: Path, truth: dict[str, Any]) -> dict[str, Any]:
    """The ``<name>.truth.json`` document."""
    doc: dict[str, Any] = {
        "file": ckpt.name,
        "truth_file": ckpt.name[: -len(".pt")] + ".truth.pt",
        "kind": kind,
        "format": fmt,
        **versions(),
        "top_level_class": TOP_LEVEL[kind],
        "pickle_globals": pickle_globals(main_pickle(ckpt)),
        "digest_rule": DIGEST_RULE,
        "digest_of": DIGEST_OF[kind],
        "state_dict": tensor_table(truth["state_dict"]),
    }
    doc["legacy_classes"] = [g for g in doc["pickle_globals"] if g.startswith(LEGACY_PACKAGE)]
    for key in ("agent_class", "metadata_class", "optimizer_class", "run_name", "uri"):
        if key in truth:
            doc[key] = truth[key]
    for key in (
        "metadata",
        "state_dict_metadata",
        "non_persistent_buffers",
        "agent_attributes",
        "object",
        "optimizer_state_dict",
    ):
        if key in truth:
            doc[key] = plain(truth[key])
    return doc


def generate(out: Path) -> None:
    install_legacy_package()
    objs = build_objects()
    out.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {
        **versions(),
        "generator": "fixtures_src/make_legacy_corpus.py",
        "worker": "fixtures_src/legacy_worker.py",
        "files": {},
    }
    for kind in KINDS:
        obj, truth = truth_for(kind, objs)
        for fmt in FORMATS:
            ckpt = out / (f"{kind}_{fmt}.pt")
            torch_save(obj, ckpt, fmt)
            truth_pt = out / (f"{kind}_{fmt}.truth.pt")
            torch.save(truth, str(truth_pt))  # always zip: modern weights_only loads read it
            doc = describe(kind, fmt, ckpt, truth)
            truth_json = out / (f"{kind}_{fmt}.truth.json")
            truth_json.write_text(json.dumps(doc, indent=1) + "\n")
            roles = ((ckpt, "checkpoint"), (truth_pt, "truth"), (truth_json, "truth_json"))
            for path, role in roles:
                index["files"][path.name] = {"kind": kind, "format": fmt, "role": role}
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"generated {len(index['files'])} files in {out}")


# --------------------------------------------------------------------------------------------
# verification


def tensors_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return list(a) == list(b) and state_dict_digest(a) == state_dict_digest(b)


def recovered_state_dict(kind: str, obj: Any) -> dict[str, torch.Tensor]:
    """What the checkpoint's object gives back through the real legacy classes."""
    getters: dict[str, Callable[[Any], dict[str, torch.Tensor]]] = {
        "record": lambda o: o._cached_policy.state_dict(),
        "agent": lambda o: o.state_dict(),
        "optimizer": lambda o: flatten_optimizer_state(o.state_dict()),
        "trainer_state": lambda o: flatten_optimizer_state(o["optimizer"]),
        "trainer_state_object": lambda o: flatten_optimizer_state(o["optimizer"].state_dict()),
        "state_dict": lambda o: o,
        "raw_dict": lambda o: o["model_state_dict"],
        "dtypes": lambda o: o,
    }
    return getters[kind](obj)


def load_kwargs(weights_only: bool) -> dict[str, Any]:
    import inspect

    if "weights_only" in inspect.signature(torch.load).parameters:
        return {"weights_only": weights_only}
    if weights_only:
        raise RuntimeError(f"torch {torch.__version__} has no weights_only")
    return {}


def verify_unsafe(directory: Path) -> int:
    """Unsafe reload in the old venv (legacy classes importable): must reproduce the truth."""
    install_legacy_package()
    failures = 0
    for truth_json in sorted(directory.glob("*.truth.json")):
        doc = json.loads(truth_json.read_text())
        ckpt = directory / doc["file"]
        # Our own, non-hostile files only, in the venv that wrote them.
        obj = torch.load(str(ckpt), **load_kwargs(weights_only=False))
        problems = []
        if qualname(obj) != doc["top_level_class"]:
            problems.append(f"class {qualname(obj)}")
        state_dict = recovered_state_dict(doc["kind"], obj)
        if list(state_dict) != doc["state_dict"]["keys"]:
            problems.append("keys")
        if state_dict_digest(state_dict) != doc["state_dict"]["sha256"]:
            problems.append("digest")
        if tensor_table(state_dict) != doc["state_dict"]:
            problems.append("tensor table")
        truth = torch.load(str(directory / doc["truth_file"]), **load_kwargs(False))
        if not tensors_equal(state_dict, truth["state_dict"]):
            problems.append("truth.pt state_dict")
        if doc["kind"] == "record":
            meta = json.loads(json.dumps(dict(obj.metadata)))
            if meta != doc["metadata"] or qualname(obj.metadata) != doc["metadata_class"]:
                problems.append("metadata")
            if (obj.run_name, obj.uri) != (doc["run_name"], doc["uri"]):
                problems.append("run_name/uri")
        failures += bool(problems)
        status = "FAIL " + ", ".join(problems) if problems else "ok"
        print(f"{ckpt.name:<40} {status}")
    return failures


PLAIN_KINDS = ("state_dict", "dtypes", "raw_dict", "trainer_state")


def check_truth(directory: Path) -> int:
    """weights_only=True loads of the truth files (and plain-data checkpoints) vs the JSON."""
    failures = 0
    for truth_json in sorted(directory.glob("*.truth.json")):
        doc = json.loads(truth_json.read_text())
        truth = torch.load(str(directory / doc["truth_file"]), **load_kwargs(weights_only=True))
        problems = []
        if tensor_table(truth["state_dict"]) != doc["state_dict"]:
            problems.append("state_dict table/digest")
        for key in ("metadata", "object", "optimizer_state_dict", "agent_attributes"):
            if key in doc and plain(truth[key]) != doc[key]:
                problems.append(key)
        note = ""
        if doc["kind"] in PLAIN_KINDS:
            ckpt = directory / doc["file"]
            try:
                obj = torch.load(str(ckpt), **load_kwargs(weights_only=True))
            except Exception as exc:  # reported, not fatal: a finding
                note = f" (checkpoint refused by weights_only: {type(exc).__name__})"
            else:
                if not tensors_equal(recovered_state_dict(doc["kind"], obj), truth["state_dict"]):
                    problems.append("weights_only checkpoint differs")
                note = " (checkpoint opens with weights_only=True)"
        failures += bool(problems)
        status = "FAIL " + ", ".join(problems) if problems else "ok"
        print(f"{doc['truth_file']:<40} {status}{note}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("generate", "verify-unsafe", "check-truth"))
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    sys.dont_write_bytecode = True  # no __pycache__ in the temp copy of the legacy package
    print(f"torch {torch.__version__}, python {platform.python_version()}")
    if args.command == "generate":
        generate(args.directory)
        return 0
    if args.command == "verify-unsafe":
        return 1 if verify_unsafe(args.directory) else 0
    return 1 if check_truth(args.directory) else 0


if __name__ == "__main__":
    sys.exit(main())
