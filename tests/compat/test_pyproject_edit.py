"""Rewriting ``[tool.compat] disable`` in place, keeping everything else byte for byte."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from checkpoint.errors import PluginError
from compat.host._pyproject import find_nearest, write_disable_list

ORIGINAL = """\
[project]
name = "mine"  # my project

[tool.compat]
# plugins we no longer need
disable = [
    "policy_store",  # migrated
    "converters",
]
alias-override = false

[tool.ruff]
line-length = 100
"""


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            ORIGINAL,
            ORIGINAL.replace(
                'disable = [\n    "policy_store",  # migrated\n    "converters",\n]',
                'disable = ["converters"]',
            ),
        ),
        (
            "[tool.compat]\nalias-override = true\n",
            '[tool.compat]\ndisable = ["converters"]\nalias-override = true\n',
        ),
        (
            '[project]\nname = "x"\n',
            '[project]\nname = "x"\n\n[tool.compat]\ndisable = ["converters"]\n',
        ),
        (
            '[project]\nname = "x"',
            '[project]\nname = "x"\n\n[tool.compat]\ndisable = ["converters"]\n',
        ),
        ("[tool.compat]", '[tool.compat]\ndisable = ["converters"]\n'),
        ("", '[tool.compat]\ndisable = ["converters"]\n'),
    ],
    ids=[
        "multi-line-array",
        "table-without-key",
        "no-table",
        "no-final-newline",
        "bare-header",
        "empty",
    ],
)
def test_the_disable_list_is_rewritten_and_nothing_else(
    tmp_path: Path, before: str, after: str
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(before)
    write_disable_list(path, ["converters"])
    assert path.read_text() == after


def test_a_missing_file_is_created(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    write_disable_list(path, ["a", "b"])
    assert path.read_text() == '[tool.compat]\ndisable = ["a", "b"]\n'


def test_the_file_mode_is_kept_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    path = tmp_path / "project" / "pyproject.toml"
    path.write_text(ORIGINAL)
    path.chmod(0o600)
    write_disable_list(path, [])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["pyproject.toml"]


def test_a_layout_it_cannot_edit_safely_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    dotted = 'tool.compat.disable = ["a"]\n'
    path.write_text(dotted)
    with pytest.raises(PluginError, match=r'write it by hand: disable = \["b"\]'):
        write_disable_list(path, ["b"])
    assert path.read_text() == dotted


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.compat\n")
    with pytest.raises(PluginError, match=f"{path}: not valid TOML"):
        write_disable_list(path, ["b"])


def test_the_nearest_pyproject_wins(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").touch()
    (tmp_path / "inner" / "deeper").mkdir(parents=True)
    (tmp_path / "inner" / "pyproject.toml").touch()
    assert find_nearest(tmp_path / "inner" / "deeper") == tmp_path / "inner" / "pyproject.toml"
    assert find_nearest(tmp_path) == tmp_path / "pyproject.toml"
