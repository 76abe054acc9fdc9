"""Interpolation (``${VAR}`` and its forms, ``$$``) and ``.env`` parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.compose.diagnostics import ComposeError, Where
from dockyard.compose.dotenv import parse_env
from dockyard.compose.interpolation import interpolate_tree, substitute

ENV = {"SET": "value", "EMPTY": "", "N": "3"}
HERE = Where("compose.yaml", "services.web.image")


def sub(text: str, env: dict[str, str] = ENV) -> str:
    return substitute(text, env, HERE, lambda _m: None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("$SET", "value"),
        ("${SET}", "value"),
        ("a${SET}b$SET.c", "avalueb" + "value.c"),
        ("${UNSET:-d}", "d"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        ("${SET:-d}", "value"),
        ("${SET:+x}", "x"),
        ("${EMPTY:+x}", ""),
        ("${EMPTY+x}", "x"),
        ("${UNSET+x}", ""),
        ("$$SET", "$SET"),
        ("$${SET}", "${SET}"),
        ("${UNSET:-${SET}}", "value"),
        ("${UNSET:-${ALSO:-deep}}", "deep"),
        ("cost: 5$", "cost: 5$"),
        ("${N}${N}", "33"),
        ("${SET:?must}", "value"),
    ],
)
def test_forms(text: str, expected: str) -> None:
    assert sub(text) == expected


def test_unset_variable_warns_and_is_empty() -> None:
    warnings: list[str] = []
    assert substitute("x${NOPE}y", {}, HERE, warnings.append) == "xy"
    assert warnings == ['The "NOPE" variable is not set. Defaulting to a blank string.']


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("${NOPE:?tell me}", "required variable NOPE is missing a value: tell me"),
        ("${EMPTY:?}", "required variable EMPTY is missing a value: variable EMPTY is unset or"),
        ("${NOPE?}", "variable NOPE is unset"),
        ("${", "a variable name must start"),
        ("${A", "missing closing brace"),
        ("${1A}", "must start with a letter"),
        ("${A!b}", "unexpected '!'"),
        ("${A:-x", "missing closing brace"),
    ],
)
def test_errors_name_the_path(text: str, words: str) -> None:
    with pytest.raises(ComposeError) as caught:
        sub(text)
    assert caught.value.message.startswith("compose.yaml: services.web.image: ")
    assert words in caught.value.message


def test_required_variable_may_be_empty_without_colon() -> None:
    assert sub("${EMPTY?x}") == ""


def test_trees_are_interpolated_in_values_not_keys() -> None:
    doc = {"services": {"$SET": {"image": "${SET}", "ports": ["${N}:80", 5]}}}
    out = interpolate_tree(doc, ENV, Where("c.yaml"), lambda _m: None)
    assert out == {"services": {"$SET": {"image": "value", "ports": ["3:80", 5]}}}


@given(st.text())
def test_doubled_dollars_are_literal(text: str) -> None:
    assert sub(text.replace("$", "$$")) == text


@given(st.text(alphabet=st.characters(blacklist_characters="$}")))
def test_default_of_an_unset_variable_is_the_default(default: str) -> None:
    assert sub("${UNSET_VARIABLE:-" + default + "}") == default


def test_env_file_syntax() -> None:
    text = "\n".join(
        [
            "# comment",
            "",
            "A=1",
            "export B = two ",
            "C='single ${A} # kept'",
            'D="double ${A}\\nline"',
            "E=unquoted # comment",
            "F=${A}-${UNSET:-x}",
            "G",
            'H="multi',
            'line"',
            "I=",
        ]
    )
    got = parse_env(text, ".env", {"G": "from-env"})
    assert got == {
        "A": "1",
        "B": "two",
        "C": "single ${A} # kept",
        "D": "double 1\nline",
        "E": "unquoted",
        "F": "1-x",
        "G": "from-env",
        "H": "multi\nline",
        "I": "",
    }


def test_env_file_errors_name_the_line() -> None:
    with pytest.raises(ComposeError, match=r"\.env: line 2: invalid variable name"):
        parse_env("A=1\n1B=2\n", ".env", {})
    with pytest.raises(ComposeError, match="line 1: unterminated quoted value for A"):
        parse_env("A='open\n", ".env", {})
