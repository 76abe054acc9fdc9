"""Parser for the Go ``text/template`` subset that docker's ``--format`` accepts.

Owns the syntax tree: text, ``{{ pipeline }}`` actions, ``if``/``else if``/``with``/``else
with``/``range``/``else``/``end``, ``break``/``continue``, pipelines, literals, fields, variables
and parenthesised pipelines. ``define``/``template``/``block`` are not supported. Errors read
like Go's (``template parsing error: template: :1: function "foo" not defined``). Tokens come
from :mod:`dockyard.cli.template_lex`; execution lives in :mod:`dockyard.cli.template`.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from enum import StrEnum
from typing import NamedTuple

from dockyard.cli.template_lex import LITERALS, Kind, TemplateError, Tok, lex, parse_error

_KEYWORDS = frozenset(
    [
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "continue",
        "nil",
        "true",
        "false",
    ]
)


# ---------------------------------------------------------------------------------------------
# Syntax tree. Tokens and nodes are NamedTuples, not dataclasses: this module is imported by every
# ``ls``, and fourteen dataclasses cost ~7 ms there against ~2 ms.


class Text(NamedTuple):
    text: str


class Dot(NamedTuple):
    pos: int


class Nil(NamedTuple):
    pos: int


class Literal(NamedTuple):
    """A string, number, character or boolean constant."""

    pos: int
    value: str | int | float | bool


class Field(NamedTuple):
    """``.A.B``: fields of dot."""

    pos: int
    src: str
    names: tuple[str, ...]


class Var(NamedTuple):
    """``$x`` or ``$x.A.B``."""

    pos: int
    src: str
    name: str
    names: tuple[str, ...]


class Func(NamedTuple):
    pos: int
    name: str


class Chain(NamedTuple):
    """``(pipeline).A.B``."""

    pos: int
    src: str
    pipe: Pipe
    names: tuple[str, ...]


class Command(NamedTuple):
    pos: int
    src: str
    args: tuple[Operand, ...]


class Pipe(NamedTuple):
    """Commands joined by ``|``, optionally declaring (``:=``) or assigning (``=``) variables."""

    pos: int
    src: str
    decl: tuple[str, ...]
    is_assign: bool
    cmds: tuple[Command, ...]


class Action(NamedTuple):
    """``{{ pipeline }}``: prints the value unless the pipeline declares variables."""

    pipe: Pipe


class ControlKind(StrEnum):
    IF = "if"
    WITH = "with"
    RANGE = "range"


class Control(NamedTuple):
    kind: ControlKind
    pipe: Pipe
    body: tuple[Node, ...]
    orelse: tuple[Node, ...]


class Loop(NamedTuple):
    """``{{break}}`` (``is_break``) or ``{{continue}}``."""

    is_break: bool


Operand = Dot | Nil | Literal | Field | Var | Func | Chain | Pipe
Node = Text | Action | Control | Loop


# ---------------------------------------------------------------------------------------------
# Parser


class Parser:
    """Recursive descent over :func:`lex` tokens, like Go's ``text/template/parse``.

    Args:
        text: the template source.
        functions: names callable as functions (others fail: ``function "x" not defined``).
    """

    def __init__(self, text: str, functions: Container[str]) -> None:
        self.text = text
        self.functions = functions
        self.toks = lex(text)
        self.i = 0
        self.vars = ["$"]
        self.range_depth = 0

    def parse(self) -> tuple[Node, ...]:
        """Return the template's top-level nodes.

        Raises:
            TemplateError: the template is malformed.
        """
        nodes, stop = self._list()
        if stop is not None:
            raise self._error(stop, f"unexpected {{{{{stop.value}}}}}")
        return nodes

    # token helpers --------------------------------------------------------------------------

    def _next(self) -> Tok:
        tok = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def _peek(self) -> Tok:
        return self.toks[self.i]

    def _skip_space(self) -> Tok:
        while self.toks[self.i].kind is Kind.SPACE:
            self.i += 1
        return self.toks[self.i]

    def _error(self, tok: Tok, message: str) -> TemplateError:
        return parse_error(self.text, tok.pos, message)

    def _unexpected(self, tok: Tok, context: str) -> TemplateError:
        shown = "EOF" if tok.kind is Kind.EOF else repr(tok.value).replace("'", '"')
        return self._error(tok, f"unexpected {shown} in {context}")

    def _expect_right(self, context: str) -> None:
        tok = self._skip_space()
        if tok.kind is not Kind.RIGHT:
            raise self._unexpected(tok, context)
        self._next()

    # lists and actions ------------------------------------------------------------------------

    def _list(self) -> tuple[tuple[Node, ...], Tok | None]:
        """Parse nodes up to EOF (returns None) or to ``{{end}}``/``{{else}}`` (returns it)."""
        nodes: list[Node] = []
        while True:
            tok = self._next()
            if tok.kind is Kind.EOF:
                return tuple(nodes), None
            if tok.kind is Kind.TEXT:
                nodes.append(Text(text=tok.value))
                continue
            word = self._skip_space()
            if word.kind is Kind.IDENT and word.value in ("end", "else"):
                self._next()
                return tuple(nodes), word
            nodes.append(self._action(word))

    def _action(self, word: Tok) -> Node:
        if word.kind is Kind.IDENT and word.value in ("if", "with", "range"):
            self._next()
            return self._control(ControlKind(word.value))
        if word.kind is Kind.IDENT and word.value in ("break", "continue"):
            self._next()
            if self.range_depth == 0:
                raise self._error(word, f"{{{{{word.value}}}}} outside {{{{range}}}}")
            self._expect_right(f"{{{{{word.value}}}}}")
            return Loop(is_break=word.value == "break")
        if word.kind is Kind.IDENT and word.value in ("define", "template", "block"):
            raise self._error(word, f"{{{{{word.value}}}}} is not supported")
        return Action(pipe=self._pipeline("command", "}}"))

    def _control(self, kind: ControlKind) -> Control:
        mark = len(self.vars)
        pipe = self._pipeline(kind.value, "}}")
        self.range_depth += kind is ControlKind.RANGE
        body, stop = self._list()
        self.range_depth -= kind is ControlKind.RANGE
        if stop is None:
            raise self._error(self._peek(), "unexpected EOF")
        orelse: tuple[Node, ...] = ()
        chained = self._skip_space() if stop.value == "else" else None
        if chained is not None and kind is not ControlKind.RANGE and chained.value == kind.value:
            self._next()  # {{else if ...}}: the chained control consumes the {{end}}
            orelse = (self._control(kind),)
        elif chained is not None:
            self._expect_right("else")
            orelse, stop = self._list()
            if stop is None:
                raise self._error(self._peek(), "unexpected EOF")
            if stop.value != "end":
                raise self._error(stop, "expected end; found {{else}}")
            self._expect_right("end")
        else:
            self._expect_right("end")
        del self.vars[mark:]
        return Control(kind=kind, pipe=pipe, body=body, orelse=orelse)

    # pipelines --------------------------------------------------------------------------------

    def _closes(self, tok: Tok, closing: str) -> bool:
        if closing == "}}":
            return tok.kind is Kind.RIGHT
        return tok.kind is Kind.OP and tok.value == closing

    def _pipeline(self, context: str, closing: str) -> Pipe:
        """Parse a pipeline and consume its *closing* token (``}}`` or ``)``)."""
        start = self._skip_space()
        decl, is_assign = self._declarations(context)
        cmds: list[Command] = []
        piped, end = False, start.pos
        while True:
            tok = self._skip_space()
            if self._closes(tok, closing):
                self._next()
                break
            if tok.kind in (Kind.RIGHT, Kind.EOF):
                raise self._error(tok, "unclosed left paren")
            if self._closes(tok, ")"):
                raise self._error(tok, "unexpected right paren")
            cmd, piped = self._command()
            cmds.append(cmd)
            end = cmd.pos + len(cmd.src)
        if not cmds:
            raise self._error(tok, f"missing value for {context}")
        if piped:
            raise self._error(tok, "missing command after |")
        for stage, cmd in enumerate(cmds[1:], start=2):
            if isinstance(cmd.args[0], Literal | Dot | Nil):
                raise self._error(tok, f"non executable command in pipeline stage {stage}")
        src = self.text[start.pos : end]
        return Pipe(pos=start.pos, src=src, decl=decl, is_assign=is_assign, cmds=tuple(cmds))

    def _declarations(self, context: str) -> tuple[tuple[str, ...], bool]:
        """Parse ``$x :=``, ``$x =`` or (in range) ``$i, $e :=``; declared names enter scope."""
        save, names = self.i, list[str]()
        while (var := self._skip_space()).kind is Kind.VAR:
            self._next()
            after = self._skip_space()
            if after.kind is Kind.DECLARE or (after.kind is Kind.OP and after.value == "="):
                self._next()
                names.append(var.value)
                is_assign = after.kind is Kind.OP
                if is_assign and var.value not in self.vars:
                    raise self._error(var, f'undefined variable "{var.value}"')
                if not is_assign:
                    self.vars.extend(names)
                return tuple(names), is_assign
            if not (after.kind is Kind.OP and after.value == ","):
                break
            if context != "range" or names:
                raise self._error(after, f"too many declarations in {context}")
            self._next()
            names.append(var.value)
        if names:
            raise self._error(self._peek(), "range can only initialize variables")
        self.i = save
        return (), False

    def _command(self) -> tuple[Command, bool]:
        """Parse space-separated operands; return the command and whether a ``|`` followed."""
        start = self._skip_space()
        args: list[Operand] = []
        end, piped = start.pos, False
        while True:
            self._skip_space()
            operand = self._operand()
            if operand is not None:
                args.append(operand)
                end = self.toks[self.i - 1].end
            tok = self._peek()
            if tok.kind is Kind.SPACE:
                continue
            if tok.kind is Kind.OP and tok.value == "|":
                self._next()
                piped = True
            elif not (tok.kind is Kind.RIGHT or (tok.kind is Kind.OP and tok.value == ")")):
                raise self._unexpected(tok, "operand")
            break
        if not args:
            raise self._error(tok, "missing value for command")
        src = self.text[start.pos : end]
        return Command(pos=start.pos, src=src, args=tuple(args)), piped

    def _operand(self) -> Operand | None:
        node = self._term()
        if node is None or self._peek().kind is not Kind.FIELD:
            return node
        names: list[str] = []
        while self._peek().kind is Kind.FIELD:
            names.append(self._next().value[1:])
        src = self.text[node.pos : self.toks[self.i - 1].end]
        if isinstance(node, Field):
            return Field(pos=node.pos, src=src, names=node.names + tuple(names))
        if isinstance(node, Var):
            return Var(pos=node.pos, src=src, name=node.name, names=node.names + tuple(names))
        if isinstance(node, Pipe):
            return Chain(pos=node.pos, src=src, pipe=node, names=tuple(names))
        raise parse_error(self.text, node.pos, f"unexpected . after term {src!r}")

    def _term(self) -> Operand | None:
        tok = self._peek()
        kind, value, pos = tok.kind, tok.value, tok.pos
        if kind is Kind.OP and value == "(":
            self._next()
            return self._pipeline("parenthesized pipeline", ")")
        node: Operand
        if kind is Kind.IDENT and value in ("true", "false"):
            node = Literal(pos=pos, value=value == "true")
        elif kind is Kind.IDENT and value == "nil":
            node = Nil(pos=pos)
        elif kind is Kind.IDENT and value not in _KEYWORDS:
            if value not in self.functions:
                raise self._error(tok, f'function "{value}" not defined')
            node = Func(pos=pos, name=value)
        elif kind is Kind.FIELD:
            node = Field(pos=pos, src=value, names=(value[1:],))
        elif kind is Kind.VAR:
            if value not in self.vars:
                raise self._error(tok, f'undefined variable "{value}"')
            node = Var(pos=pos, src=value, name=value, names=())
        elif kind is Kind.OP and value == ".":
            node = Dot(pos=pos)
        elif kind in LITERALS:
            node = Literal(pos=pos, value=self._literal(tok, LITERALS[kind]))
        else:
            return None
        self._next()
        return node

    def _literal(self, tok: Tok, convert: Callable[[str], str | int | float]) -> str | int | float:
        try:
            return convert(tok.value)
        except ValueError as err:
            what = "number syntax" if tok.kind is Kind.NUMBER else "syntax"
            raise self._error(tok, f"bad {what}: {tok.value}") from err
