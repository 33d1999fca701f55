"""The ``.pth`` start-up hook, seen from fresh interpreters."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

from host_helpers import PLUGIN_SOURCE, write_module

PTH = "checkpoint_compat_aliases.pth"
REPOSITORY = Path(__file__).parents[2]
HEAVY = (
    "pluggy",
    "torch",
    "typing",
    "checkpoint",
    "compat.host._aliases",
    "compat.host._pluginhost",
)

REPORT = """
import json, sys
print(json.dumps({
    "finders": [type(finder).__name__ for finder in sys.meta_path],
    "modules": sorted(sys.modules),
}))
"""


def _python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("COMPAT_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_pth_file_is_installed_in_site_packages() -> None:
    installed = [Path(d) / PTH for d in site.getsitepackages() if (Path(d) / PTH).is_file()]
    assert [path.read_text() for path in installed] == ["import _checkpoint_compat_startup\n"]


def test_a_fresh_interpreter_has_the_finder_and_nothing_heavy(tmp_path: Path) -> None:
    result = _python(REPORT, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "LegacyImportFinder" in report["finders"]
    # the hook is one uniquely named module: it never imports (and so never shadows) `compat`
    assert "_checkpoint_compat_startup" in report["modules"]
    assert {name for name in report["modules"] if name.startswith("compat")} == set()
    assert [name for name in HEAVY if name in report["modules"]] == []


def test_legacy_code_imports_in_a_fresh_interpreter_that_never_imported_compat(
    tmp_path: Path,
) -> None:
    lib = tmp_path / "lib"
    write_module(lib, "newlib.store", "class Store:\n    pass\n")
    write_module(lib, "oldlib_plugin", PLUGIN_SOURCE)
    dist_info = lib / "oldlib_compat-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: oldlib-compat\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text("[compat.plugins]\noldlib = oldlib_plugin\n")
    # What a first-party plugin's line in LEGACY_PREFIXES does: the finder
    # installed by the .pth learns the top-level name before anything else is loaded.
    legacy_code = (
        "import sys\n"
        "sys.modules['_checkpoint_compat_startup'].LEGACY_PREFIXES['oldlib'] = 'oldlib'\n"
        "[finder] = [f for f in sys.meta_path if type(f).__name__ == 'LegacyImportFinder']\n"
        "finder.roots.add('oldlib')\n"
        "assert 'pluggy' not in sys.modules\n"
        "from oldlib.store import Store\n"
        "print(Store.__module__)\n"
    )
    result = _python(legacy_code, tmp_path, PYTHONPATH=str(lib))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "newlib.store\n"
    assert "<string>:6: CompatDeprecationWarning: oldlib.store is deprecated" in result.stderr

    result = _python(legacy_code, tmp_path, PYTHONPATH=str(lib), COMPAT_DISABLE="oldlib")
    assert result.returncode == 1
    assert (
        "ModuleNotFoundError: No module named 'oldlib': it is a legacy import path served by "
        "the compat plugin 'oldlib', which is off (listed in COMPAT_DISABLE)"
    ) in result.stderr


def test_the_wheel_puts_the_pth_file_at_the_root_of_site_packages(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("checkpoint_compat-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(PTH) == b"import _checkpoint_compat_startup\n"
        assert "_checkpoint_compat_startup.py" in archive.namelist()
