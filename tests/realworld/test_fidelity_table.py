"""The README's table of what real checkpoints recover is what ``compat.load`` recovers now."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
NOTHING = "\N{EN DASH}"  # the writer recorded nothing of that category


def _fidelity_script() -> ModuleType:
    path = ROOT / "fixtures_src" / "realworld_fidelity.py"
    spec = importlib.util.spec_from_file_location("realworld_fidelity", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_table_reproduces() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- fidelity-table:start -->\n(.*?)<!-- fidelity-table:end -->", readme, re.S
    )
    assert block, "README.md lost its fidelity-table markers"
    measured = _fidelity_script().table()
    assert block.group(1) == measured, (
        "README.md's fidelity table no longer matches what compat.load recovers: "
        "paste the output of `.venv/bin/python fixtures_src/realworld_fidelity.py`"
    )


def test_compat_load_never_recovers_less_than_stock_torch_load() -> None:
    rank = {"error": 0, "✗": 1, "partial": 2, "✓": 3, NOTHING: 3}
    for row in _fidelity_script().table().splitlines()[2:]:
        name, *cells = [cell.strip() for cell in row.strip("|").split("|")]
        for cell in cells:
            *stock, ours = cell.split(" / ")
            assert all(rank[ours] >= rank[s] for s in stock), f"{name}: {cell}"
            if ours == NOTHING:
                assert set(stock) <= {NOTHING, "error"}, f"{name}: {cell}"
