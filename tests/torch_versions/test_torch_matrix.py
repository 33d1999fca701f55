"""The torch-sensitive part of the suite, run again on older torch releases (issue 4, item 5).

The current torch is the main venv's (the rest of the suite). For each release in
``torch_venvs.VERSIONS`` (one below 2.4, one of 2.4/2.5) a cached Python 3.11 venv outside the
clone runs the strategies (tests/torch_load), the inert engine (tests/safe) and the manager
(tests/checkpoint) with the clone's code on ``PYTHONPATH``. The first run on a machine builds
the venvs (~2.5 GB of wheels each); a build that cannot download skips, it never fails.
Deselect with ``-m "not torch_matrix"``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from torch_venvs import VERSIONS, VenvBuildError, ensure_venv, project_pythonpath

pytestmark = pytest.mark.torch_matrix

ROOT = Path(__file__).resolve().parents[2]
SUBSET = (
    "tests/torch_load",
    "tests/safe",
    "tests/checkpoint/test_manager.py",
    "tests/checkpoint/test_roundtrip.py",
    "tests/checkpoint/test_weights_only.py",
)
SUITE_TIMEOUT_S = 600
_PROBE = """
import json, torch, compat, checkpoint
print(json.dumps({
    "torch": torch.__version__,
    "compat": compat.__file__,
    "checkpoint": checkpoint.__file__,
    "plugins": [row["name"] for row in compat.plugins.list() if row["enabled"]],
}))
"""


def _tail(text: str, lines: int = 80) -> str:
    return "\n".join(text.splitlines()[-lines:])


#: version -> the venv's interpreter, or why it could not be built (tried once per session)
_VENVS: dict[str, Path | str] = {}


def _venv_python(version: str) -> Path | str:
    if version not in _VENVS:
        started = time.monotonic()
        try:
            python = ensure_venv(VERSIONS[version], log=lambda line: print(line, flush=True))
        except VenvBuildError as exc:
            lines = str(exc).splitlines()
            _VENVS[version] = " | ".join([*lines[:1], *lines[-3:]])
        else:
            print(f"torch {version} venv ready in {time.monotonic() - started:.1f}s: {python}")
            _VENVS[version] = python
    return _VENVS[version]


@pytest.fixture(params=sorted(VERSIONS), ids=lambda version: f"torch-{version}")
def old_torch(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path, dict[str, str]]:
    """(version, venv interpreter, environment running the clone), the venv built if needed."""
    version: str = request.param
    python = _venv_python(version)
    if isinstance(python, str):
        pytest.skip(f"no venv for torch {version} (download or build failed): {python}")
    env = {
        **os.environ,
        "PYTHONPATH": project_pythonpath(ROOT, tmp_path / "dist"),
        "PYTHONDONTWRITEBYTECODE": "1",  # leave no old-torch bytecode in the clone
        "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "dev"),
    }
    env.pop("VIRTUAL_ENV", None)
    return version, python, env


def test_the_venv_runs_this_clone_on_the_old_torch(
    old_torch: tuple[str, Path, dict[str, str]],
) -> None:
    version, python, env = old_torch
    result = subprocess.run(
        [str(python), "-c", _PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, _tail(result.stdout + result.stderr)
    probe = json.loads(result.stdout.splitlines()[-1])
    assert probe["torch"].split("+")[0] == version
    assert Path(probe["compat"]).is_relative_to(ROOT / "src")
    assert Path(probe["checkpoint"]).is_relative_to(ROOT / "src")
    assert "torch_load" in probe["plugins"]  # found through the generated entry points


def test_strategies_engine_and_manager_pass_on_the_old_torch(
    old_torch: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    version, python, env = old_torch
    cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    cmd += ["--basetemp", str(tmp_path / "inner"), *SUBSET]
    started = time.monotonic()
    result = subprocess.run(
        cmd,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT_S,
        check=False,
    )
    print(f"torch {version}: subset ran in {time.monotonic() - started:.1f}s")
    print(_tail(result.stdout, 3))
    assert result.returncode == 0, (
        f"the subset failed on torch {version} (exit {result.returncode}); "
        f"rerun: PYTHONPATH={env['PYTHONPATH']} {' '.join(cmd)}\n"
        + _tail(result.stdout + result.stderr)
    )
    assert " passed" in result.stdout
