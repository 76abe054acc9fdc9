"""Lexer and parser for the Go ``text/template`` subset that docker's ``--format`` accepts.

Owns the syntax tree: text, ``{{ pipeline }}`` actions, ``if``/``else if``/``with``/``else
with``/``range``/``else``/``end``, ``break``/``continue``, trim markers (``{{- `` and
`` -}}``), comments, pipelines, literals, fields, variables and parenthesised pipelines.
``define``/``template``/``block`` are not supported. Errors read like Go's
(``template parsing error: template: :1: function "foo" not defined``). Execution lives in
:mod:`dockyard.cli.template`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container
from dataclasses import dataclass
from enum import StrEnum

from dockyard.errors import InvalidArgument

HINT = "see https://docs.docker.com/go/formatting/ for the template syntax"
_SPACE = " \t\r\n"
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


class TemplateError(InvalidArgument):
    """A ``--format`` template failed to parse or to execute; the message reads like Go's."""


def parse_error(text: str, pos: int, message: str) -> TemplateError:
    """Return the error for *message* found at offset *pos* of the template *text*."""
    line = text.count("\n", 0, pos) + 1
    return TemplateError(f"template parsing error: template: :{line}: {message}", hint=HINT)


class Kind(StrEnum):
    """Token kinds."""

    TEXT = "text"
    LEFT = "{{"
    RIGHT = "}}"
    SPACE = "space"
    STRING = "string"
    RAW = "raw"
    CHAR = "char"
    NUMBER = "number"
    FIELD = "field"
    VAR = "var"
    IDENT = "ident"
    DECLARE = ":="
    OP = "op"
    EOF = "EOF"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tok:
    kind: Kind
    value: str
    pos: int
    end: int


_CLOSE = re.compile(r"[ \t\r\n]-}}|}}")
_TOKEN = re.compile(
    r"""(?P<SPACE>[ \t\r\n]+)
    |(?P<STRING>"(?:[^"\\\n]|\\.)*")
    |(?P<RAW>`[^`]*`)
    |(?P<CHAR>'(?:\\[^'\n]+|[^'\\\n])')
    |(?P<NUMBER>[+-]?(?:0[xX][0-9a-fA-F_]+|0[bBoO][0-7_]+
        |(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?))
    |(?P<FIELD>\.[A-Za-z_][A-Za-z0-9_]*)
    |(?P<VAR>\$[A-Za-z0-9_]*)
    |(?P<IDENT>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<DECLARE>:=)
    |(?P<OP>[=|(),.])""",
    re.X,
)
_UNTERMINATED = {
    '"': "unterminated quoted string",
    "`": "unterminated raw quoted string",
    "'": "unterminated character constant",
}


def lex(text: str) -> list[Tok]:
    """Split *text* into tokens; text between actions becomes TEXT tokens, trimmed as marked."""
    toks: list[Tok] = []
    pos, trim_next = 0, False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        if trim_next:
            chunk = chunk.lstrip(_SPACE)
        inner = start + 2
        if start >= 0 and text[inner : inner + 1] == "-" and text[inner + 1 : inner + 2] in _SPACE:
            if inner + 1 < len(text):
                chunk, inner = chunk.rstrip(_SPACE), inner + 2
        if chunk:
            toks.append(Tok(kind=Kind.TEXT, value=chunk, pos=pos, end=pos + len(chunk)))
        if start < 0:
            break
        if text.startswith("/*", inner):
            pos, trim_next = _lex_comment(text, inner)
            continue
        toks.append(Tok(kind=Kind.LEFT, value="{{", pos=start, end=inner))
        pos, trim_next = _lex_action(text, inner, toks)
    toks.append(Tok(kind=Kind.EOF, value="", pos=len(text), end=len(text)))
    return toks


def _lex_comment(text: str, pos: int) -> tuple[int, bool]:
    end = text.find("*/", pos + 2)
    if end < 0:
        raise parse_error(text, pos, "unclosed comment")
    close = _CLOSE.match(text, end + 2)
    if close is None:
        raise parse_error(text, end, "comment ends before closing delimiter")
    return close.end(), len(close.group()) == 4


