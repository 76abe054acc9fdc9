"""The parser's output types: one :class:`Node` per Dockerfile instruction, the parser
directives, and :class:`Diagnostic` (an error or warning that points at a line and says how
to fix it).

These are shared by the parser (which makes them), the instruction layer (which turns nodes
into typed instructions) and the CLI (which prints diagnostics). ``to_json`` gives a stable
rendering used by the golden tests; nothing reads nodes back from JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.errors import InvalidArgument

__all__ = [
    "Diagnostic",
    "Directives",
    "DockerfileError",
    "Heredoc",
    "Node",
    "Parsed",
    "Position",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """A place in the Dockerfile: 1-based line and column."""

    line: int
    column: int

    def to_json(self) -> dict[str, object]:
        return {"line": self.line, "column": self.column}


@dataclass(frozen=True, slots=True, kw_only=True)
class Heredoc:
    """One here-document of an instruction (``<<EOF``, ``<<-EOF``, ``<<"EOF"``).

    ``content`` is the body with its trailing newline (the terminator line excluded); with
    ``chomp`` (``<<-``) leading tabs are already stripped from every line. ``expand`` is False
    when the name was quoted: the body is then used verbatim, without variable expansion.
    """

    name: str
    content: str
    expand: bool
    chomp: bool

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "content": self.content,
            "expand": self.expand,
            "chomp": self.chomp,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """One instruction as written.

    Attributes:
        keyword: the instruction name, upper-cased (``RUN``).
        flags: the leading ``--name[=value]`` tokens, as written (``--from=build``).
        args: the rest after the flags: continuation lines joined (escape character and newline
            removed), comment lines inside the continuation dropped, outer whitespace trimmed.
        json: the exec form when ``args`` is a JSON array of strings, else None (shell form).
        heredocs: the here-documents the instruction opened, in order.
        position: where the instruction's first character is.
        source: the instruction's original lines (heredoc bodies included), verbatim.
    """

    keyword: str
    flags: tuple[str, ...]
    args: str
    json: tuple[str, ...] | None
    heredocs: tuple[Heredoc, ...]
    position: Position
    source: str

    def to_json(self) -> dict[str, object]:
        return {
            "keyword": self.keyword,
            "flags": list(self.flags),
            "args": self.args,
            "json": None if self.json is None else list(self.json),
            "heredocs": [h.to_json() for h in self.heredocs],
            "position": self.position.to_json(),
            "source": self.source,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Directives:
    """The parser directives at the top of the file (``# escape=``, ``# syntax=``, ``# check=``)."""

    escape: str = "\\"
    syntax: str = ""
    check: str = ""

    def to_json(self) -> dict[str, object]:
        return {"escape": self.escape, "syntax": self.syntax, "check": self.check}


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostic:
    """An error or warning about the Dockerfile.

    Attributes:
        severity: ``"error"`` or ``"warning"``.
        position: where the problem is (the column may point inside the line).
        message: what is wrong, one line.
        line: the source line quoted (empty when there is none, e.g. an empty file).
        hint: how to fix it; may span lines (e.g. the corrected instruction).
    """

    severity: str
    position: Position
    message: str
    line: str
    hint: str = ""

    def render(self, filename: str) -> str:
        """The diagnostic as a user reads it::

            Dockerfile:3:1: error: unknown instruction "RUNN"
              RUNN make
            hint: did you mean RUN?

        Continuation lines of a multi-line hint are indented by two spaces.
        """
        pos = self.position
        out = [f"{filename}:{pos.line}:{pos.column}: {self.severity}: {self.message}"]
        if self.line:
            out.append(f"  {self.line}")
        if self.hint:
            first, *rest = self.hint.split("\n")
            out.append(f"hint: {first}")
            out.extend(f"  {r}" if r else "" for r in rest)
        return "\n".join(out)

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "position": self.position.to_json(),
            "message": self.message,
            "line": self.line,
            "hint": self.hint,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Parsed:
    """A parsed Dockerfile: its directives, its instructions in order and the warnings."""

    directives: Directives
    nodes: tuple[Node, ...]
    warnings: tuple[Diagnostic, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "directives": self.directives.to_json(),
            "nodes": [n.to_json() for n in self.nodes],
            "warnings": [w.to_json() for w in self.warnings],
        }


class DockerfileError(InvalidArgument):
    """The Dockerfile cannot be parsed or is invalid; ``diagnostic`` says where and why.

    The message is the rendered diagnostic (file:line:column, the line, and the hint), so the
    CLI prints it as it is; ``hint`` stays None so that the CLI does not print the hint twice
    (``diagnostic.hint`` has it for callers that want it apart).
    """

    def __init__(self, diagnostic: Diagnostic, *, filename: str = "Dockerfile") -> None:
        super().__init__(diagnostic.render(filename))
        self.diagnostic = diagnostic
        self.filename = filename
