"""The user's nearest ``pyproject.toml`` and its ``[tool.compat]`` table.

Reading uses ``tomllib``. The standard library cannot write TOML, so ``ckpt plugins
enable/disable`` edits the text of the one ``disable = [...]`` line in place (comments and
layout elsewhere stay as they were), re-parses the result and accepts it only if it equals
the old document with exactly that key changed, then replaces the file atomically.
"""

from __future__ import annotations

import copy
import json
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checkpoint.errors import PluginError

FILENAME = "pyproject.toml"

_COMPAT_HEADER = re.compile(r"^[ \t]*\[[ \t]*tool[ \t]*\.[ \t]*compat[ \t]*\][ \t]*(#.*)?$", re.M)
_ANY_HEADER = re.compile(r"^[ \t]*\[", re.M)
_DISABLE_KEY = re.compile(r"^[ \t]*disable[ \t]*=[ \t]*", re.M)


def find_nearest(start: Path) -> Path | None:
    """The ``pyproject.toml`` in `start` or the closest of its parents, as tools like ruff do."""
    for directory in (start, *start.parents):
        candidate = directory / FILENAME
        if candidate.is_file():
            return candidate
    return None


def read_tool_table(path: Path) -> dict[str, Any]:
    """The ``[tool.compat]`` table of `path` (empty when absent)."""
    tool = _parse(path, path.read_text(encoding="utf-8")).get("tool", {})
    table = tool.get("compat", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise PluginError(f"{path}: [tool.compat] must be a table; write it as [tool.compat]")
    return table


def disable_list(table: Mapping[str, Any], path: Path | None) -> list[str]:
    """The ``disable`` key of a ``[tool.compat]`` table, checked."""
    names = table.get("disable", [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise PluginError(
            f'{path}: [tool.compat] disable must be a list of plugin names, e.g. ["policy_store"]'
        )
    return names


def write_disable_list(path: Path, names: Sequence[str]) -> None:
    """Set ``[tool.compat] disable`` in `path` to `names`, creating the file or table if needed.

    An empty list removes the key, and the ``[tool.compat]`` table if nothing else is in it,
    so enabling every plugin again leaves the file as it was before."""
    original = path.read_text(encoding="utf-8") if path.exists() else ""
    expected = copy.deepcopy(_parse(path, original))
    tool = expected.setdefault("tool", {})
    table = tool.setdefault("compat", {})
    if names:
        table["disable"] = list(names)
        updated = _with_disable_list(original, names)
    else:
        table.pop("disable", None)
        if not table:
            del tool["compat"]
        if not tool:
            del expected["tool"]
        updated = _without_disable_list(original)
    if not _parses_to(updated, expected):
        raise PluginError(
            f"{path}: could not rewrite [tool.compat] disable automatically (unusual layout); "
            f"write it by hand: disable = {_toml_array(names)}"
        )
    _replace_atomically(path, updated)


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PluginError(f"{path}: not valid TOML ({exc}); fix the file and retry") from exc


def _parses_to(text: str, expected: dict[str, Any]) -> bool:
    try:
        return tomllib.loads(text) == expected
    except tomllib.TOMLDecodeError:
        return False


def _toml_array(names: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(name) for name in names) + "]"


def _with_disable_list(text: str, names: Sequence[str]) -> str:
    line = f"disable = {_toml_array(names)}"
    header = _COMPAT_HEADER.search(text)
    if header is None:
        separator = "" if not text else "\n" if text.endswith("\n") else "\n\n"
        return f"{text}{separator}[tool.compat]\n{line}\n"
    body_start = text.find("\n", header.end())
    if body_start == -1:
        return f"{text}\n{line}\n"
    body_start += 1
    next_header = _ANY_HEADER.search(text, body_start)
    body_end = next_header.start() if next_header else len(text)
    key = _DISABLE_KEY.search(text, body_start, body_end)
    if key is None:
        return f"{text[:body_start]}{line}\n{text[body_start:]}"
    return text[: key.start()] + line + text[_value_end(text, key.end()) :]


def _without_disable_list(text: str) -> str:
    header = _COMPAT_HEADER.search(text)
    if header is None:
        return text
    body_start = text.find("\n", header.end())
    body_start = len(text) if body_start == -1 else body_start + 1
    next_header = _ANY_HEADER.search(text, body_start)
    body_end = next_header.start() if next_header else len(text)
    key = _DISABLE_KEY.search(text, body_start, body_end)
    if key is not None:
        line_start = text.rfind("\n", 0, key.start()) + 1
        value_end = _value_end(text, key.end())
        line_end = text.find("\n", value_end)
        line_end = len(text) if line_end == -1 else line_end + 1
        text = text[:line_start] + text[line_end:]
        body_end -= line_end - line_start
    if text[body_start:body_end].strip():
        return text  # the table holds other keys or comments: keep it
    header_start = text.rfind("\n", 0, header.start()) + 1
    return text[:header_start] + text[body_end:]


def _value_end(text: str, start: int) -> int:
    """Index just past the TOML value starting at `start` (an array may span lines)."""
    if not text.startswith("[", start):
        end = text.find("\n", start)
        return len(text) if end == -1 else end
    depth, index, quote = 0, start, ""
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            index = text.find("\n", index)
            if index == -1:
                break
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(text)


def _replace_atomically(path: Path, text: str) -> None:
    target = path.resolve()
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o644
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
