"""Lexer for docker's ``--format`` templates: tokens, literal values and the error type.

Owns splitting a template into TEXT runs and action tokens (``{{``, ``}}``, spaces, strings, raw
strings, characters, numbers, ``.Field``, ``$var``, identifiers, ``:=`` and the operators
``= | ( ) , .``), trim markers (``{{- `` and `` -}}``), comments, and turning literal tokens into
values (Go's ``strconv.Unquote`` and number syntax). Also :class:`TemplateError`, which every
template module raises, and :func:`parse_error`, Go's ``template parsing error`` wording. The
syntax tree and parser live in :mod:`dockyard.cli.template_parse`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import NamedTuple

from dockyard.errors import InvalidArgument

HINT = "see https://docs.docker.com/go/formatting/ for the template syntax"
_SPACE = " \t\r\n"
_TRIM = (" ", "\t", "\r", "\n")  # "{{- " needs one of these after the dash


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


class Tok(NamedTuple):
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
        if start >= 0 and text[inner : inner + 1] == "-" and text[inner + 1 : inner + 2] in _TRIM:
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
# Literal tokens as values


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


LITERALS: dict[Kind, Callable[[str], str | int | float]] = {
    Kind.STRING: _string,
    Kind.RAW: lambda token: token[1:-1].replace("\r", ""),
    Kind.CHAR: _char,
    Kind.NUMBER: _number,
}
