"""The light helpers of the quick paths: RFC 3339 parsing without ``datetime`` for the form
dockyard writes, and the bridge name rule without regular expressions."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard._util import rfc3339
from dockyard._util.devname import valid_bridge_name


def by_datetime(text: str) -> float | None:
    """What ``rfc3339.parse`` answered before its quick form: datetime for every input."""
    match = re.search(r"\.(\d+)", text)
    fraction = 0.0
    if match:
        fraction = float("0." + match.group(1))
        text = text[: match.start()] + text[match.end() :]
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() + fraction
    except ValueError:
        return None


def parsed(text: str) -> float | None:
    try:
        return rfc3339.parse(text)
    except ValueError:
        return None


@given(
    st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
    st.integers(0, 61), st.integers(0, 61),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,9}", fullmatch=True)),
)  # fmt: skip
def test_the_quick_form_agrees_with_datetime(
    year: int, month: int, day: int, hour: int, minute: int, second: int, fraction: str
) -> None:
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}Z"
    assert parsed(text) == by_datetime(text)


@pytest.mark.parametrize(
    "text",
    ["2024-02-29T23:59:59.999999999Z", "2023-02-29T00:00:00Z", "1970-01-01T00:00:00Z",
     "2024-01-02T03:04:05+02:00", "2024-01-02T03:04:05.5-01:30", "2024-01-02 03:04:05Z",
     "0000-01-01T00:00:00Z", "2024-01-02T03:04:05.1234567891Z", "nonsense", ""],
)  # fmt: skip
def test_other_forms_still_parse_through_datetime(text: str) -> None:
    assert parsed(text) == by_datetime(text)


@given(st.text(alphabet="aZ09_.-/ é\n", max_size=17))
def test_bridge_names_follow_the_documented_pattern(name: str) -> None:
    pattern = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}")
    assert valid_bridge_name(name) is bool(pattern.fullmatch(name))
