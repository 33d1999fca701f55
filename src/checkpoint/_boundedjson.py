"""JSON from a file, with its nesting depth checked before the parser sees it.

``json.loads`` recurses once per level, so a few kilobytes of ``[[[[...`` raise
``RecursionError`` from deep inside the parser. The depth is measured first and a document
nested deeper than ``max_depth`` is refused with a ``ValueError``, like any other malformed
document.

The measure runs at C speed on the bytes, so that a listing can afford it on an index of
100,000 entries: escaped backslashes and escaped quotes are dropped (what is left of a quote
then delimits a string), everything but brackets and quotes is deleted, strings are cut
out, and each pass of ``replace(b"[]", b"")`` removes one level of what remains. UTF-8 never
uses a byte below 0x80 inside a multi-byte character, so none of this can split one.
"""

from __future__ import annotations

import json
import re

__all__ = ["MAX_JSON_DEPTH", "loads", "nesting_depth"]

#: Deeper than any document this package reads (indexes, headers, trainer metadata).
MAX_JSON_DEPTH = 64
#: ``bytes.translate`` deletes every byte but these.
_NOT_STRUCTURE = bytes(code for code in range(256) if code not in b'[]{}"')
_ONE_BRACKET = bytes.maketrans(b"{}", b"[]")
_RUNS = re.compile(rb"\[+|\]+")
_OPEN = ord("[")
#: Innermost pairs above which a pass of ``replace`` is cheaper than counting runs in Python.
_COUNTED_RUNS = 4096


def nesting_depth(data: str | bytes, limit: int | None = None) -> int:
    """The deepest nesting of arrays and objects in ``data`` (strings do not count).

    For a document that is not balanced JSON the result is at least the depth a parser
    would reach before failing. With ``limit``, the count stops once it is passed and any
    number above ``limit`` is returned.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if b"\\" in raw:
        # Left to right, as the parser pairs them: an even run of backslashes before a quote
        # leaves the quote, an odd run escapes it.
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = raw.translate(None, _NOT_STRUCTURE)
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])  # even pieces lie outside strings
    return _bracket_depth(structure.translate(_ONE_BRACKET), limit)


def _bracket_depth(structure: bytes, limit: int | None) -> int:
    """The highest running count of ``[`` minus ``]`` in a string of brackets only.

    Each ``replace(b"[]", b"")`` removes every innermost pair, so one level; once few
    innermost pairs are left, the runs of equal brackets are few too, and are counted.
    """
    removed = 0
    while structure.count(b"[]") > _COUNTED_RUNS:
        if limit is not None and removed > limit:
            return removed
        structure = structure.replace(b"[]", b"")
        removed += 1
    depth = deepest = 0
    for run in _RUNS.finditer(structure):
        length = run.end() - run.start()
        depth += length if structure[run.start()] == _OPEN else -length
        deepest = max(deepest, depth)
    return removed + deepest


def loads(data: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> object:
    """``json.loads(data)``, refusing documents nested deeper than ``max_depth``.

    Raises ``ValueError`` (``json.JSONDecodeError``, a depth error, or a ``UnicodeDecodeError``
    for bytes that are not UTF-8) for a bad document.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= max_depth:  # too few brackets to nest deeper
        return json.loads(data)
    depth = nesting_depth(raw, limit=max_depth)
    if depth > max_depth:
        raise ValueError(
            f"it is nested {depth} or more levels deep, more than the {max_depth} allowed"
        )
    return json.loads(data)
