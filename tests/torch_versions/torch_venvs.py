"""Throwaway Python 3.11 venvs with an older torch, for ``test_torch_matrix.py``.

Each venv lives OUTSIDE the clone, in ``$CHECKPOINT_COMPAT_VENV_CACHE`` (default
``~/.cache/checkpoint-compat/venvs``) ``/py311-torch-<version>``, and holds exactly pinned
wheels installed with ``--no-deps``: torch, the CUDA libraries its ``import`` links against
(PyPI only has CUDA builds of these releases; they import fine on a CPU-only machine once those
libraries load), and this project's runtime and test dependencies. The project itself is NOT
installed: the test puts the clone's ``src/`` and ``plugins/`` on ``PYTHONPATH`` together with a
generated ``.dist-info`` carrying the entry points (see :func:`project_pythonpath`), so one
cached venv serves any clone. A stamp written last marks a finished venv; a venv without a
matching stamp is rebuilt.

Usage (from the repository root)::

    python tests/torch_versions/torch_venvs.py            # build every version, print timings
    python tests/torch_versions/torch_venvs.py 2.3.1      # one version
"""

from __future__ import annotations

import dataclasses
import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

CACHE_ENV = "CHECKPOINT_COMPAT_VENV_CACHE"
DEFAULT_CACHE = "~/.cache/checkpoint-compat/venvs"
STAMP = ".torch-matrix-venv.json"
PYTHON = "3.11"
PIP_TIMEOUT_S = 1200  # a cold build downloads ~2.5 GB (~70 s at 40 MB/s)

# Runtime and test dependencies of this project, pinned to what the main venv was tested with.
_PROJECT_DEPS = (
    "numpy==1.26.4",  # torch < 2.4 was built against numpy 1.x
    "pluggy==1.7.0",
    "pyyaml==6.0.4",
    "packaging==26.4",
    "pydantic==2.14.4",
    "pydantic-core==2.50.5",
    "annotated-types==0.8.0",
    "typing-inspection==0.4.5",
    "typing-extensions==4.16.0",
    "rich==15.0.0",
    "markdown-it-py==4.3.0",
    "mdurl==0.1.2",
    "pygments==2.21.0",
    "pytest==9.2.0",
    "iniconfig==2.3.1",
    "hypothesis==6.170.17",
    "sortedcontainers==2.4.0",
    "zlib-ng==1.1.0",
)
# What ``import torch`` 2.x needs besides the CUDA libraries (triton, networkx, jinja2 and fsspec
# are imported lazily and are left out).
_TORCH_PURE = ("filelock==4.1.0", "sympy==1.13.1", "mpmath==1.3.0")


@dataclasses.dataclass(frozen=True)
class TorchVenv:
    """One torch release and the exact wheels its venv gets (all with ``--no-deps``).

    Only the CUDA libraries that torch's own ``.so`` files link against are installed (they are
    found through torch's RPATH); cusolver and nvrtc (and nvtx from 2.4 on) are loaded lazily,
    on first GPU use, and are left out. If ``libtorch_global_deps.so`` cannot load, torch falls
    back to preloading EVERY CUDA library and fails on the first one missing.
    """

    torch: str
    requirements: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"py{PYTHON.replace('.', '')}-torch-{self.torch}"


VERSIONS: dict[str, TorchVenv] = {
    # Below 2.4 (no safe-globals API); wheel built for CUDA 12.1.
    "2.3.1": TorchVenv(
        "2.3.1",
        (
            "torch==2.3.1",
            *_TORCH_PURE,
            "nvidia-cublas-cu12==12.1.3.1",
            "nvidia-cuda-cupti-cu12==12.1.105",
            "nvidia-cuda-runtime-cu12==12.1.105",
            "nvidia-cudnn-cu12==8.9.2.26",
            "nvidia-cufft-cu12==11.0.2.54",
            "nvidia-curand-cu12==10.3.2.106",
            "nvidia-cusparse-cu12==12.1.0.106",
            "nvidia-nvjitlink-cu12==12.1.105",
            "nvidia-nccl-cu12==2.20.5",
            "nvidia-nvtx-cu12==12.1.105",  # libtorch_global_deps.so of 2.3 links libnvToolsExt
            *_PROJECT_DEPS,
        ),
    ),
    # The 2.4/2.5 era (weights_only must be passed explicitly); wheel built for CUDA 12.4.
    "2.5.1": TorchVenv(
        "2.5.1",
        (
            "torch==2.5.1",
            *_TORCH_PURE,
            "nvidia-cublas-cu12==12.4.5.8",
            "nvidia-cuda-cupti-cu12==12.4.127",
            "nvidia-cuda-runtime-cu12==12.4.127",
            "nvidia-cudnn-cu12==9.1.0.70",
            "nvidia-cufft-cu12==11.2.1.3",
            "nvidia-curand-cu12==10.3.5.147",
            "nvidia-cusparse-cu12==12.3.1.170",
            "nvidia-nvjitlink-cu12==12.4.127",
            "nvidia-nccl-cu12==2.21.5",
            *_PROJECT_DEPS,
        ),
    ),
}


