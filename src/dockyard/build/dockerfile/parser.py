"""Dockerfile text -> :class:`~dockyard.build.dockerfile.nodes.Parsed`.

The reading follows BuildKit's ``frontend/dockerfile/parser``: parser directives at the very
top (``# escape=``, ``# syntax=``, ``# check=``), then one node per instruction, with line
continuations, comment lines, here-documents (RUN, COPY, ADD) and the JSON exec form. On top
of that the parser checks what Docker leaves to a confusing error later or accepts silently
(an inline ``# comment`` that becomes an argument, a JSON typo that turns into shell form, a
misspelled instruction, ...); see :mod:`.checks`. Errors raise
:class:`~dockyard.build.dockerfile.nodes.DockerfileError`; warnings come back in
:attr:`Parsed.warnings`.

Typical use::

    parsed = parse(path.read_text(), filename=str(path))
    for node in parsed.nodes: ...
"""

from __future__ import annotations

from dataclasses import replace

from dockyard.build.dockerfile import checks
from dockyard.build.dockerfile.directives import late_directive, read_directives
from dockyard.build.dockerfile.grammar import (
    HEREDOC_KEYWORDS,
    JSON_KEYWORDS,
    KEYWORDS,
    Split,
    exec_form,
    find_heredocs,
    split_instruction,
)
from dockyard.build.dockerfile.nodes import (
    Heredoc,
    Node,
    Parsed,
)
from dockyard.build.dockerfile.source import Logical, Reporter, join, split_lines

__all__ = ["KEYWORDS", "exec_form", "parse"]


def parse(text: str, *, filename: str = "Dockerfile") -> Parsed:
    """Parse a Dockerfile.

    Args:
        text: the file's content (CRLF line endings are accepted, with a warning).
        filename: the name diagnostics start with.

    Returns:
        The directives, one node per instruction, and the warnings in file order.

    Raises:
        DockerfileError: the file cannot be built as written: no instructions, an unknown
            instruction or directive, an unterminated heredoc, a missing FROM, a missing
            argument... The error's ``diagnostic`` says where and how to fix it.
    """
    lines, crlf = split_lines(text)
    report = Reporter(filename, lines)
    if crlf:
        checks.crlf(report, crlf)
    directives, index = read_directives(lines, report)
    nodes: list[Node] = []
    while index < len(lines):
        stripped = lines[index].lstrip()
        if not stripped or stripped.startswith("#"):
            late_directive(report, lines, index)
            index += 1
            continue
        logical = join(lines, index, directives.escape)
        split = split_instruction(logical.text)
        node, index = _node(lines, logical, split, report)
        checks.check_instruction(
            checks.Context(report=report, logical=logical, escape=directives.escape),
            split,
            nodes,
        )
        nodes.append(node)
    if not nodes:
        checks.no_instructions(report)
    warnings = sorted(report.warnings, key=lambda w: (w.position.line, w.position.column))
    return Parsed(directives=directives, nodes=tuple(nodes), warnings=tuple(warnings))


def _node(lines: list[str], logical: Logical, split: Split, report: Reporter) -> tuple[Node, int]:
    """Build the node for one instruction, reading its heredoc bodies.

    Returns:
        The node and the index of the first line after it.
    """
    keyword = split.keyword.upper()
    json_form = exec_form(split.args) if keyword in JSON_KEYWORDS else None
    heredocs, end = _read_heredocs(lines, logical, _heredoc_words(logical.text, split), report)
    return (
        Node(
            keyword=keyword,
            flags=split.flags,
            args=split.args,
            json=json_form,
            heredocs=heredocs,
            position=logical.locate(split.keyword_at),
            source="\n".join(lines[logical.first - 1 : end]),
        ),
        end,
    )


def _heredoc_words(text: str, split: Split) -> list[tuple[int, Heredoc]]:
    """The heredocs an instruction opens: RUN, COPY and ADD in shell form, also as ONBUILD
    triggers (BuildKit's canContainHeredoc)."""
    keyword = split.keyword.upper()
    if keyword == "ONBUILD":
        split = split_instruction(text, split.args_at)
        keyword = split.keyword.upper()
    if keyword not in HEREDOC_KEYWORDS or exec_form(split.args) is not None:
        return []
    return find_heredocs(text, split.args_at)


def _read_heredocs(
    lines: list[str], logical: Logical, words: list[tuple[int, Heredoc]], report: Reporter
) -> tuple[tuple[Heredoc, ...], int]:
    """Read each heredoc's body from the lines after the instruction, in order.

    With ``<<-`` leading tabs are removed from the body lines and the terminator.

    Returns:
        The heredocs with their content, and the index of the first line after the last one.

    Raises:
        DockerfileError: a heredoc's terminator never comes.
    """
    index = logical.last
    done: list[Heredoc] = []
    for offset, heredoc in words:
        start = index
        body: list[str] = []
        while True:
            if index >= len(lines):
                checks.unterminated_heredoc(report, logical.locate(offset), heredoc, start)
            line = lines[index].lstrip("\t") if heredoc.chomp else lines[index]
            index += 1
            if line == heredoc.name:
                break
            body.append(line + "\n")
        done.append(replace(heredoc, content="".join(body)))
    return tuple(done), index
