"""The parser's diagnostics on a corpus of broken Dockerfiles.

Each ``testdata/dockerfile/broken/<case>/Dockerfile`` gives ``expected``: the rendered error,
or the rendered warnings when the file parses. Set ``DOCKYARD_UPDATE_GOLDEN=1`` to rewrite
them, then review the diff: the messages are the product here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.build.dockerfile.nodes import Diagnostic, DockerfileError
from dockyard.build.dockerfile.parser import parse

CASES = Path(__file__).parent.parent / "testdata" / "dockerfile" / "broken"
UPDATE = os.environ.get("DOCKYARD_UPDATE_GOLDEN") == "1"
NAMES = sorted(p.name for p in CASES.iterdir())


def diagnose(case: str) -> list[Diagnostic]:
    """The diagnostics of one case: its error, or else its warnings."""
    text = (CASES / case / "Dockerfile").read_bytes().decode("utf-8")
    try:
        return list(parse(text).warnings)
    except DockerfileError as err:
        return [err.diagnostic]


@pytest.mark.parametrize("case", NAMES)
def test_broken_golden(case: str) -> None:
    actual = "\n".join(d.render("Dockerfile") for d in diagnose(case)) + "\n"
    expected = CASES / case / "expected"
    if UPDATE:
        expected.write_bytes(actual.encode("utf-8"))
    assert expected.exists(), f"{case}: no expected; run with DOCKYARD_UPDATE_GOLDEN=1"
    assert actual == expected.read_bytes().decode("utf-8")


@pytest.mark.parametrize("case", NAMES)
def test_broken_is_diagnosed_with_a_hint(case: str) -> None:
    """Every broken file gets a diagnostic, each says how to fix it and points into its line."""
    found = diagnose(case)
    assert found, f"{case}: no diagnostic"
    for diag in found:
        assert diag.severity in ("error", "warning")
        assert diag.hint, f"{case}: {diag.message} has no hint"
        assert diag.position.line >= 1
        assert 1 <= diag.position.column <= len(diag.line) + 1


def test_corpus_is_large_enough() -> None:
    assert len(NAMES) >= 25


@pytest.mark.parametrize(
    "text",
    [
        "FROM alpine\nRUN echo hi # a shell comment\n",
        "FROM alpine\nCMD echo hi # a shell comment\n",
        "FROM alpine\nENTRYPOINT exec app # a shell comment\n",
        "FROM alpine\nHEALTHCHECK CMD curl -f localhost # a shell comment\n",
        "FROM alpine\nRUN [ -f /etc/os-release ] && echo ok\n",
        "FROM alpine\nRUN [[ -n x ]] && echo ok\n",
        'FROM alpine\nLABEL description="a # in quotes"\n',
        "FROM alpine\nENV COLOR=#fff\n",
        "from alpine\nrun echo lower case is fine\n",
        "# syntax-free comment\nFROM alpine\n",
        "ARG A\nARG B\nFROM alpine\n",
    ],
)
def test_fine_files_get_no_diagnostic(text: str) -> None:
    assert parse(text).warnings == ()


def test_inline_comment_error_points_at_the_hash() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("FROM alpine\n  FROM python:alpine   # base\n")
    diag = info.value.diagnostic
    assert diag.line[diag.position.column - 1] == "#"
    assert diag.hint.splitlines()[1:] == ["  # base", "  FROM python:alpine"]
