"""``.dockerignore``: reading the file and matching context paths, as Docker does it.

Reading is moby/patternmatcher's ``ignorefile.ReadAll``: a UTF-8 BOM is dropped, a line that
*starts* with ``#`` is a comment (``  #x`` is a pattern), lines are trimmed, blank lines
skipped, ``!`` marks an exception (spaces after it are trimmed too), each pattern is
``filepath.Clean``-ed and one leading ``/`` removed (``/foo`` means ``foo``).

Matching is patternmatcher's ``MatchesOrParentMatches`` (what BuildKit's context walker
computes): paths are relative to the context root, ``/``-separated; ``*`` is any run of
non-``/`` characters, ``?`` one non-``/`` character, ``[a-z]``/``[^a-z]`` a class, ``\\x`` a
literal ``x``, ``**`` any number of directories (``**/x``, ``a/**``, ``a/**/b``). Patterns are
tried in order and the last one that matches decides (``!`` re-includes); a pattern that
matches a parent directory matches everything below it (``build`` excludes ``build/x``). The
context root itself is never excluded. A trailing ``/`` is cleaned away, so patterns never
distinguish files from directories.

Docker hands patterns to Go's regexp engine, whose extras can't be reproduced exactly; here
they are errors, never silent guesses: POSIX classes (``[[:alpha:]]``), ``*`` or ``?`` inside
brackets, and backslash before a letter, digit or non-ASCII character (``\\d``).
Docker's plain-string shortcuts are kept as they are: ``dir/**`` is a prefix test (it does not
match ``dir`` itself, but matches below it) and ``**name`` a suffix test (``**file`` matches
``xfile``).

Which file is read: :func:`dockerignore_for`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from dockyard.errors import InvalidArgument

__all__ = ["Matcher", "Pattern", "dockerignore_for", "parse_dockerignore"]

# Go's strings.TrimSpace: the Unicode White_Space property.
_SPACES = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
# fsutil's patternChars: an exception holding one of these (once a trailing /** or /* is
# stripped) may re-include something anywhere, so no excluded directory can be skipped.
_WILDCARDS = frozenset("*[]?^\\")


def dockerignore_for(dockerfile_name: str) -> tuple[str, ...]:
    """The ignore files to look for, in order; the first that exists is used, alone.

    ``<dockerfile_name>.dockerignore`` sits next to the Dockerfile (resolve it like the
    Dockerfile's own path: ``docker/app.Dockerfile`` -> ``docker/app.Dockerfile.dockerignore``);
    ``.dockerignore`` is at the root of the build context. This is BuildKit's rule, which lets
    several Dockerfiles share one context with different ignore lists. The caller reads them.
    """
    return (f"{dockerfile_name}.dockerignore", ".dockerignore")


def parse_dockerignore(text: str) -> tuple[str, ...]:
    """The patterns of a ``.dockerignore`` file, in order (``ignorefile.ReadAll``).

    Exceptions keep their ``!`` prefix; a lone ``!`` is kept too and rejected by
    :class:`Matcher`, as Docker rejects it when the build starts.
    """
    patterns: list[str] = []
    lines = text.removeprefix("\ufeff").split("\n")
    for line in lines:
        line = line.removesuffix("\r")
        if line.startswith("#"):
            continue
        pattern = line.strip(_SPACES)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip(_SPACES)
        if pattern:
            pattern = _clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return tuple(patterns)


def _clean(path: str) -> str:
    """Go's ``path.Clean``: one ``/`` between elements, no ``.``, ``..`` resolved lexically."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for element in path.split("/"):
        if element in ("", "."):
            continue
        if element == ".." and parts and parts[-1] != "..":
            parts.pop()
        elif element != ".." or not rooted:
            parts.append(element)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


class _Kind(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    REGEXP = "regexp"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pattern:
    """One compiled pattern.

    Attributes:
        text: the cleaned pattern without its ``!``.
        exception: it was written ``!text``: it re-includes what it matches.
    """

    text: str
    exception: bool
    kind: _Kind
    regex: re.Pattern[str] | None

    @classmethod
    def compile(cls, written: str) -> Pattern | None:
        """Compile one pattern as ``patternmatcher.New`` does (None for a blank one).

        Raises:
            InvalidArgument: a lone ``!``, a malformed pattern (``[``, ``a\\``, ``[z-a]``),
                or one whose Docker meaning can't be reproduced (see the module docstring).
        """
        text = written.strip(_SPACES)
        if not text:
            return None
        text = _clean(text)
        exception = text.startswith("!")
        if exception:
            if len(text) == 1:
                raise _bad(written, 'illegal exclusion pattern: "!"')
            text = text[1:]
        kind, regex = _Compiler(text, written).run()
        return cls(text=text, exception=exception, kind=kind, regex=regex)

    def matches(self, path: str) -> bool:
        """Whether this pattern matches ``path`` itself (no parent rule)."""
        if self.kind is _Kind.EXACT:
            return path == self.text
        if self.kind is _Kind.PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind is _Kind.SUFFIX:
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regex is not None
        return self.regex.fullmatch(path) is not None

    def __str__(self) -> str:
        return ("!" if self.exception else "") + self.text


class Matcher:
    """The patterns of one ignore file, compiled; answers "is this context path excluded?".

    Args:
        patterns: as :func:`parse_dockerignore` returns them (``!`` marks an exception).

    Raises:
        InvalidArgument: a pattern is invalid (see :meth:`Pattern.compile`).
    """

    __slots__ = ("_only_prefix_exceptions", "has_exceptions", "patterns")

    def __init__(self, patterns: Iterable[str]) -> None:
        compiled = (Pattern.compile(p) for p in patterns)
        self.patterns: tuple[Pattern, ...] = tuple(p for p in compiled if p is not None)
        self.has_exceptions = any(p.exception for p in self.patterns)
        self._only_prefix_exceptions = not any(
            p.exception and not _WILDCARDS.isdisjoint(_without_trailing_glob(p.text))
            for p in self.patterns
        )

    def excluded(self, path: str, *, is_dir: bool = False) -> bool:
        """Whether ``path`` (relative to the context root) is left out of the context.

        ``is_dir`` does not change the answer (Docker's patterns make no file/directory
        distinction); it is accepted so walkers can pass what they know.
        """
        return self._decide(path) is not None

    def excluded_by(self, path: str) -> str | None:
        """The pattern (as cleaned) whose match excludes ``path``; None if it is kept."""
        decider = self._decide(path)
        return None if decider is None else decider.text

    def should_descend(self, path: str) -> bool:
        """Whether a walker must look inside directory ``path`` (fsutil's skip rule).

        A kept directory is walked. An excluded one is skipped unless an exception could
        re-include something below it: any exception with wildcards (beyond a trailing
        ``/*`` or ``/**``) forces the walk, otherwise only exceptions under ``path`` do.
        """
        cleaned = _relative(path)
        if cleaned == "." or not self.excluded(cleaned):
            return True
        if not self._only_prefix_exceptions:
            return True
        below = cleaned + "/"
        return any(
            p.exception and (_without_trailing_glob(p.text) + "/").startswith(below)
            for p in self.patterns
        )

    def _decide(self, path: str) -> Pattern | None:
        cleaned = _relative(path)
        if cleaned == ".":
            return None  # the context root is never excluded
        parts = cleaned.split("/")
        parents = ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
        decider: Pattern | None = None
        for pattern in self.patterns:
            # An include can't change an excluded path, nor an exception a kept one.
            if pattern.exception != (decider is not None):
                continue
            if pattern.matches(cleaned) or any(pattern.matches(p) for p in parents):
                decider = None if pattern.exception else pattern
        return decider


def _relative(path: str) -> str:
    return _clean(path).lstrip("/") or "."


def _without_trailing_glob(text: str) -> str:
    return text.removesuffix("/**").removesuffix("/*")


def _bad(written: str, reason: str, hint: str | None = None) -> InvalidArgument:
    return InvalidArgument(
        f".dockerignore pattern {written.strip(_SPACES)!r}: {reason}",
        hint=hint or "fix or remove the pattern; see the .dockerignore reference",
    )


class _Compiler:
    """patternmatcher's ``Pattern.compile``, emitting a Python regex, plus Go's
    ``filepath.Match`` syntax check (which ``patternmatcher.New`` applies first)."""

    __slots__ = ("i", "kind", "out", "text", "written")

    def __init__(self, text: str, written: str) -> None:
        self.text = text
        self.written = written
        self.i = 0
        self.kind = _Kind.EXACT
        self.out: list[str] = []

    def run(self) -> tuple[_Kind, re.Pattern[str] | None]:
        text, first = self.text, True
        while self.i < len(text):
            ch = text[self.i]
            self.i += 1
            if ch == "*":
                self.star(first)
            elif ch == "?":
                self.regexp("[^/]")
            elif ch == "\\":
                if self.i >= len(text):
                    raise _bad(self.written, "syntax error in pattern (trailing '\\')")
                self.regexp(self.escaped(text[self.i]))
                self.i += 1
            elif ch == "[":
                self.regexp(self.bracket())
            else:
                self.out.append(re.escape(ch))
                if ch == "]":
                    self.kind = _Kind.REGEXP
            first = False
        if self.kind is not _Kind.REGEXP:
            return self.kind, None
        return self.kind, re.compile("".join(self.out))

    def regexp(self, piece: str) -> None:
        self.out.append(piece)
        self.kind = _Kind.REGEXP

    def star(self, first: bool) -> None:
        text = self.text
        if self.i >= len(text) or text[self.i] != "*":
            self.regexp("[^/]*")
            return
        self.i += 1
        if self.i < len(text) and text[self.i] == "/":
            self.i += 1  # "**/" is read as "**"
        if self.i < len(text):
            self.regexp("(?:.*/)?")
        elif self.kind is _Kind.EXACT:
            self.kind = _Kind.PREFIX  # "abc/**": a plain prefix test
        else:
            self.regexp(".*")
        if first:
            self.kind = _Kind.SUFFIX  # "**/abc": a plain suffix test, unless wildcards follow

    def escaped(self, ch: str) -> str:
        # Docker passes "\x" to Go's regexp: only ASCII punctuation is then a plain literal.
        if ch.isascii() and not ch.isalnum():
            return re.escape(ch)
        raise _bad(
            self.written,
            f"escape '\\{ch}' is not supported (Docker reads it as a regular expression)",
            hint="escape only punctuation, e.g. '\\*', '\\?', '\\[', '\\\\'",
        )

    def bracket(self) -> str:
        """A ``[...]`` class (``self.i`` just past ``[``), by ``filepath.Match``'s grammar."""
        text = self.text
        negate = self.i < len(text) and text[self.i] == "^"
        self.i += negate
        items: list[str] = []
        while not (self.i < len(text) and text[self.i] == "]" and items):
            lo = self.class_char()
            hi = lo
            if text[self.i] == "-":
                self.i += 1
                hi = self.class_char()
                if hi < lo:
                    raise _bad(self.written, f"invalid character class range {lo}-{hi}")
            items.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
        self.i += 1
        return "[" + ("^" if negate else "") + "".join(items) + "]"

    def class_char(self) -> str:
        """Go's ``getEsc``: one class character, and something must follow it."""
        text, i = self.text, self.i
        if i >= len(text) or text[i] in "-]":
            raise _bad(self.written, "syntax error in pattern (malformed '[...]')")
        ch = text[i]
        if ch == "\\":
            i += 1
            if i >= len(text):
                raise _bad(self.written, "syntax error in pattern (malformed '[...]')")
            self.escaped(text[i])
            ch = text[i]
        elif ch in "*?":
            raise _bad(
                self.written,
                f"{ch!r} inside '[...]' is not supported (Docker's meaning is not a glob's)",
                hint="escape it with '\\' or move it out of the brackets",
            )
        elif ch == "[" and text.startswith(":", i + 1) and ":]" in text[i:]:
            raise _bad(
                self.written,
                "POSIX character classes ('[[:alpha:]]') are not supported",
                hint="spell the class out, e.g. '[a-zA-Z]'",
            )
        self.i = i + 1
        if self.i >= len(text):
            raise _bad(self.written, "syntax error in pattern (unterminated '[...]')")
        return ch
