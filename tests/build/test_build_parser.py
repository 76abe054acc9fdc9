"""The Dockerfile parser: golden parses, the node fields case by case, and properties.

Each ``testdata/dockerfile/parse/<case>/Dockerfile`` parses to ``result``, a JSON rendering of
:class:`Parsed` (directives, nodes, warnings). Set ``DOCKYARD_UPDATE_GOLDEN=1`` to rewrite the
results, then review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.build.dockerfile.nodes import (
    Diagnostic,
    DockerfileError,
    Heredoc,
    Parsed,
    Position,
)
from dockyard.build.dockerfile.parser import KEYWORDS, exec_form, parse
from dockyard.errors import InvalidArgument

CASES = Path(__file__).parent.parent / "testdata" / "dockerfile" / "parse"
UPDATE = os.environ.get("DOCKYARD_UPDATE_GOLDEN") == "1"


def render(parsed: Parsed) -> str:
    """The golden form of a parse: stable, readable JSON."""
    return json.dumps(parsed.to_json(), indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir()))
def test_golden_parse(case: str) -> None:
    text = (CASES / case / "Dockerfile").read_bytes().decode("utf-8")
    actual = render(parse(text))
    result = CASES / case / "result"
    if UPDATE:
        result.write_bytes(actual.encode("utf-8"))
    assert result.exists(), f"{case}: no result; run with DOCKYARD_UPDATE_GOLDEN=1"
    assert actual == result.read_bytes().decode("utf-8")


def test_corpus_is_large_enough() -> None:
    assert len(list(CASES.iterdir())) >= 20


def test_corpus_uses_every_keyword() -> None:
    used = set()
    for case in CASES.iterdir():
        used |= {n.keyword for n in parse((case / "Dockerfile").read_text()).nodes}
    assert used == set(KEYWORDS)


def _one(text: str) -> tuple[str, tuple[str, ...], str, tuple[str, ...] | None]:
    node = parse("FROM scratch\n" + text).nodes[1]
    return node.keyword, node.flags, node.args, node.json


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("run echo hi", ("RUN", (), "echo hi", None)),
        ("RUN   echo   hi   ", ("RUN", (), "echo   hi", None)),
        ('CMD ["a", "b"]', ("CMD", (), '["a", "b"]', ("a", "b"))),
        ("CMD []", ("CMD", (), "[]", ())),
        ("CMD", ("CMD", (), "", None)),
        (
            'COPY --from=build ["a b", "/c"]',
            ("COPY", ("--from=build",), '["a b", "/c"]', ("a b", "/c")),
        ),
        (
            'RUN --mount=type=cache,target="/a b" x',
            ("RUN", ("--mount=type=cache,target=/a b",), "x", None),
        ),
        ("RUN --a --b=c -- --d", ("RUN", ("--a", "--b=c"), "--d", None)),
        ("RUN -x --y", ("RUN", (), "-x --y", None)),
        ('LABEL ["a", "b"]', ("LABEL", (), '["a", "b"]', None)),
        ("RUN echo [1]", ("RUN", (), "echo [1]", None)),
        ("RUN echo \\\n  a \\\n  b", ("RUN", (), "echo   a   b", None)),
        ("RUN a \\\n# dropped\n  b", ("RUN", (), "a   b", None)),
        ("RUN a\\\\", ("RUN", (), "a\\\\", None)),
        ('ENTRYPOINT ["x"] trailing', ("ENTRYPOINT", (), '["x"] trailing', ("x",))),
    ],
)
def test_node_fields(text: str, expected: tuple[object, ...]) -> None:
    assert _one(text) == expected


def test_positions_and_source() -> None:
    parsed = parse("# c\n\n  FROM a\n\tRUN x \\\n    y\nCMD z\n")
    assert [n.position for n in parsed.nodes] == [
        Position(line=3, column=3),
        Position(line=4, column=2),
        Position(line=6, column=1),
    ]
    assert parsed.nodes[1].source == "\tRUN x \\\n    y"


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("<<EOF", Heredoc(name="EOF", content="x\n", expand=True, chomp=False)),
        ("<<-EOF", Heredoc(name="EOF", content="x\n", expand=True, chomp=True)),
        ('<<"EOF"', Heredoc(name="EOF", content="x\n", expand=False, chomp=False)),
        ("<<'EOF'", Heredoc(name="EOF", content="x\n", expand=False, chomp=False)),
        ('<<E"O"F', Heredoc(name="EOF", content="x\n", expand=False, chomp=False)),
        ("3<<EOF", Heredoc(name="EOF", content="x\n", expand=True, chomp=False)),
    ],
)
def test_heredoc_words(word: str, expected: Heredoc) -> None:
    body = "\tx\n\tEOF\n" if expected.chomp else "x\nEOF\n"
    node = parse(f"FROM a\nRUN cat {word}\n{body}RUN next\n").nodes[1]
    assert node.heredocs == (expected,)


@pytest.mark.parametrize(
    "line",
    ["RUN cat <<<EOF", "RUN echo '<<EOF'", 'RUN ["cat", "<<EOF"]', "CMD cat <<EOF", "RUN echo <<"],
)
def test_no_heredoc(line: str) -> None:
    parsed = parse(f"FROM a\n{line}\nRUN next\n")
    assert [n.keyword for n in parsed.nodes] == ["FROM", parsed.nodes[1].keyword, "RUN"]
    assert parsed.nodes[1].heredocs == ()


def test_escape_directive_switches_continuation() -> None:
    tick = parse("# escape=`\nFROM a\nRUN dir c:\\\nRUN x `\n  y\n")
    assert [n.args for n in tick.nodes[1:]] == ["dir c:\\", "x   y"]
    assert tick.directives.escape == "`"
    late = parse("\n# escape=`\nFROM a\nRUN x `\n")
    assert late.directives.escape == "\\"
    assert "read as a comment" in late.warnings[0].message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ('["a", "b"]', ("a", "b")),
        ('  ["a"]  tail', ("a",)),
        ("[]", ()),
        ('["a", 1]', None),
        ("['a']", None),
        ("a b", None),
        ('{"a": 1}', None),
        ("[" * 5000, None),
    ],
)
def test_exec_form(args: str, expected: tuple[str, ...] | None) -> None:
    assert exec_form(args) == expected


def test_diagnostic_render() -> None:
    diag = Diagnostic(
        severity="error",
        position=Position(line=3, column=5),
        message="bad",
        line="RUN x",
        hint="fix it:\nRUN y",
    )
    assert diag.render("df") == "df:3:5: error: bad\n  RUN x\nhint: fix it:\n  RUN y"
    bare = Diagnostic(severity="warning", position=Position(line=1, column=1), message="m", line="")
    assert bare.render("Dockerfile") == "Dockerfile:1:1: warning: m"


def test_error_carries_diagnostic() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("FROM a\nRUNN x\n", filename="app/Containerfile")
    err = info.value
    assert isinstance(err, InvalidArgument)
    assert err.diagnostic.position == Position(line=2, column=1)
    assert str(err) == err.diagnostic.render("app/Containerfile")
    assert str(err).startswith("app/Containerfile:2:1: error: unknown instruction")
    assert err.hint is None  # it is in the message already; the CLI would print it twice


_WORD = st.text(st.sampled_from("abcxyz019-_./=$ "), min_size=1, max_size=12).filter(
    lambda w: w.strip() == w and not w.startswith("-")
)


@given(st.lists(st.text(max_size=40), max_size=8))
def test_any_text_parses_or_raises_dockerfile_error(lines: list[str]) -> None:
    severity = "error"
    try:
        parse("\n".join(lines))
    except DockerfileError as err:
        severity = err.diagnostic.severity
    assert severity == "error"


@given(st.lists(st.text(max_size=10), max_size=6))
def test_exec_form_round_trip(values: list[str]) -> None:
    node = parse("FROM a\nCMD " + json.dumps(values) + "\n").nodes[1]
    assert node.json == tuple(values)


@given(st.lists(_WORD, min_size=1, max_size=6), st.lists(st.booleans(), min_size=6, max_size=6))
def test_continuations_join_words(words: list[str], breaks: list[bool]) -> None:
    text = "RUN"
    for word, brk in zip(words, breaks, strict=False):
        text += " \\\n  " + word if brk else " " + word
    node = parse("FROM a\n" + text + "\n").nodes[1]
    assert node.args.split() == " ".join(words).split()
