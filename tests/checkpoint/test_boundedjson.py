"""``_boundedjson``: the depth measured at C speed is the depth a parser would recurse to."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkpoint._boundedjson import MAX_JSON_DEPTH, loads, nesting_depth

TRICKY_TEXT = st.text(alphabet='[]{}"\\\n\tab\u00e9\U0001f600', max_size=8)
DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TRICKY_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(TRICKY_TEXT, children, max_size=4)
    ),
    max_leaves=40,
)


def reference_depth(text: str) -> int:
    """The depth by walking the text character by character, as a tokenizer would."""
    depth = deepest = 0
    inside = escaped = False
    for char in text:
        if inside:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                inside = False
        elif char == '"':
            inside = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


@given(DOCUMENTS, st.booleans())
def test_depth_matches_a_tokenizer(document: object, ascii_only: bool) -> None:
    text = json.dumps(document, ensure_ascii=ascii_only)
    assert nesting_depth(text) == reference_depth(text)
    assert nesting_depth(text.encode()) == reference_depth(text)
    assert loads(text) == document


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        "[" * 100_000,  # never closed: a parser recurses as deep before it fails
        '{"a": ' * 5_000 + "1" + "}" * 5_000,
        "[[[[[" + '"\\\\"' + "]" * 60,  # an escaped backslash ends its string
    ],
    ids=["deep", "unclosed", "deep-objects", "escaped-backslash"],
)
def test_deep_documents_are_refused_before_parsing(text: str) -> None:
    with pytest.raises(ValueError, match=r"levels deep|Expecting|Extra data"):
        loads(text, max_depth=4)
    assert nesting_depth(text) > 4


def test_a_document_at_the_limit_is_read() -> None:
    text = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert nesting_depth(text) == MAX_JSON_DEPTH
    assert loads(text) is not None
