"""``emit_rows``: default tables printed without the template engine match the engine's."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.cli import output, template


@dataclass
class Row:
    ID: str
    Names: str
    Size: object = "0B"


HEADERS = {"ID": "CONTAINER ID", "Names": "NAMES"}
CELL = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.builds(Row, CELL, CELL, CELL), max_size=5),
    fmt=st.sampled_from(
        ["table {{.ID}}\t{{.Names}}", "table {{.ID}}\\t{{.Size}}\\t{{.Names}}  ",
         "table {{.Names}}", "table {{.Other}}\t{{.ID}}"]
    ),
)  # fmt: skip
def test_plain_tables_print_what_the_template_engine_prints(rows: list[Row], fmt: str) -> None:
    plain = output._plain_table(fmt, rows, HEADERS)
    if "Other" in fmt and rows:  # no such field: the engine's error
        assert plain is None
        return
    _, body = template.split_table(fmt)
    assert plain == template.render_table(body, rows, HEADERS)


@pytest.mark.parametrize(
    "fmt",
    ["{{.ID}}", "table {{.ID | upper}}", "table {{.ID}} {{.Names}}", "json", "tablex {{.ID}}"],
)
def test_anything_else_goes_to_the_template_engine(fmt: str) -> None:
    assert output._plain_table(fmt, [Row("a", "b")], HEADERS) is None


def test_a_field_that_is_not_str_goes_to_the_template_engine() -> None:
    assert output._plain_table("table {{.Size}}", [Row("a", "b", 3)], HEADERS) is None
