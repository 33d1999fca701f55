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


# -- the layers of compat (issue 10): cli -> upgrade -> engine -> host, everything -> checkpoint

#: Layer of each part of the ``compat`` package, lowest first. The public modules at the top of
#: the package belong to the host; ``compat/__init__.py`` only names things lazily (strings).
LAYERS = ("host", "engine", "upgrade", "cli")
_HOST_MODULES = ("compat.deprecations", "compat.plugins", "compat.pytest_plugin")
STARTUP = "_checkpoint_compat_startup"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT / "src").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    """The layer index of a ``compat`` module, or ``None`` for the facade ``compat`` itself."""
    if module == "compat":
        return None
    if module in _HOST_MODULES or module.startswith(tuple(f"{m}." for m in _HOST_MODULES)):
        return LAYERS.index("host")
    sub = module.split(".")[1]
    if sub not in LAYERS:
        raise AssertionError(f"{module} lies in no layer: put it in one of {LAYERS}")
    return LAYERS.index(sub)


def target_layer(imported: str) -> int | None:
    """The layer an import statement reaches: ``from compat import load`` is the engine's."""
    parts = imported.split(".")
    if len(parts) == 1:
        return None
    public = compat_public_names().get(parts[1])
    if len(parts) == 2 and public is not None:
        return layer_of(public)
    return layer_of(imported)


def compat_public_names() -> dict[str, str]:
    import compat

    return dict(compat._LAZY)


def source_files(package: str) -> list[Path]:
    return sorted((ROOT / "src" / package).rglob("*.py"))


def test_checkpoint_never_imports_compat() -> None:
    """The API users migrate to must not depend on the layer meant to be removed one day."""
    violations = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in source_files("checkpoint")
        for line, module in imports(path)
        if module.split(".")[0] in ("compat", STARTUP)
    ]
    assert violations == []


def test_the_startup_module_imports_only_sys() -> None:
    path = ROOT / "src" / f"{STARTUP}.py"
    found = {module for _, module in imports(path)}
    assert found <= {
        "sys",
        "collections.abc",  # under TYPE_CHECKING only
        "collections.abc.Iterable",
        "collections.abc.Sequence",
        "importlib.machinery",
        "importlib.machinery.ModuleSpec",
        "types",
        "types.ModuleType",
    }, found


def test_every_compat_module_lies_in_a_layer() -> None:
    for path in source_files("compat"):
        layer_of(module_name(path))  # raises for a module outside the layers


def upward_imports(path: Path, module: str) -> list[str]:
    """The imports of ``path`` (the module ``module``) that reach a higher layer."""
    here = layer_of(module)
    found = []
    for line, imported in imports(path):
        if here is None or imported.split(".")[0] != "compat":
            continue
        there = target_layer(imported)
        if there is not None and there > here:
            found.append(f"{module}:{line}: {LAYERS[here]} imports {imported} ({LAYERS[there]})")
    return found


def test_compat_layers_import_only_downwards() -> None:
    """cli -> upgrade -> engine -> host: a lower layer never imports a higher one."""
    assert [
        v for path in source_files("compat") for v in upward_imports(path, module_name(path))
    ] == []


def test_the_layering_check_catches_upward_imports(tmp_path) -> None:
    """The check above can fail: an engine module reaching the upgrade layer, directly or
    through the public facade, is flagged; a host import from the engine is not."""
    fake = tmp_path / "_bad.py"
    fake.write_text(
        "from compat.upgrade._convert import convert\n"
        "from compat import convert as c\n"
        "from compat.host import _config\n"
        "from compat import load\n"
    )
    assert [v.split(":")[1] for v in upward_imports(fake, "compat.engine._bad")] == ["1", "1", "2"]
