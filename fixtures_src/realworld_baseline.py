"""Clean-environment baseline for ``tests/fixtures/realworld/``: what stock torch recovers.

Run with the project's interpreter (a modern torch, none of the writing libraries)::

    .venv/bin/python fixtures_src/realworld_baseline.py

For every torch file of the corpus (single checkpoints, and each ``.pt``/``.bin``/``.pth``
member of a transformers ``checkpoint-N/`` folder or an SB3 ``.zip``, a zip member extracted to
a temp file first) it tries

* ``torch.load(path, weights_only=True)`` in this process, and
* ``torch.load(path, weights_only=False)`` ONLY in a child process whose working directory is
  an empty temp dir. These are our own generated, benign files, so running their pickles is
  acceptable for a measurement; the library itself never does this.

What came back is walked exactly like the truth (``realworld_worker.walk_object``) and compared
to ``<file>.truth.json``, per category: ``weights``, ``optimizer``, ``scheduler``, ``rng``,
``scaler`` (tensors, plain leaves, python/numpy RNG states of that category) and ``metadata``
(the remaining plain leaves). Each is ``full``, ``partial``, ``none`` or ``n/a`` (nothing of
that category in the truth); a failed load is ``error`` with the error's first line. The result
goes to ``tests/fixtures/realworld/baseline.json``. This script does not import ``compat``:
the project's own numbers are measured elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_ROOT = REPO / "tests" / "fixtures" / "realworld"
CATEGORIES = ("weights", "optimizer", "scheduler", "rng", "scaler")
TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar")
CHILD_TIMEOUT = 300


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def first_line(exc: BaseException | str) -> str:
    """The error's first line; for a weights_only refusal also the line naming the global."""
    text = _ANSI.sub("", exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return text[:400]
    head = lines[0][:400]
    detail = next((line for line in lines if "WeightsUnpickler error" in line), None)
    return f"{head} [{detail[:300]}]" if detail else head


# --------------------------------------------------------------------------------------------
# child: the unsafe load, in its own process and an empty cwd


def child_main(path: str, walk_json: str) -> int:
    sys.path.insert(0, str(HERE))
    import torch
    from realworld_worker import walk_object

    walk = json.loads(walk_json)
    try:
        obj = torch.load(path, weights_only=False, map_location="cpu")
    except BaseException as exc:
        print(json.dumps({"error": first_line(exc), "error_type": type(exc).__name__}))
        return 0
    try:
        summary = walk_object(obj, walk["root_category"], walk["key_categories"])
    except BaseException as exc:
        print(json.dumps({"error": "walk failed: " + first_line(exc)}))
        return 0
    print(json.dumps({"summary": summary}))
    return 0


def run_child(path: Path, walk: dict[str, Any]) -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix="realworld-baseline-")
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-B",
                str(Path(__file__).resolve()),
                "--child",
                str(path),
                json.dumps(walk),
            ],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            check=False,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        leftovers = sorted(os.listdir(workdir))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {CHILD_TIMEOUT}s"}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": "child failed: " + first_line(proc.stderr or f"rc={proc.returncode}")}
    result = json.loads(lines[-1])
    if leftovers:
        result["files_created_in_cwd"] = leftovers
    return result


# --------------------------------------------------------------------------------------------
# comparison


