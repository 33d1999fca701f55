"""Regenerate ``tests/fixtures/legacy/torch-<version>/`` with REAL old torch releases.

For each requested torch version this script

1. creates (or reuses) a throwaway venv OUTSIDE the repository, in
   ``$CHECKPOINT_COMPAT_VENV_CACHE`` (default ``~/.cache/checkpoint-compat/venvs``)
   ``/torch-<version>``, with exactly pinned packages;
2. runs ``legacy_worker.py generate`` in that venv: the old torch writes every checkpoint (zip and
   legacy non-zip) and its ground truth;
3. runs ``legacy_worker.py verify-unsafe`` in the same venv (an unsafe reload of our own files
   while the legacy classes are importable must reproduce the truth) and
   ``legacy_worker.py check-truth`` with the modern torch of ``--check-python`` (the truth files
   must load with ``weights_only=True`` and match their JSON);
4. swaps the verified output into place and rewrites ``tests/fixtures/legacy/MANIFEST.json``.

Usage (from the repository root, with an interpreter that has a modern torch)::

    python fixtures_src/make_legacy_corpus.py                  # all default versions
    python fixtures_src/make_legacy_corpus.py --torch 2.0.1    # one version
    python fixtures_src/make_legacy_corpus.py --manifest-only  # just rebuild MANIFEST.json

Re-running is safe: venvs whose stamp matches their spec are reused and every output directory
is replaced whole. Everything is reproducible byte-for-byte except the legacy (non-zip)
checkpoints, whose storage keys are memory addresses (``str(storage._cdata)``) of the writing
process; their tensors and digests do reproduce.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FIXTURES_SRC = Path(__file__).resolve().parent
REPO = FIXTURES_SRC.parent
DEFAULT_OUT = REPO / "tests" / "fixtures" / "legacy"
WORKER = FIXTURES_SRC / "legacy_worker.py"
DEFAULT_CACHE = Path("~/.cache/checkpoint-compat/venvs").expanduser()
CACHE_ENV = "CHECKPOINT_COMPAT_VENV_CACHE"
STAMP = ".corpus-venv.json"

# Wheels that every one of these venvs gets, pinned to what was tested.
_PURE_2X = (
    "filelock==4.1.0",
    "jinja2==3.1.6",
    "markupsafe==3.0.4",
    "mpmath==1.3.0",
    "networkx==3.4.2",
    "typing_extensions==4.16.0",
)
_NVIDIA_CU11 = (
    "nvidia-cublas-cu11==11.10.3.66",
    "nvidia-cuda-cupti-cu11==11.7.101",
    "nvidia-cuda-nvrtc-cu11==11.7.99",
    "nvidia-cuda-runtime-cu11==11.7.99",
    "nvidia-cudnn-cu11==8.5.0.96",
    "nvidia-cufft-cu11==10.9.0.58",
    "nvidia-curand-cu11==10.2.10.91",
    "nvidia-cusolver-cu11==11.4.0.1",
    "nvidia-cusparse-cu11==11.7.4.91",
    "nvidia-nccl-cu11==2.14.3",
    "nvidia-nvtx-cu11==11.7.91",
)
_NVIDIA_CU12 = (
    "nvidia-cublas-cu12==12.4.5.8",
    "nvidia-cuda-cupti-cu12==12.4.127",
    "nvidia-cuda-nvrtc-cu12==12.4.127",
    "nvidia-cuda-runtime-cu12==12.4.127",
    "nvidia-cudnn-cu12==9.1.0.70",
    "nvidia-cufft-cu12==11.2.1.3",
    "nvidia-curand-cu12==10.3.5.147",
    "nvidia-cusolver-cu12==11.6.1.9",
    "nvidia-cusparse-cu12==12.3.1.170",
    "nvidia-nccl-cu12==2.21.5",
    "nvidia-nvjitlink-cu12==12.4.127",
    "nvidia-nvtx-cu12==12.4.127",
)


@dataclasses.dataclass(frozen=True)
class VenvSpec:
    """How to build the venv for one torch version.

    PyPI only has CUDA builds of these releases for Linux x86-64 (the CPU wheels live on a host
    this machine cannot reach). They import fine on a CPU-only machine, but only once the CUDA
    libraries they link against can be loaded, so those come from the nvidia-* wheels. Triton
    (JIT compiler, never imported at ``import torch``) is left out: everything is installed with
    ``--no-deps`` from an exact list.
    """

    torch: str
    python: str  # "major.minor" of the interpreter to build the venv from
    requirements: tuple[str, ...]
    no_deps: bool = True


SPECS: dict[str, VenvSpec] = {
    # 1.13.1 only needs libcublas.so.11 and libcudnn.so.8 at import time (it bundles libcudart).
    "1.13.1": VenvSpec(
        "1.13.1",
        "3.10",
        (
            "torch==1.13.1",
            "numpy==1.26.4",
            "typing_extensions==4.16.0",
            "nvidia-cublas-cu11==11.10.3.66",
            "nvidia-cudnn-cu11==8.5.0.96",
        ),
    ),
    # 2.0.1 links libtorch_cpu.so itself against the whole CUDA 11.7 set.
    "2.0.1": VenvSpec(
        "2.0.1",
        "3.10",
        ("torch==2.0.1", "numpy==1.26.4", "sympy==1.12", *_PURE_2X, *_NVIDIA_CU11),
    ),
    "2.5.1": VenvSpec(
        "2.5.1",
        "3.10",
        (
            "torch==2.5.1",
            "numpy==1.26.4",
            "sympy==1.13.1",
            "fsspec==2026.9.0",
            *_PURE_2X,
            *_NVIDIA_CU12,
        ),
    ),
}
DEFAULT_VERSIONS = tuple(SPECS)


def spec_for(version: str) -> VenvSpec:
    """The pinned spec, or for an untested version an ordinary install with dependencies."""
    if version in SPECS:
        return SPECS[version]
    return VenvSpec(version, "3.10", (f"torch=={version}", "numpy<2"), no_deps=False)


def log(message: str) -> None:
    print(f"[legacy-corpus] {message}", flush=True)


def run(cmd: list[str], **kwargs: Any) -> None:
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, **kwargs)


def find_python(minor: str, override: str | None) -> str:
    """An interpreter for ``minor`` (e.g. "3.10"): --python, pyenv's versions, then PATH.

    Each candidate is asked for its version: a pyenv shim on PATH exists for every installed
    version but fails unless that version is selected.
    """
    if override:
        return override
    pyenv_root = Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser()
    pattern = str(pyenv_root / "versions" / f"{minor}.*" / "bin" / "python")
    candidates = sorted(glob.glob(pattern), reverse=True)
    on_path = shutil.which(f"python{minor}")
    if on_path:
        candidates.append(on_path)
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    for candidate in candidates:
        result = subprocess.run(
            [candidate, "-c", probe], check=False, capture_output=True, text=True
        )
        if result.returncode == 0 and result.stdout.strip() == minor:
            return candidate
    raise SystemExit(f"no working Python {minor} (tried {candidates or 'nothing'}); use --python")


def ensure_venv(spec: VenvSpec, cache_dir: Path, python_override: str | None = None) -> Path:
    """Create the venv for ``spec`` under ``cache_dir`` unless a matching one exists.

    Returns the venv's interpreter. The stamp file is written last, so an interrupted install
    is redone on the next run instead of being trusted.
    """
    venv = cache_dir / f"torch-{spec.torch}"
    python = venv / "bin" / "python"
    stamp = venv / STAMP
    wanted = json.loads(json.dumps(dataclasses.asdict(spec)))  # tuples -> lists, as stored
    if stamp.is_file() and json.loads(stamp.read_text()).get("spec") == wanted:
        log(f"reusing {venv}")
        return python
    if venv.exists():
        log(f"removing stale {venv}")
        shutil.rmtree(venv)
    base = find_python(spec.python, python_override)
    cache_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    run([base, "-m", "venv", str(venv)])
    pip = [str(python), "-m", "pip", "install", "--no-input", "--progress-bar", "off"]
    run([*pip, *(["--no-deps"] if spec.no_deps else []), *spec.requirements])
    run([str(python), "-c", "import torch; print('torch', torch.__version__, 'imports')"])
    stamp.write_text(json.dumps({"spec": wanted, "base_python": base}, indent=1) + "\n")
    log(f"built {venv} in {time.monotonic() - started:.0f}s")
    return python


def generate_version(
    spec: VenvSpec, python: Path, out_root: Path, check_python: str | None
) -> None:
    """Generate into a staging dir next to the target, verify, then swap it in."""
    target = out_root / f"torch-{spec.torch}"
    out_root.mkdir(parents=True, exist_ok=True)
    staging_root = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_root))
    staging = staging_root / target.name
    try:
        run([str(python), "-B", str(WORKER), "generate", str(staging)])
        run([str(python), "-B", str(WORKER), "verify-unsafe", str(staging)])
        if check_python:
            run([check_python, "-B", str(WORKER), "check-truth", str(staging)])
        index_path = staging / "index.json"
        index = json.loads(index_path.read_text())
        index["venv"] = dataclasses.asdict(spec)
        index_path.write_text(json.dumps(index, indent=1) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
        log(f"wrote {target}")
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(out_root: Path) -> dict[str, Any]:
    """MANIFEST.json over every ``torch-*/`` directory present (not only the ones just built)."""
    versions: dict[str, Any] = {}
    files: dict[str, Any] = {}
    for index_path in sorted(out_root.glob("torch-*/index.json")):
        index = json.loads(index_path.read_text())
        version_dir = index_path.parent.name
        produced_by = {
            "generator": index["generator"],
            "worker": index["worker"],
            "torch_version": index["torch_version"],
            "python_version": index["python_version"],
        }
        versions[version_dir] = {
            **produced_by,
            "numpy_version": index["numpy_version"],
            "venv": index.get("venv"),
        }
        listed = {**index["files"], "index.json": {"role": "index"}}
        for name, info in sorted(listed.items()):
            path = index_path.parent / name
            files[f"{version_dir}/{name}"] = {
                "sha256": sha256_of(path),
                "bytes": path.stat().st_size,
                **info,
                **produced_by,
            }
    manifest = {
        "what": "checkpoints written by real old torch releases, with ground truth written by "
        "the same torch (see README.md)",
        "regenerate": "python fixtures_src/make_legacy_corpus.py",
        "digest_rule": (
            "truth.json state_dict.sha256 = sha256 over, for each (key, tensor) in state_dict "
            "order: key utf-8, str(dtype) e.g. 'torch.float32', str(tuple(shape)), then the "
            "tensor's raw bytes (contiguous, viewed as uint8) - as in "
            "shared/fixtures/metta/MANIFEST.json"
        ),
        "hostile_manifest": "hostile/MANIFEST.json",
        "versions": versions,
        "total_bytes": sum(f["bytes"] for f in files.values()),
        "files": files,
    }
    (out_root / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    log(f"MANIFEST.json: {len(files)} files, {manifest['total_bytes']} bytes")
    return manifest


def default_check_python() -> str | None:
    """The interpreter used for the modern weights_only check: this one, if it has torch."""
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, check=False)
    return sys.executable if probe.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--torch", nargs="+", default=list(DEFAULT_VERSIONS), metavar="VERSION")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ[CACHE_ENV]).expanduser() if CACHE_ENV in os.environ else None,
        help=f"where venvs live (env {CACHE_ENV}, default {DEFAULT_CACHE})",
    )
    parser.add_argument("--python", help="base interpreter for the venvs (default: by version)")
    parser.add_argument(
        "--check-python",
        help="interpreter with a modern torch for the weights_only truth check "
        "(default: this interpreter if it can import torch)",
    )
    parser.add_argument("--skip-modern-check", action="store_true")
    parser.add_argument("--manifest-only", action="store_true")
    args = parser.parse_args(argv)

    out_root: Path = args.out.resolve()
    if not args.manifest_only:
        check_python = (
            None if args.skip_modern_check else (args.check_python or default_check_python())
        )
        if not args.skip_modern_check and check_python is None:
            parser.error(
                "this interpreter has no torch: pass --check-python or --skip-modern-check"
            )
        cache_dir = args.cache_dir or DEFAULT_CACHE
        for version in args.torch:
            spec = spec_for(version)
            python = ensure_venv(spec, cache_dir, args.python)
            generate_version(spec, python, out_root, check_python)
    write_manifest(out_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
