"""The grammar of one instruction's text, as BuildKit's parser reads it: the keyword, the
leading ``--flags`` (``split_command.go``), the JSON exec form (``line_parsers.go``) and the
here-document words (``parser.go``).

Pure functions on a logical line (continuations already joined); offsets returned point into
the text given, so callers can map them back to a line and column.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from dockyard.build.dockerfile.nodes import Heredoc
from dockyard.build.dockerfile.source import split_words

__all__ = [
    "HEREDOC_KEYWORDS",
    "JSON_KEYWORDS",
    "KEYWORDS",
    "Split",
    "decode_json_array",
    "dequote",
    "exec_form",
    "find_heredocs",
    "split_instruction",
]

KEYWORDS = (
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)
"""Every Dockerfile instruction, upper-case, sorted."""

HEREDOC_KEYWORDS = frozenset({"ADD", "COPY", "RUN"})
"""The instructions that read here-documents (also as an ONBUILD trigger)."""

JSON_KEYWORDS = frozenset({"ADD", "CMD", "COPY", "ENTRYPOINT", "RUN", "SHELL", "VOLUME"})
"""The instructions whose arguments may be a JSON array (BuildKit's parseMaybeJSON*)."""

# BuildKit splits the keyword off at these (not at every Unicode space).
_KEYWORD_END = re.compile(r"[\t\v\f\r ]+")
_HEREDOC = re.compile(r"(\d*)<<(-?)([^<]*)\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class Split:
    """An instruction's text cut into keyword (as written), flags and arguments.

    ``keyword_at`` and ``args_at`` are offsets into the text that was split.
    """

    keyword: str
    keyword_at: int
    flags: tuple[str, ...]
    args: str
    args_at: int


def split_instruction(text: str, start: int = 0) -> Split:
    """Split ``text[start:]`` into keyword, flags and arguments (outer whitespace trimmed)."""
    end = len(text.rstrip())
    pos = start
    while pos < end and text[pos].isspace():
        pos += 1
    match = _KEYWORD_END.search(text, pos, end)
    keyword_end = match.start() if match else end
    flags, args_at = _extract_flags(text, keyword_end, end)
    return Split(
        keyword=text[pos:keyword_end],
        keyword_at=pos,
        flags=tuple(flags),
        args=text[args_at:end],
        args_at=args_at,
    )


def _extract_flags(text: str, pos: int, end: int) -> tuple[list[str], int]:
    """Take the leading ``--flag`` words; quotes are removed and ``\\`` escapes the next
    character inside them, as in BuildKit. A bare ``--`` ends the flags."""
    flags: list[str] = []
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end or not text.startswith("--", pos):
            return flags, pos
        word, blank_ok, pos = _flag_word(text, pos, end)
        if word == "--":
            while pos < end and text[pos].isspace():
                pos += 1
            return flags, pos
        if word or blank_ok:
            flags.append(word)


def _flag_word(text: str, pos: int, end: int) -> tuple[str, bool, int]:
    chars: list[str] = []
    quote = ""
    blank_ok = False
    while pos < end:
        ch = text[pos]
        pos += 1
        if quote and ch == quote:
            quote = ""
            continue
        if not quote and ch.isspace():
            return "".join(chars), blank_ok, pos - 1
        if not quote and ch in "'\"":
            quote, blank_ok = ch, True
            continue
        if ch == "\\":
            if pos == end:
                quote = ""
                continue
            ch = text[pos]
            pos += 1
        chars.append(ch)
    return "".join(chars), blank_ok, pos


def decode_json_array(args: str) -> tuple[list[object], int] | None:
    """Decode the JSON array that ``args`` starts with.

    Like Go's ``json.Decoder``, only the first value is read: text after the array is left
    over, and its offset is returned so that callers can warn about it.

    Returns:
        The array's values and the offset just after it, or None when ``args`` does not start
        with a valid JSON array.
    """
    lead = len(args) - len(args.lstrip())
    if not args.startswith("[", lead):
        return None
    try:
        value, end = json.JSONDecoder().raw_decode(args, lead)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list):
        return None
    return value, end


def exec_form(args: str) -> tuple[str, ...] | None:
    """The exec form of ``args``: its JSON array of strings, or None for the shell form.

    An array holding anything but strings is not an exec form (the parser reports it as an
    error for the instructions that take one).
    """
    decoded = decode_json_array(args)
    if decoded is None or not all(isinstance(v, str) for v in decoded[0]):
        return None
    return tuple(str(v) for v in decoded[0])


def find_heredocs(text: str, start: int) -> list[tuple[int, Heredoc]]:
    """The here-documents that the words of ``text[start:]`` open, in order.

    A word opens one when it reads ``[n]<<[-]NAME`` (BuildKit's rule); quoting any part of
    NAME turns expansion off. Each :class:`Heredoc` comes back with empty ``content``.

    Returns:
        ``(offset, heredoc)`` pairs, offset being where the word starts in ``text``.
    """
    found: list[tuple[int, Heredoc]] = []
    for offset, word in split_words(text, start, "\\"):
        match = _HEREDOC.match(word)
        if match is None or not match.group(3):
            continue
        name, quoted = dequote(match.group(3))
        if name:
            found.append(
                (offset, Heredoc(name=name, content="", expand=not quoted, chomp=bool(match[2])))
            )
    return found


def dequote(word: str) -> tuple[str, bool]:
    """Remove shell quoting from one word.

    Returns:
        The word's value and whether any part of it was quoted.
    """
    out: list[str] = []
    quote = ""
    quoted = False
    pos = 0
    while pos < len(word):
        ch = word[pos]
        pos += 1
        if quote:
            if ch == quote:
                quote = ""
                continue
            if ch == "\\" and quote == '"' and pos < len(word) and word[pos] in '"\\$`':
                ch = word[pos]
                pos += 1
        elif ch in "'\"":
            quote, quoted = ch, True
            continue
        elif ch == "\\" and pos < len(word):
            ch = word[pos]
            pos += 1
        out.append(ch)
    return "".join(out), quoted