class VenvBuildError(RuntimeError):
    """The venv could not be built (no network, a failed download, no Python 3.11)."""


class VenvBrokenError(RuntimeError):
    """The venv was built, but its torch does not import: the pins above are wrong."""


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def find_python() -> str:
    """A Python 3.11 interpreter: this one, ``python3.11`` on PATH, or pyenv's."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser()
    candidates = [sys.executable] if sys.version_info[:2] == (3, 11) else []
    on_path = shutil.which(f"python{PYTHON}")
    if on_path:
        candidates.append(on_path)
    candidates += sorted(glob.glob(str(pyenv_root / "versions" / f"{PYTHON}.*" / "bin" / "python")))
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    for candidate in candidates:
        result = subprocess.run(
            [candidate, "-c", probe], check=False, capture_output=True, text=True
        )
        if result.returncode == 0 and result.stdout.strip() == PYTHON:
            return candidate
    raise VenvBuildError(f"no working Python {PYTHON} (tried {candidates or 'nothing'})")


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _run(cmd: list[str], timeout: float) -> None:
    try:
        result = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise VenvBuildError(f"timed out after {timeout:.0f}s: {' '.join(cmd[:6])} ...") from exc
    if result.returncode != 0:
        output = _tail(result.stdout + result.stderr)
        raise VenvBuildError(f"exit {result.returncode}: {' '.join(cmd[:6])} ...\n{output}")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise builds of one venv across processes."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stamp_matches(venv: Path, spec: TorchVenv) -> bool:
    stamp = venv / STAMP
    if not (stamp.is_file() and (venv / "bin" / "python").exists()):
        return False
    try:
        stored = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return bool(stored.get("requirements") == list(spec.requirements))


def ensure_venv(
    spec: TorchVenv, cache: Path | None = None, log: Callable[[str], object] = print
) -> Path:
    """The interpreter of ``spec``'s venv, built first unless a finished one is cached.

    Raises :class:`VenvBuildError` when it cannot be built (e.g. offline), and
    :class:`VenvBrokenError` when the built torch does not import.
    """
    cache = cache_dir() if cache is None else cache
    cache.mkdir(parents=True, exist_ok=True)
    venv = cache / spec.name
    python = venv / "bin" / "python"
    with _locked(cache / f".{spec.name}.lock"):
        if _stamp_matches(venv, spec):
            return python
        if venv.exists():
            log(f"removing unfinished or outdated {venv}")
            shutil.rmtree(venv)
        started = time.monotonic()
        base = find_python()
        _run([base, "-m", "venv", str(venv)], timeout=300)
        pip = [str(python), "-m", "pip", "install", "--no-input", "--progress-bar", "off"]
        _run([*pip, "--no-deps", *spec.requirements], timeout=PIP_TIMEOUT_S)
        probe = "import torch, numpy; torch.save; print(torch.__version__)"
        try:
            _run([str(python), "-c", probe], timeout=300)
        except VenvBuildError as exc:
            raise VenvBrokenError(f"torch {spec.torch} does not import in {venv}: {exc}") from exc
        elapsed = time.monotonic() - started
        stamp = {"requirements": list(spec.requirements), "base_python": base, "build_s": elapsed}
        (venv / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
        log(f"built {venv} in {elapsed:.0f}s")
        return python


def project_pythonpath(repo: Path, scratch: Path) -> str:
    """``PYTHONPATH`` that makes the clone at ``repo`` importable as if it were installed.

    ``src/`` and ``plugins/`` hold the packages; ``scratch`` gets a minimal
    ``checkpoint_compat-<version>.dist-info`` with the ``[project.entry-points]`` of
    ``pyproject.toml``, which is how the plugin host finds its plugins (e.g. ``torch_load``).
    """
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    dist_info = scratch / f"checkpoint_compat-{project['version']}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    groups = project.get("entry-points", {})
    entry_points = "".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in items.items()) + "\n"
        for group, items in groups.items()
    )
    (dist_info / "entry_points.txt").write_text(entry_points)
    return os.pathsep.join([str(repo / "src"), str(repo / "plugins"), str(scratch)])


def venv_size_mb(venv: Path) -> float:
    total = sum(p.stat().st_size for p in venv.rglob("*") if p.is_file() and not p.is_symlink())
    return total / 2**20


def main(argv: list[str] | None = None) -> int:
    versions = (argv if argv is not None else sys.argv[1:]) or list(VERSIONS)
    for version in versions:
        started = time.monotonic()
        python = ensure_venv(VERSIONS[version])
        venv = python.parent.parent
        print(
            f"{venv}: ready in {time.monotonic() - started:.0f}s, {venv_size_mb(venv):.0f} MiB",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
