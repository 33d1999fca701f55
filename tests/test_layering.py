"""SPEC §2: plugins import only the public API of checkpoint and compat; the core never
imports a plugin. Checked on the source, so a violation fails here and not in review."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PACKAGES = sorted(
    path.name
    for path in (ROOT / "plugins").iterdir()
    if path.is_dir() and (path / "__init__.py").exists()
)
CORE_PACKAGES = ("checkpoint", "compat")


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import statement in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def is_private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split(".")[1:])


def test_there_are_plugins_to_check() -> None:
    assert "compat_policy_store" in PLUGIN_PACKAGES


@pytest.mark.parametrize("package", PLUGIN_PACKAGES)
def test_plugins_use_only_the_public_core_api(package: str) -> None:
    violations = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in (ROOT / "plugins" / package).rglob("*.py")
        for line, module in imports(path)
        if module.split(".")[0] in CORE_PACKAGES and is_private(module)
    ]
    assert violations == []


def test_the_core_never_imports_a_plugin() -> None:
    violations = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in (ROOT / "src").rglob("*.py")
        for line, module in imports(path)
        if module.split(".")[0] in PLUGIN_PACKAGES
    ]
    assert violations == []
