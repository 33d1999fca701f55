"""libyaml's CSafeLoader and the pure-Python SafeLoader read every sidecar the same way.

The sidecars are real: the legacy corpus converted to v1 (legacy metadata of PolicyRecord
pickles, optimizers, agents, raw dicts, written by torch 1.13 to 2.5), plus YAML that our
writer never emits but a hand edit might (flow style, YAML 1.1 booleans and floats, dates).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

import checkpoint._sidecar as sidecar_module
from checkpoint import SidecarError
from compat import convert

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy"
SOURCES = sorted(
    path
    for path in LEGACY.glob("torch-*/*.pt")
    if not path.name.endswith(".truth.pt") and path.stem.split("_")[0] in {"record", "raw", "agent"}
)

HAND_WRITTEN = [
    "metrics: {a: 1, b: [1, 2.5, -3], c: {d: null}}",
    "metrics:\n  yes_bool: yes\n  no_bool: No\n  on_bool: on\n  tilde: ~",
    "metrics:\n  inf: .inf\n  ninf: -.Inf\n  nan: .NaN\n  exp: 1e3\n  sexagesimal: 1:30",
    "metrics:\n  octal: 0o17\n  old_octal: 017\n  hex: 0x1F\n  big: 123456789012345678901234567890",
    "metrics:\n  date: 2026-01-02\n  stamp: 2026-01-02T03:04:05.5+01:00\n  text: '2026-01-02'",
    "metrics:\n  folded: >\n    one\n    two\n  literal: |\n    three\n    four\n",
    "metrics: {'quoted key': \"tab\\tand\\u00e9\", 'é': ü, emoji: \"\\U0001F600\"}",
    "metrics: !!map {a: !!str 1, b: !!float '2', c: !!int '3'}",
]


def _plain(value: Any) -> Any:
    """Comparable: NaN as a marker, containers recursively."""
    if isinstance(value, float) and math.isnan(value):
        return "<nan>"
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("converted")
    sidecars = []
    for number, source in enumerate(SOURCES):
        info = convert(source, out / f"corpus{number}.e{number:08d}.pt")
        sidecars.append(info.path.with_suffix(".yaml"))
    return sidecars


def test_the_corpus_is_there() -> None:
    assert len(SOURCES) >= 9, SOURCES


def test_libyaml_is_what_reads_sidecars() -> None:
    assert yaml.__with_libyaml__, "PyYAML was built without libyaml: sidecars read 10x slower"
    assert sidecar_module._SafeLoader is yaml.CSafeLoader


@pytest.mark.parametrize("loader", [yaml.CSafeLoader, yaml.SafeLoader])
def test_a_python_tag_is_refused_and_runs_nothing(
    loader: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Either loader the sidecar reader may use constructs plain data only."""
    marker = tmp_path / "pwned"
    raw = f"!!python/object/apply:os.system ['touch {marker}']\n".encode()
    monkeypatch.setattr(sidecar_module, "_SafeLoader", loader)
    with pytest.raises(SidecarError, match="not valid YAML"):
        sidecar_module.parse_sidecar(raw, tmp_path / "run.e00000001.yaml")
    assert not marker.exists()


def test_both_loaders_agree_on_converted_sidecars(
    converted: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert any(b"legacy_metadata" in path.read_bytes() for path in converted)
    for path in converted:
        raw = path.read_bytes()
        assert _plain(yaml.load(raw, Loader=yaml.CSafeLoader)) == _plain(
            yaml.load(raw, Loader=yaml.SafeLoader)
        ), path
        with_c = sidecar_module.read_sidecar(path)
        monkeypatch.setattr(sidecar_module, "_SafeLoader", yaml.SafeLoader)
        with_python = sidecar_module.read_sidecar(path)
        monkeypatch.setattr(sidecar_module, "_SafeLoader", yaml.CSafeLoader)
        assert with_c == with_python, path


@pytest.mark.parametrize("text", HAND_WRITTEN)
def test_both_loaders_agree_on_hand_written_yaml(text: str) -> None:
    raw = text.encode()
    assert _plain(yaml.load(raw, Loader=yaml.CSafeLoader)) == _plain(
        yaml.load(raw, Loader=yaml.SafeLoader)
    )


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [1, 2]\nb: *x",
        "a: &anchored 1",
        "a: " + "[" * 49 + "]" * 49,
        "".join("  " * depth + "k:\n" for depth in range(50)) + "  " * 50 + "v",
    ],
    ids=["alias", "anchor", "flow-49", "block-50"],
)
@pytest.mark.parametrize("loader", [yaml.CSafeLoader, yaml.SafeLoader], ids=["C", "Python"])
def test_both_loaders_refuse_the_same_structures(
    text: str, loader: type, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sidecar_module, "_SafeLoader", loader)
    with pytest.raises(SidecarError, match=r"anchors or aliases|nested more than 48"):
        sidecar_module.parse_sidecar(text.encode(), tmp_path / "run.e00000001.yaml")


def test_our_writer_never_writes_an_alias(tmp_path: Path) -> None:
    """The same list twice in the metrics is written twice, not as an anchor and alias."""
    import torch

    from checkpoint import CheckpointManager

    shared = [1, 2, 3]
    info = CheckpointManager(tmp_path, "run").save_agent(
        {"w": torch.zeros(1)}, 0, {"a": shared, "b": shared}
    )
    assert info.sidecar_path is not None
    text = info.sidecar_path.read_text()
    assert "&" not in text and "*" not in text
    assert sidecar_module.read_sidecar(info.sidecar_path).metrics == {"a": shared, "b": shared}