def tensor_index(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """path (and alias paths) -> tensor entry."""
    index: dict[str, dict[str, Any]] = {}
    for entry in summary.get("tensors", []):
        index[entry["path"]] = entry
        for alias in entry.get("aliases", []):
            index.setdefault(alias, entry)
    return index


def same_tensor(a: dict[str, Any], b: dict[str, Any] | None) -> bool:
    return b is not None and all(a.get(k) == b.get(k) for k in ("dtype", "shape", "sha256"))


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def status(recovered: int, total: int) -> str:
    if total == 0:
        return "n/a"
    if recovered == total:
        return "full"
    return "partial" if recovered else "none"


def compare(truth: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
    """Per-category recovery of ``got`` (a walk summary) against ``truth``."""
    got_tensors = tensor_index(got)
    got_leaves = got.get("leaves", {})
    got_random = {r["path"]: r["sha256"] for r in got.get("python_random_states", [])}
    got_generators = {g["path"]: canonical(g["state"]) for g in got.get("numpy_generators", [])}
    leaf_categories = truth.get("leaf_categories", {})
    result: dict[str, Any] = {}
    for category in (*CATEGORIES, "metadata"):
        total = recovered = 0
        if category != "metadata":
            for entry in truth.get("tensors", []):
                if entry["category"] == category:
                    total += 1
                    recovered += same_tensor(entry, got_tensors.get(entry["path"]))
            for entry in truth.get("python_random_states", []):
                if entry.get("category", "rng") == category:
                    total += 1
                    recovered += got_random.get(entry["path"]) == entry["sha256"]
            for entry in truth.get("numpy_generators", []):
                if entry.get("category", "rng") == category:
                    total += 1
                    recovered += got_generators.get(entry["path"]) == canonical(entry["state"])
        for path, value in truth.get("leaves", {}).items():
            leaf_category = leaf_categories.get(path, "extra")
            wanted = "extra" if category == "metadata" else category
            if leaf_category != wanted:
                continue
            total += 1
            recovered += path in got_leaves and canonical(got_leaves[path]) == canonical(value)
        result[category] = {
            "status": status(recovered, total),
            "recovered": recovered,
            "total": total,
        }
    result["top_level_type"] = got.get("top_level_type")
    return result


def errored(message: str) -> dict[str, Any]:
    out: dict[str, Any] = {c: {"status": "error"} for c in (*CATEGORIES, "metadata")}
    out["error"] = message
    return out


def measure(path: Path, truth: dict[str, Any]) -> dict[str, Any]:
    """Both loads of one torch file against its truth document."""
    import torch

    sys.path.insert(0, str(HERE))
    from realworld_worker import walk_object

    walk = truth["walk"]
    out: dict[str, Any] = {}
    try:
        obj = torch.load(str(path), weights_only=True, map_location="cpu")
    except Exception as exc:
        out["weights_only=True"] = errored(first_line(exc))
    else:
        summary = walk_object(obj, walk["root_category"], walk["key_categories"])
        out["weights_only=True"] = compare(truth, summary)
    child = run_child(path, walk)
    if "error" in child:
        out["weights_only=False"] = errored(child["error"])
    else:
        out["weights_only=False"] = compare(truth, child["summary"])
    if child.get("files_created_in_cwd"):
        out["weights_only=False"]["files_created_in_cwd"] = child["files_created_in_cwd"]
    return out


def measure_bundle(root: Path, rel: str, doc: dict[str, Any]) -> dict[str, Any]:
    target = root / rel
    members: dict[str, Any] = {}
    outer: dict[str, Any] = {}
    if target.is_file():  # an SB3 zip: first what torch.load makes of the archive itself
        import torch

        for mode, flag in (("weights_only=True", True),):
            try:
                torch.load(str(target), weights_only=flag, map_location="cpu")
                outer[mode] = "loaded"
            except Exception as exc:
                outer[mode] = "error: " + first_line(exc)
        child = run_child(target, {"root_category": "extra", "key_categories": {}})
        outer["weights_only=False"] = "error: " + child["error"] if "error" in child else "loaded"
    for name, member in doc["files"].items():
        if member.get("container") in ("json", "text"):
            members[name] = {"skipped": f"not a torch file ({member['container']})"}
            continue
        if member.get("loader") == "safetensors" or name.endswith(".safetensors"):
            members[name] = measure(target / name, member) if target.is_dir() else {}
            members[name]["note"] = "safetensors: torch.load is the wrong reader (no pickle)"
            continue
        if target.is_dir():
            members[name] = measure(target / name, member)
        else:
            tmp = Path(tempfile.mkdtemp(prefix="realworld-member-"))
            try:
                with zipfile.ZipFile(str(target)) as zf:
                    (tmp / name).write_bytes(zf.read(name))
                members[name] = measure(tmp / name, member)
                members[name]["note"] = "zip member extracted to a temp file first"
            finally:
                shutil.rmtree(str(tmp), ignore_errors=True)
    result: dict[str, Any] = {"members": members}
    if outer:
        result["archive_itself"] = outer
    return result


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--child"]:
        return child_main(argv[1], argv[2])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    root: Path = args.root.resolve()
    results: dict[str, Any] = {}
    for truth_path in sorted(root.glob("*/**/*.truth.json")):
        doc = json.loads(truth_path.read_text())
        env_dir = truth_path.relative_to(root).parts[0]
        rel = doc["file"]
        key = f"{env_dir}/{rel}"
        print(f"[baseline] {key}", flush=True)
        if "files" in doc:
            results[key] = measure_bundle(root / env_dir, rel, doc)
        else:
            results[key] = measure(root / env_dir / rel, doc)
    modules = {}
    for name in (
        "numpy",
        "fsspec",
        "safetensors",
        "pytorch_lightning",
        "transformers",
        "timm",
        "torchvision",
        "omegaconf",
        "hydra",
        "stable_baselines3",
        "gymnasium",
        "accelerate",
        "torchmetrics",
        "cloudpickle",
    ):
        try:
            module = __import__(name)
            modules[name] = getattr(module, "__version__", "installed")
        except Exception:
            modules[name] = None
    baseline = {
        "what": "what stock torch.load recovers from each corpus file in a clean environment, "
        "compared with the truth (see README.md)",
        "regenerate": ".venv/bin/python fixtures_src/realworld_baseline.py",
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "importable_modules": modules,
        "statuses": "full | partial | none | n/a (nothing of that category) | error",
        "results": results,
    }
    out = args.out or root / "baseline.json"
    out.write_text(json.dumps(baseline, indent=1) + "\n")
    print(f"[baseline] wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
