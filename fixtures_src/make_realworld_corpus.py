"""Regenerate ``tests/fixtures/realworld/<env>/`` with the REAL libraries that write checkpoints.

Where ``make_legacy_corpus.py`` writes checkpoints with bare old torch releases, this script
writes them the way users of Lightning, transformers, torchvision, timm and stable-baselines3
do, each library under a real old torch, plus ground truth written by the same process.

For each environment this script

1. creates (or reuses) a throwaway venv OUTSIDE the repository, in
   ``$CHECKPOINT_COMPAT_VENV_CACHE`` (default ``~/.cache/checkpoint-compat/venvs``)
   ``/realworld-<env>``, with every package pinned exactly and installed with ``--no-deps``;
2. runs ``realworld_worker.py generate`` in that venv: the libraries train tiny seeded models
   on the CPU and write their checkpoints; the same process writes ``<file>.truth.json``;
3. runs ``realworld_worker.py verify-unsafe`` in the same venv: an UNSAFE ``torch.load`` of every
   file we just wrote (only ours, only there, where every writing library is importable) must
   reproduce the truth;
4. swaps the verified directory into place and rewrites ``tests/fixtures/realworld/MANIFEST.json``.

Usage (from the repository root; any Python >= 3.8 runs the driver itself)::

    python fixtures_src/make_realworld_corpus.py                     # every environment
    python fixtures_src/make_realworld_corpus.py --env lightning sb3  # some of them
    python fixtures_src/make_realworld_corpus.py --venvs-only        # just build the venvs
    python fixtures_src/make_realworld_corpus.py --manifest-only

The clean-environment baseline (what stock torch recovers) is a separate step:
``.venv/bin/python fixtures_src/realworld_baseline.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_legacy_corpus import (
    _NVIDIA_CU11,
    _PURE_2X,
    CACHE_ENV,
    DEFAULT_CACHE,
    STAMP,
    VenvSpec,
    find_python,
    run,
    sha256_of,
)

FIXTURES_SRC = Path(__file__).resolve().parent
REPO = FIXTURES_SRC.parent
DEFAULT_OUT = REPO / "tests" / "fixtures" / "realworld"
WORKER = FIXTURES_SRC / "realworld_worker.py"
VENV_PREFIX = "realworld-"

# torch 1.13.1 from PyPI imports once libcublas.so.11 and libcudnn.so.8 load (it bundles
# libcudart); see make_legacy_corpus.SPECS.
_TORCH_1_13_1 = (
    "torch==1.13.1",
    "typing_extensions==4.16.0",
    "nvidia-cublas-cu11==11.10.3.66",
    "nvidia-cudnn-cu11==8.5.0.96",
)
# torch 2.0.1 links libtorch_cpu.so against the whole CUDA 11.7 set; triton is left out.
_TORCH_2_0_1 = ("torch==2.0.1", "sympy==1.12", *_PURE_2X, *_NVIDIA_CU11)
# The Hugging Face stack of March 2024 (transformers 4.39.3 checks these at import time).
_HF_STACK = (
    "transformers==4.39.3",
    "tokenizers==0.15.2",
    "huggingface_hub==0.22.2",
    "safetensors==0.4.2",
    "accelerate==0.28.0",
    "psutil==5.9.8",
    "regex==2023.12.25",
    "requests==2.31.0",
    "urllib3==2.2.1",
    "certifi==2024.2.2",
    "charset-normalizer==3.3.2",
    "idna==3.6",
    "fsspec==2024.2.0",
    "PyYAML==6.0.1",
    "tqdm==4.66.2",
    "packaging==24.0",
)
_VISION = ("torchvision==0.15.2", "pillow==10.2.0", "timm==0.9.16")
_OMEGACONF = ("omegaconf==2.3.0", "antlr4-python3-runtime==4.9.3")


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """One corpus environment: its venv (a make_legacy_corpus VenvSpec) and what it writes.

    ``base_python`` names an exact interpreter when the minor version alone is not enough
    (environment ``py311_enum`` needs Debian's 3.11.2, not pyenv's 3.11.7).
    """

    name: str
    venv: VenvSpec
    libraries: tuple[str, ...]  # distributions whose versions the truth records
    what: str
    base_python: str | None = None


ENVS: dict[str, EnvSpec] = {
    "lightning": EnvSpec(
        "lightning",
        VenvSpec(
            "1.13.1",
            "3.10",
            (
                *_TORCH_1_13_1,
                "numpy==1.26.4",
                "pytorch_lightning==1.9.5",
                "lightning-utilities==0.8.0",
                "torchmetrics==0.11.4",
                "fsspec==2023.4.0",
                "PyYAML==6.0.1",
                "tqdm==4.65.0",
                "packaging==23.1",
                *_OMEGACONF,
                "hydra-core==1.3.2",
            ),
        ),
        ("pytorch_lightning", "torchmetrics", "omegaconf", "hydra-core", "fsspec", "numpy"),
        "pytorch_lightning 1.9.5 on torch 1.13.1: Trainer.fit .ckpt, pickled LightningModule, "
        "fsspec attribute, RNG training dict, Hydra/OmegaConf config",
    ),
    "hf_vision": EnvSpec(
        "hf_vision",
        VenvSpec("2.0.1", "3.10", (*_TORCH_2_0_1, "numpy==1.26.4", *_VISION, *_HF_STACK)),
        ("transformers", "accelerate", "safetensors", "torchvision", "timm", "numpy"),
        "transformers 4.39.3 Trainer checkpoints (pickle and safetensors), torchvision ViT, "
        "ImageNet-example checkpoint.pth.tar, timm model and CheckpointSaver checkpoint",
    ),
    "sb3": EnvSpec(
        "sb3",
        VenvSpec(
            "1.13.1",
            "3.10",
            (
                *_TORCH_1_13_1,
                "numpy==1.26.4",
                "stable-baselines3==2.1.0",
                "gymnasium==0.29.1",
                "cloudpickle==2.2.1",
                "Farama-Notifications==0.0.4",
                "pandas==2.0.3",
                "python-dateutil==2.8.2",
                "six==1.16.0",
                "pytz==2023.3",
                "tzdata==2023.3",
                # stable_baselines3.common.logger imports matplotlib.pyplot at import time.
                "matplotlib==3.7.2",
                "contourpy==1.1.0",
                "cycler==0.11.0",
                "fonttools==4.42.0",
                "kiwisolver==1.4.4",
                "pillow==10.0.0",
                "pyparsing==3.0.9",
                "packaging==23.1",
            ),
        ),
        ("stable_baselines3", "gymnasium", "cloudpickle", "numpy"),
        "stable-baselines3 2.1.0 PPO on CartPole-v1: model.save() zip and torch.save(policy)",
    ),
    "py311_enum": EnvSpec(
        "py311_enum",
        VenvSpec(
            "2.0.1",
            "3.11",
            (
                *_TORCH_2_0_1,
                "numpy==1.26.4",
                *_VISION,
                *_HF_STACK,
                "pytorch_lightning==2.0.9",
                "lightning-utilities==0.9.0",
                "torchmetrics==1.1.2",
                *_OMEGACONF,
                "hydra-core==1.3.2",
            ),
        ),
        ("transformers", "pytorch_lightning", "timm", "omegaconf", "numpy"),
        "Debian's CPython 3.11.2, which pickles Enum members as getattr(EnumClass, name): "
        "Lightning 2.0.9 .ckpt, transformers training_args.bin, timm Format enum",
        base_python="/usr/bin/python3.11",
    ),
    "torch14": EnvSpec(
        "torch14",
        VenvSpec("1.4.0", "3.8", ("torch==1.4.0", "numpy==1.18.5")),
        ("numpy",),
        "torch 1.4.0 (legacy non-zip format by default): training dict with RNG, whole model",
    ),
}
DEFAULT_ENVS = tuple(ENVS)


def log(message: str) -> None:
    print(f"[realworld-corpus] {message}", flush=True)


def venv_dir(cache_dir: Path, env: EnvSpec) -> Path:
    return cache_dir / f"{VENV_PREFIX}{env.name}"


def create_venv(base: str, venv: Path) -> None:
    """``base -m venv``; without ensurepip, a ``--without-pip`` venv bootstrapped from a pip wheel.

    Debian splits ensurepip into python3.X-venv; when it is missing the wheel comes from PyPI
    through this (driver) interpreter's pip, and pip installs itself from it.
    """
    result = subprocess.run([base, "-m", "venv", str(venv)], check=False)
    if result.returncode == 0:
        return
    log(f"{base} -m venv failed (no ensurepip?): bootstrapping pip from a wheel")
    shutil.rmtree(venv, ignore_errors=True)
    run([base, "-m", "venv", "--without-pip", str(venv)])
    wheel_dir = Path(tempfile.mkdtemp(prefix="pip-wheel-"))
    try:
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(wheel_dir),
                "pip==23.0.1",
            ]
        )
        wheel = next(wheel_dir.glob("pip-*.whl"))
        python = str(venv / "bin" / "python")
        run([python, str(wheel / "pip"), "install", "--no-index", str(wheel)])
    finally:
        shutil.rmtree(wheel_dir, ignore_errors=True)


def ensure_env_venv(env: EnvSpec, cache_dir: Path) -> Path:
    """Like make_legacy_corpus.ensure_venv, for ``realworld-<env>`` and an optional exact base.

    The stamp (written last) holds the spec, so a changed pin or an interrupted install
    rebuilds the venv instead of trusting it.
    """
    venv = venv_dir(cache_dir, env)
    python = venv / "bin" / "python"
    stamp = venv / STAMP
    wanted = json.loads(json.dumps(dataclasses.asdict(env)))  # tuples -> lists, as stored
    if stamp.is_file() and json.loads(stamp.read_text()).get("spec") == wanted:
        log(f"reusing {venv}")
        return python
    if venv.exists():
        log(f"removing stale {venv}")
        shutil.rmtree(venv)
    base = env.base_python or find_python(env.venv.python, None)
    cache_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    create_venv(base, venv)
    pip = [str(python), "-m", "pip", "install", "--no-input", "--progress-bar", "off"]
    run([*pip, *(["--no-deps"] if env.venv.no_deps else []), *env.venv.requirements])
    # Informational only: the omissions are deliberate (the CUDA libraries torch does not load
    # at import time, triton, optional extras such as fsspec[http]).
    subprocess.run([str(python), "-m", "pip", "check"], check=False)
    run([str(python), "-c", "import torch; print('torch', torch.__version__, 'imports')"])
    stamp.write_text(json.dumps({"spec": wanted, "base_python": base}, indent=1) + "\n")
    log(f"built {venv} in {time.monotonic() - started:.0f}s")
    return python


def generate_env(env: EnvSpec, python: Path, out_root: Path) -> None:
    """Generate into a staging dir next to the target, verify, then swap it in."""
    target = out_root / env.name
    out_root.mkdir(parents=True, exist_ok=True)
    staging_root = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_root))
    staging = staging_root / target.name
    worker = [str(python), "-B", str(WORKER)]
    # Every library runs offline and CPU-only; the worker chdirs into a temp dir itself.
    child_env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "WANDB_DISABLED": "true",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    try:
        run([*worker, "generate", "--env", env.name, str(staging)], env=child_env)
        run([*worker, "verify-unsafe", "--env", env.name, str(staging)], env=child_env)
        index_path = staging / "index.json"
        index = json.loads(index_path.read_text())
        index["venv"] = json.loads(json.dumps(dataclasses.asdict(env)))
        index_path.write_text(json.dumps(index, indent=1) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
        log(f"wrote {target}")
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)


def write_manifest(out_root: Path) -> dict[str, Any]:
    """MANIFEST.json over every ``<env>/index.json`` present (not only the ones just built)."""
    envs: dict[str, Any] = {}
    files: dict[str, Any] = {}
    for index_path in sorted(out_root.glob("*/index.json")):
        index = json.loads(index_path.read_text())
        env_dir = index_path.parent.name
        produced_by = {
            "env": env_dir,
            "generator": index["generator"],
            "worker": index["worker"],
            "torch_version": index["versions"]["torch"],
            "python_version": index["versions"]["python"],
            "python_executable": index["python_executable"],
        }
        envs[env_dir] = {
            **produced_by,
            "library_versions": index["versions"],
            "venv": index.get("venv"),
        }
        listed = {**index["files"], "index.json": {"role": "index"}}
        for name, info in sorted(listed.items()):
            path = index_path.parent / name
            files[f"{env_dir}/{name}"] = {
                "sha256": sha256_of(path),
                "bytes": path.stat().st_size,
                **info,
                **produced_by,
                "library_versions": index["versions"],
            }
    manifest = {
        "what": "checkpoints written by real training libraries (Lightning, transformers, "
        "torchvision, timm, stable-baselines3) under real old torch releases, with ground "
        "truth written by the same process (see README.md)",
        "regenerate": "python fixtures_src/make_realworld_corpus.py",
        "baseline": "baseline.json "
        "(regenerate: .venv/bin/python fixtures_src/realworld_baseline.py)",
        "envs": envs,
        "total_bytes": sum(f["bytes"] for f in files.values()),
        "files": files,
    }
    (out_root / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    log(f"MANIFEST.json: {len(files)} files, {manifest['total_bytes']} bytes")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--env", nargs="+", default=list(DEFAULT_ENVS), choices=list(ENVS))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ[CACHE_ENV]).expanduser() if CACHE_ENV in os.environ else None,
        help=f"where venvs live (env {CACHE_ENV}, default {DEFAULT_CACHE})",
    )
    parser.add_argument("--venvs-only", action="store_true")
    parser.add_argument("--manifest-only", action="store_true")
    args = parser.parse_args(argv)

    out_root: Path = args.out.resolve()
    cache_dir = args.cache_dir or DEFAULT_CACHE
    if not args.manifest_only:
        for name in args.env:
            env = ENVS[name]
            python = ensure_env_venv(env, cache_dir)
            if not args.venvs_only:
                generate_env(env, python, out_root)
    if not args.venvs_only:
        write_manifest(out_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
