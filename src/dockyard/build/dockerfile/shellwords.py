"""Dockerfile shell words: quote removal, escapes and ``$VAR`` expansion, as BuildKit does it.

This is BuildKit's ``frontend/dockerfile/shell/lex.go`` (``Lex.ProcessWord`` /
``ProcessWords``), rule for rule, so a Dockerfile means here what it means to ``docker build``:

- ``'...'`` is literal (no escapes, no expansion); ``"..."`` expands ``$`` and lets the escape
  character escape only ``"``, ``$`` and itself (any other ``\\x`` stays ``\\x``); outside
  quotes the escape character makes the next character literal, and a trailing one vanishes.
- ``$NAME`` / ``${NAME}``: a name is letters, digits and ``_``; ``$1``, ``$12`` (digits only)
  and the special parameters ``$@ $* $# $? $- $$ $!`` are names too (never set, so empty).
  A ``$`` not followed by a name (``$.``, ``$`` at the end) is a literal ``$``.
- ``${NAME-word}`` / ``${NAME:-word}`` (default when unset / unset or empty),
  ``${NAME+word}`` / ``${NAME:+word}`` (alternative), ``${NAME?msg}`` / ``${NAME:?msg}``
  (error naming NAME), ``${NAME#pat}`` / ``${NAME##pat}`` / ``${NAME%pat}`` /
  ``${NAME%%pat}`` (shortest/longest prefix/suffix removal, ``*`` and ``?`` wildcards),
  ``${NAME/pat/repl}`` / ``${NAME//pat/repl}`` (first / every match). ``word`` may nest
  expansions and quotes. Anything else in braces (``${NAME=x}``, ``${NAME:#x}``, ``${}``,
  ``${.}``) is an error, never a silent guess.
- Word splitting (:func:`expand_words`, for ``EXPOSE``/``VOLUME``/``ENV a=b c=d``) happens
  *after* expansion: unquoted whitespace, including whitespace inside expanded values,
  separates words; quoted or escaped whitespace does not; empty words are dropped.

Two deliberate departures, both in BuildKit's disfavour: its newest ``ProcessWords`` shares one
word buffer across nested ``${X:-...}`` expansions, which loses the text before them (a
regression no test of theirs covers); here each nesting level keeps its own. Error messages
follow BuildKit's wording but quote the source Python-style.

Variable lookup is case-sensitive (Linux). The module is pure: strings in, strings out.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

__all__ = [
    "Expansion",
    "Lexer",
    "ShellWordError",
    "expand",
    "expand_words",
    "used_variables",
]

# Go's unicode.IsSpace: the Unicode White_Space property.
_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
# POSIX special parameters (BuildKit's isSpecialParam); "0" is caught by the digit rule first.
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_EOF = ""
# Nested ``${A:-${B:-...}}`` levels: each is a Python frame, so a hostile word must get an
# error here rather than a RecursionError (Go's growable stacks never meet this).
_MAX_NESTING = 100


class ShellWordError(InvalidArgument):
    """A word cannot be expanded: bad syntax, or a ``${NAME?msg}`` whose NAME is unset.

    Attributes:
        variable: the NAME of a failed ``${NAME?msg}`` / ``${NAME:?msg}``; None otherwise.
    """

    def __init__(self, message: str, *, hint: str | None = None, variable: str | None = None):
        super().__init__(message, hint=hint)
        self.variable = variable


class _LexError(Exception):
    def __init__(self, message: str, *, variable: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.variable = variable
        self.hint = hint


@dataclass(frozen=True, slots=True, kw_only=True)
class Expansion:
    """The outcome of processing one text.

    Attributes:
        result: the text with quotes removed, escapes processed and variables expanded
            (BuildKit's ``ProcessWord``); whitespace between words is kept.
        words: the same, split into words on unquoted whitespace (``ProcessWords``).
        matched: names looked up and found in the environment.
        unmatched: names looked up and not found.
    """

    result: str
    words: tuple[str, ...]
    matched: frozenset[str]
    unmatched: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Lexer:
    """BuildKit's ``shell.Lex``: the escape character and the processing switches.

    Attributes:
        escape: the escape character: ``\\`` or the ``# escape=`` directive's backtick.
        raw_quotes: keep the quote characters in the result (``Lex.RawQuotes``).
        raw_escapes: keep escape characters in the result (``Lex.RawEscapes``).
        skip_process_quotes: treat quotes as ordinary characters, e.g. for heredoc bodies
            (``Lex.SkipProcessQuotes``).
        skip_unset_env: leave references to unset variables as written, e.g. ``$X`` or
            ``${X:-d}`` (``Lex.SkipUnsetEnv``); ``${X?msg}`` then never fails.
    """

    escape: str = "\\"
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_process_quotes: bool = False
    skip_unset_env: bool = False

    def __post_init__(self) -> None:
        if len(self.escape) != 1 or self.escape in "$'\"" or self.escape in _SPACES:
            raise InvalidArgument(
                f"shell words: invalid escape character {self.escape!r}",
                hint="use the '# escape=\\' or '# escape=`' parser directive",
            )

    def process(self, text: str, env: Mapping[str, str]) -> Expansion:
        """Expand ``text`` against ``env``.

        Raises:
            ShellWordError: unterminated quote or ``${``, bad substitution, unsupported
                modifier, invalid pattern, or a failed ``${NAME?msg}`` (``.variable``).
        """
        state = _State(self, text, env)
        try:
            result, words = state.until(None, self.raw_escapes)
        except _LexError as err:
            raise ShellWordError(
                f"failed to process {json.dumps(text, ensure_ascii=False)}: {err.message}",
                hint=err.hint,
                variable=err.variable,
            ) from None
        return Expansion(
            result=result,
            words=tuple(words),
            matched=frozenset(state.matched),
            unmatched=frozenset(state.unmatched),
        )

    def expand(self, word: str, env: Mapping[str, str]) -> str:
        """``process(word, env).result`` (BuildKit's ``ProcessWord``)."""
        return self.process(word, env).result

    def expand_words(self, text: str, env: Mapping[str, str]) -> list[str]:
        """``process(text, env).words`` (BuildKit's ``ProcessWords``)."""
        return list(self.process(text, env).words)

    def used_variables(self, text: str) -> set[str]:
        """Every name ``text`` references, nested defaults included, set or not.

        Quoting rules apply (``'$X'`` references nothing). Includes ``$1``-style and special
        parameter names as written (``"1"``, ``"@"``); callers intersect with their ARGs.

        Raises:
            ShellWordError: the text has a syntax error.
        """
        # Skipping unset names visits every reference and never evaluates "?" or patterns.
        collector = dataclasses.replace(self, skip_unset_env=True)
        return set(collector.process(text, {}).unmatched)


def expand(word: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    """Expand one Dockerfile word: quotes removed, escapes processed, variables expanded.

    Raises:
        ShellWordError: see :meth:`Lexer.process`.
    """
    return Lexer(escape=escape).expand(word, env)


def expand_words(text: str, env: Mapping[str, str], *, escape: str = "\\") -> list[str]:
    """Expand ``text`` and split it into words on unquoted whitespace.

    Raises:
        ShellWordError: see :meth:`Lexer.process`.
    """
    return Lexer(escape=escape).expand_words(text, env)


def used_variables(text: str, escape: str = "\\") -> set[str]:
    """The names ``text`` references (for cache keys: only ARGs actually used count).

    Raises:
        ShellWordError: the text has a syntax error.
    """
    return Lexer(escape=escape).used_variables(text)


class _Words:
    """BuildKit's wordsStruct: accumulates words while a text is processed."""

    __slots__ = ("buf", "in_word", "words")

    def __init__(self) -> None:
        # The current word's pieces: ``str +=`` on an attribute copies the whole word each
        # time, which made a long word (a hostile 8 MiB LABEL) quadratic.
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch in _SPACES:
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw(self, text: str) -> None:
        if text:
            self.buf.append(text)
        self.in_word = True

    def finish(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False
        return self.words


class _State:
    """One text being processed: the scanner position and the names looked up."""

    def __init__(self, lexer: Lexer, text: str, env: Mapping[str, str]) -> None:
        self.lx = lexer
        # Go's text/scanner skips a byte order mark at the very start.
        self.src = text[1:] if text.startswith("\ufeff") else text
        self.pos = 0
        self.env = env
        self.raw_escapes = lexer.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()
        self.depth = 0

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False

    def until(self, stop: str | None, raw_escapes: bool) -> tuple[str, list[str]]:
        """processStopOn: process up to ``stop`` (consumed) or, for None, the end."""
        if self.depth >= _MAX_NESTING:
            raise _LexError(f"substitutions nested more than {_MAX_NESTING} levels deep")
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        self.depth += 1
        try:
            return self._until(stop)
        finally:
            self.raw_escapes = saved
            self.depth -= 1

    def _until(self, stop: str | None) -> tuple[str, list[str]]:
        out: list[str] = []
        words = _Words()
        quotes = not self.lx.skip_process_quotes
        while (ch := self.peek()) != _EOF:
            if ch == stop:
                self.next()
                return "".join(out), words.finish()
            if ch == "$":
                value = self.dollar()
                out.append(value)
                words.add_string(value)
            elif quotes and ch in "'\"":
                value = self.single_quote() if ch == "'" else self.double_quote()
                out.append(value)
                words.add_raw(value)
            else:
                ch = self.next()
                if ch == self.lx.escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        out.append(ch)
                    ch = self.next()
                    if ch == _EOF:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                out.append(ch)
        if stop is not None:
            raise _LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.finish()

    def single_quote(self) -> str:
        opening = self.next()
        out = [opening] if self.lx.raw_quotes else []
        while True:
            ch = self.next()
            if ch == _EOF:
                raise _LexError(
                    "unexpected end of statement while looking for matching single-quote",
                    hint="close the quote",
                )
            if ch == "'":
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        opening = self.next()
        out = [opening] if self.lx.raw_quotes else []
        escape = self.lx.escape
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise _LexError(
                    "unexpected end of statement while looking for matching double-quote",
                    hint=f"close the quote; escape a literal '\"' as '{escape}\"'",
                )
            if ch == '"':
                out.append('"' if self.lx.raw_quotes else "")
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if following == _EOF:
                    continue  # ignored; the loop then reports the missing quote
                if following in ('"', "$", escape):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        """A name: letters, digits, ``_``; or only digits; or one special parameter."""
        chars: list[str] = []
        while (ch := self.peek()) != _EOF:
            if not chars and ch.isdecimal():
                while self.peek() != _EOF and self.peek().isdecimal():
                    chars.append(self.next())
                break
            if not chars and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            chars.append(self.next())
        return "".join(chars)

    def dollar(self) -> str:
        self.next()  # the "$"
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            if not found and self.lx.skip_unset_env:
                return "$" + name
            return value
        self.next()  # the "{"
        ch = self.peek()
        if ch == _EOF:
            raise _LexError("syntax error: missing '}'")
        if ch in "{}:":
            raise _LexError(
                "syntax error: bad substitution",
                hint=f"write a literal '$' as '{self.lx.escape}$'",
            )
        name = self.name()
        ch = self.next()
        if ch == "}":
            value, found = self.lookup(name)
            if not found and self.lx.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self.substitute(name)
        if ch == ":" or (ch and ch in "+-?#%"):
            return self.modifier(name, ch)
        if ch == _EOF:
            raise _LexError("syntax error: missing '}'")
        raise _unsupported(ch)

    def operand(self, stop: str, raw_escapes: bool, missing: str) -> str:
        """The word of a modifier, up to ``stop``; at the end of input, ``missing``."""
        try:
            word, _ = self.until(stop, raw_escapes)
        except _LexError:
            if self.peek() == _EOF:
                raise _LexError(missing) from None
            raise
        return word

    def modifier(self, name: str, ch: str) -> str:
        """``${NAME<op>word}`` for the ops ``- + ? # %`` with or without ``:``."""
        op = ch
        null_is_unset = ch == ":"
        if null_is_unset:
            ch = self.next()
            op += ch
        if null_is_unset and ch in ("#", "%"):
            raise _unsupported(op)
        word = self.operand("}", ch in ("#", "%"), "syntax error: missing '}'")
        value, found = self.lookup(name)
        if self.lx.skip_unset_env and not found:
            return "${" + name + op + word + "}"
        unset = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if unset else value
        if ch == "+":
            return "" if unset else word
        if ch == "?":
            if unset:
                default = "unset" if not found else "empty"
                raise _LexError(
                    f"{name}: {word or 'is not allowed to be ' + default}",
                    variable=name,
                    hint=f"set {name} (ENV, ARG or --build-arg) before this instruction",
                )
            return value
        if ch in ("#", "%"):
            greedy = word.startswith(ch)
            pattern = word[1:] if greedy else word
            if ch == "%":
                return _trim_suffix(pattern, value, greedy)
            return _trim_prefix(pattern, value, greedy)
        raise _unsupported(op)

    def substitute(self, name: str) -> str:
        """``${NAME/pattern/replacement}`` and ``${NAME//pattern/replacement}``."""
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        pattern = self.operand("/", True, "syntax error: missing '/' in ${}")
        replacement = self.operand("}", True, "syntax error: missing '}'")
        value, found = self.lookup(name)
        if self.lx.skip_unset_env and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _shell_pattern(pattern, greedy=True, anchored=False)
        if replace_all:
            return _replace_all(regex, value, replacement)
        m = regex.search(value)
        return value if m is None else value[: m.start()] + replacement + value[m.end() :]


def _unsupported(op: str) -> _LexError:
    return _LexError(
        f"unsupported modifier ({op}) in substitution",
        hint="use one of ${V-w} ${V:-w} ${V+w} ${V:+w} ${V?m} ${V:?m} ${V#p} ${V%p} ${V/p/r}",
    )


def _shell_pattern(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """BuildKit's convertShellPatternToRegex: ``*`` any string, ``?`` one character,
    ``\\`` escapes ``* ? \\`` (and is dropped before ``}`` or ``/``); no bracket expressions.
    """
    out = ["^"] if anchored else []
    i, n = 0, len(pattern)
    while i < n:
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(".*" if greedy else ".*?")
        elif tok == "?":
            out.append(".")
        elif tok == "\\":
            following = pattern[i] if i < n else _EOF
            if following in ("}", "/"):
                continue
            if following not in ("*", "?", "\\"):
                raise _LexError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{following}'"
                )
            out.append(re.escape(following))
            i += 1
        else:
            out.append(re.escape(tok))
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _shell_pattern(pattern, greedy=greedy, anchored=True).search(value)
    return value if m is None else value[m.end() :]


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern, keeping each ``\\x`` escape pair in order (``a\\*c`` -> ``c\\*a``)."""
    pairs: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            pairs.append(pattern[i : i + 2])
            i += 2
        else:
            pairs.append(pattern[i])
            i += 1
    return "".join(reversed(pairs))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # A regex cannot find the shortest rightmost match, so both are reversed (as BuildKit).
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _replace_all(regex: re.Pattern[str], src: str, template: str) -> str:
    """Go's ``Regexp.ReplaceAllString``: no empty match right after a match; ``$`` expands."""
    out: list[str] = []
    last = pos = 0
    while pos <= len(src):
        m = regex.search(src, pos)
        if m is None:
            break
        start, end = m.span()
        out.append(src[last:start])
        if end > last or start == 0:
            out.append(_go_expand(template, m.group(0)))
        last = end
        pos = pos + 1 if pos + 1 > end else end
    out.append(src[last:])
    return "".join(out)


def _go_expand(template: str, whole: str) -> str:
    """Go's ``Regexp.Expand`` for a regex without groups: ``$0``/``${0}`` is the match,
    ``$$`` a dollar, any other ``$name``/``${name}`` is empty, a malformed ``$`` stays."""
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        i += 1
        if ch != "$":
            out.append(ch)
        elif i < n and template[i] == "$":
            out.append("$")
            i += 1
        else:
            brace = i < n and template[i] == "{"
            j = k = i + brace
            while k < n and (
                template[k].isalpha() or template[k].isdecimal() or template[k] == "_"
            ):
                k += 1
            if k == j or (brace and (k >= n or template[k] != "}")):
                out.append("$")  # malformed: the "$" is kept, the rest read as text
                continue
            out.append(whole if template[j:k] == "0" else "")
            i = k + brace
    return "".join(out)
