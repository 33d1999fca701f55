"""JSON from a file, with its nesting depth checked before the parser sees it.

``json.loads`` recurses once per level, so a few kilobytes of ``[[[[...`` raise
``RecursionError`` from deep inside the parser. The depth is counted first, in one linear
pass that skips strings, and a document nested deeper than ``max_depth`` is refused with
a ``ValueError`` like any other malformed document.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate

__all__ = ["MAX_JSON_DEPTH", "loads"]

#: Deeper than any document this package reads (indexes, headers, trainer metadata).
MAX_JSON_DEPTH = 64
#: A JSON string, escapes included.
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
#: Everything but brackets, for ``str.translate``: the rest is numbers, literals and commas.
_BRACKETS_ONLY = {code: None for code in range(128) if chr(code) not in "[]{}"}
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (strings do not count)."""
    brackets = _STRINGS.sub("", text).translate(_BRACKETS_ONLY)
    return max(accumulate(map(_STEP.get, brackets, [0] * len(brackets))), default=0)


def loads(data: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> object:
    """``json.loads(data)``, refusing documents nested deeper than ``max_depth``.

    Raises ``ValueError`` (``json.JSONDecodeError`` or a depth error) for a bad document.
    """
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    depth = nesting_depth(text)
    if depth > max_depth:
        raise ValueError(f"it is nested {depth} levels deep, more than the {max_depth} allowed")
    return json.loads(text)
