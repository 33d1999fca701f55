"""What the legacy-import start-up hook costs an interpreter that never touches legacy code.

Builds two throwaway virtual environments that see this checkout's ``src`` the way the
editable install does; one of them also gets ``checkpoint_compat_aliases.pth``. Then, with
runs interleaved so drift hits both alike:

1. wall time of ``python -c pass`` (and ``python -c "import json"``), with and without the
   hook, and with a .pth that imports an empty package (the floor of any start-up hook);
2. ``python -X importtime -c pass``: the import time of the hook's modules;
3. importing 400 unrelated fresh modules, with and without the finder on ``sys.meta_path``;
4. the finder's own cost of turning down a name that is not legacy (``timeit``).

Usage: ``python benchmarks/bench_startup.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import venv
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
HOOK = REPOSITORY / "src" / "checkpoint_compat_aliases.pth"
MODULES = 400

IMPORT_MANY = f"""
import sys, time
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "without":
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "LegacyImportFinder"]
started = time.perf_counter()
for index in range({MODULES}):
    __import__(f"unrelated_{{index}}")
print((time.perf_counter() - started) / {MODULES})
"""
# Installed packages have their bytecode compiled; let the copies below get theirs too.
ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def make_environment(root: Path, sources: Path, hook: str | None) -> Path:
    """A venv seeing `sources` as the editable install does, plus `hook` as a start-up .pth."""
    venv.EnvBuilder(with_pip=False).create(root)
    [site_packages] = root.glob("lib/python*/site-packages")
    (site_packages / "_checkpoint_compat.pth").write_text(f"{sources}\n")
    if hook is not None:
        (site_packages / HOOK.name).write_text(hook)
    return root / "bin" / "python"


def wall_time(python: Path, code: str) -> float:
    started = time.perf_counter()
    subprocess.run([python, "-c", code], env=ENVIRONMENT, check=True)
    return time.perf_counter() - started


def hook_import_time(python: Path) -> float:
    """Microseconds ``-X importtime`` attributes to the hook's modules (cumulative)."""
    result = subprocess.run(
        [python, "-X", "importtime", "-c", "pass"],
        env=ENVIRONMENT,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in result.stderr.splitlines():
        fields = [field.strip() for field in line.removeprefix("import time:").split("|")]
        if fields[-1] == "_checkpoint_compat_startup":
            return float(fields[1])
    raise RuntimeError("the start-up hook is missing from -X importtime: is it installed?")


def per_import_time(python: Path, modules: Path, mode: str) -> float:
    result = subprocess.run(
        [python, "-c", IMPORT_MANY, str(modules), mode],
        env=ENVIRONMENT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout)


def report(label: str, timings: dict[str, list[float]], unit: float, name: str) -> None:
    """One line: the median of each variant, and its difference to the first."""
    medians = {variant: statistics.median(samples) for variant, samples in timings.items()}
    base = next(iter(medians.values()))
    cells = [f"{variant} {value * unit:8.2f} {name}" for variant, value in medians.items()]
    cells += [
        f"{variant} {(value - base) * unit:+.2f} {name} (x{value / base:.3f})"
        for variant, value in list(medians.items())[1:]
    ]
    print(f"{label:<34} " + "   ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        sources = root / "src"
        shutil.copytree(REPOSITORY / "src" / "compat", sources / "compat")
        (sources / "empty_hook").mkdir()
        (sources / "empty_hook" / "__init__.py").touch()
        bare = make_environment(root / "bare", sources, None)
        hooked = make_environment(root / "hooked", sources, HOOK.read_text())
        # The floor: what importing any (empty) package from a .pth costs at start-up.
        floor = make_environment(root / "floor", sources, "import empty_hook\n")
        environments = {"without": bare, "empty-pth": floor, "with": hooked}
        modules = root / "modules"
        modules.mkdir()
        for index in range(MODULES):
            (modules / f"unrelated_{index}.py").write_text(f"VALUE = {index}\n")
        for python in environments.values():  # warm the page cache and the .pyc files
            wall_time(python, "import json")
            per_import_time(python, modules, "with")

        print(f"python {sys.version.split()[0]}, {args.repeats} interleaved runs, medians")
        for code in ("pass", "import json"):
            timings: dict[str, list[float]] = {variant: [] for variant in environments}
            for _ in range(args.repeats):
                for variant, python in environments.items():
                    timings[variant].append(wall_time(python, code))
            report(f"python -c {code!r}", timings, 1e3, "ms")

        importtime = [hook_import_time(hooked) for _ in range(args.repeats)]
        print(
            f"{'-X importtime: start-up hook':<34} median {statistics.median(importtime):.0f} us "
            f"(_checkpoint_compat_startup)"
        )

        imports: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(max(args.repeats // 4, 5)):
            for mode, samples in imports.items():
                samples.append(per_import_time(hooked, modules, mode))
        report(f"import of a fresh module (x{MODULES})", imports, 1e6, "us")

    sys.path.insert(0, str(REPOSITORY / "src"))
    from _checkpoint_compat_startup import install

    finder = install()
    seconds = timeit.timeit(lambda: finder.find_spec("numpy.linalg"), number=200_000) / 200_000
    print(f"{'finder.find_spec of a non-legacy name':<34} {seconds * 1e9:.0f} ns per call")


if __name__ == "__main__":
    main()