def _lex_action(text: str, pos: int, toks: list[Tok]) -> tuple[int, bool]:
    """Append the tokens of one action from *pos*; return the offset after ``}}`` and its trim."""
    while True:
        close = _CLOSE.match(text, pos)
        if close is not None:
            toks.append(Tok(kind=Kind.RIGHT, value="}}", pos=pos, end=close.end()))
            return close.end(), len(close.group()) == 4
        if pos >= len(text):
            raise parse_error(text, pos, "unclosed action")
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            message = _UNTERMINATED.get(ch)
            if message is None:
                message = f"unrecognized character in action: U+{ord(ch):04X} {ch!r}"
            raise parse_error(text, pos, message)
        kind, end = Kind[m.lastgroup or "OP"], m.end()
        if kind is Kind.SPACE and text.startswith("-}}", end) and end - 1 > pos:
            end -= 1  # leave one space for the " -}}" trim marker
        toks.append(Tok(kind=kind, value=text[pos:end], pos=pos, end=end))
        pos = end


# ---------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True, slots=True, kw_only=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Dot:
    pos: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Nil:
    pos: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Literal:
    """A string, number, character or boolean constant."""

    pos: int
    value: str | int | float | bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """``.A.B``: fields of dot."""

    pos: int
    src: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Var:
    """``$x`` or ``$x.A.B``."""

    pos: int
    src: str
    name: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Func:
    pos: int
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Chain:
    """``(pipeline).A.B``."""

    pos: int
    src: str
    pipe: Pipe
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    pos: int
    src: str
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Pipe:
    """Commands joined by ``|``, optionally declaring (``:=``) or assigning (``=``) variables."""

    pos: int
    src: str
    decl: tuple[str, ...]
    is_assign: bool
    cmds: tuple[Command, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """``{{ pipeline }}``: prints the value unless the pipeline declares variables."""

    pipe: Pipe


class ControlKind(StrEnum):
    IF = "if"
    WITH = "with"
    RANGE = "range"


@dataclass(frozen=True, slots=True, kw_only=True)
class Control:
    kind: ControlKind
    pipe: Pipe
    body: tuple[Node, ...]
    orelse: tuple[Node, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Loop:
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
            return self._control(ControlKind(word.value), word)
        if word.kind is Kind.IDENT and word.value in ("break", "continue"):
            self._next()
            if self.range_depth == 0:
                raise self._error(word, f"{{{{{word.value}}}}} outside {{{{range}}}}")
            self._expect_right(f"{{{{{word.value}}}}}")
            return Loop(is_break=word.value == "break")
        if word.kind is Kind.IDENT and word.value in ("define", "template", "block"):
            raise self._error(word, f"{{{{{word.value}}}}} is not supported")
        return Action(pipe=self._pipeline("command", Kind.RIGHT))

    def _control(self, kind: ControlKind, word: Tok) -> Control:
        mark = len(self.vars)
        pipe = self._pipeline(kind.value, Kind.RIGHT)
        self.range_depth += kind is ControlKind.RANGE
        body, stop = self._list()
        self.range_depth -= kind is ControlKind.RANGE
        if stop is None:
            raise self._error(self._peek(), "unexpected EOF")
        orelse: tuple[Node, ...] = ()
        chained = self._skip_space() if stop.value == "else" else None
        if chained is not None and kind is not ControlKind.RANGE and chained.value == kind.value:
            self._next()  # {{else if ...}}: the chained control consumes the {{end}}
            orelse = (self._control(kind, chained),)
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
                raise self._error(
                    tok, "unclosed left paren" if closing == ")" else "unclosed action"
                )
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
        elif kind in _LITERALS:
            node = Literal(pos=pos, value=self._literal(tok, _LITERALS[kind]))
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


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


def _unescape(match: re.Match[str]) -> str:
    seq = match.group(1)
    if seq in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[seq]
    if len(seq) > 1:
        return chr(int(seq[1:], 16) if seq[0] in "xuU" else int(seq, 8))
    raise ValueError(f"unknown escape sequence \\{seq}")


def _string(token: str) -> str:
    """Go's ``strconv.Unquote`` for a double-quoted literal."""
    return _ESCAPE.sub(_unescape, token[1:-1])


def _char(token: str) -> int:
    text = _string(token)
    if len(text) != 1:
        raise ValueError(token)
    return ord(text)


def _number(token: str) -> int | float:
    text = token.replace("_", "")
    if re.fullmatch(r"[+-]?0[0-7]+", text):
        return int(text, 8)
    if re.fullmatch(r"[+-]?0[xXbBoO][0-9a-fA-F]+", text):
        return int(text, 0)
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


_LITERALS: dict[Kind, Callable[[str], str | int | float]] = {
    Kind.STRING: _string,
    Kind.RAW: lambda token: token[1:-1].replace("\r", ""),
    Kind.CHAR: _char,
    Kind.NUMBER: _number,
}
