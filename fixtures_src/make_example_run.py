"""Regenerate ``examples/legacy_run/``: the small legacy run the README's first command migrates.

It reuses the old-torch venv machinery of ``make_legacy_corpus.py`` (torch 2.0.1, a venv
cached outside the clone) to write, as Metta's PolicyStore did, three ``PolicyRecord``
pickles named ``model_0001.pt`` .. ``model_0003.pt`` and a ``trainer_state.pt`` holding a
pickled optimizer object; then it adds ``model_0004.pt``, a copy of the hostile corpus's
``hidden_in_record_zip.pt`` (a record whose metadata calls ``exec``), which ``ckpt migrate``
must refuse. The output is staged and swapped in whole; it stays well under 1 MB.

    python fixtures_src/make_example_run.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from make_legacy_corpus import CACHE_ENV, DEFAULT_CACHE, REPO, ensure_venv, spec_for

WORKER = Path(__file__).resolve().with_name("example_run_worker.py")
DEFAULT_OUT = REPO / "examples" / "legacy_run"
HOSTILE = REPO / "tests" / "fixtures" / "legacy" / "hostile" / "hidden_in_record_zip.pt"
TORCH = "2.0.1"
MAX_BYTES = 1_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--python", help="interpreter to build the venv from")
    args = parser.parse_args(argv)
    cache = Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE)).expanduser()
    python = ensure_venv(spec_for(TORCH), cache, args.python)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=args.out.parent)) / args.out.name
    try:
        subprocess.run([str(python), "-B", str(WORKER), str(staging)], check=True)
        shutil.copyfile(HOSTILE, staging / "model_0004.pt")
        size = sum(path.stat().st_size for path in staging.iterdir())
        if size > MAX_BYTES:
            raise SystemExit(f"the example run is {size} bytes, over {MAX_BYTES}: shrink it")
        if args.out.exists():
            shutil.rmtree(args.out)
        staging.rename(args.out)
    finally:
        shutil.rmtree(staging.parent, ignore_errors=True)
    print(f"wrote {args.out} ({size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
