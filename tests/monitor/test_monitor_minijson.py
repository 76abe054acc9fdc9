"""minijson is json (compact) without the json package."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.monitor import minijson

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(_values)
def test_same_text_as_json(value: object) -> None:
    assert minijson.dumps(value) == json.dumps(value, separators=(",", ":"))


@given(_values)
def test_reads_what_json_writes(value: object) -> None:
    assert minijson.loads(json.dumps(value, indent=2)) == value
    assert minijson.loads(json.dumps(value).encode()) == value


@pytest.mark.parametrize("text", ["", " ", "{", "[1,]", "1 2", "nul", '{"a":1}x', "'a'"])
def test_rejects_what_json_rejects(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(ValueError, match=r"not JSON|extra data"):
        minijson.loads(text)


def test_unserializable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        minijson.dumps({"a": object()})
