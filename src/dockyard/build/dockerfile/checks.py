"""The parser's diagnostics: each says where (file:line:column), what, and how to fix it.

BuildKit accepts some Dockerfiles that do not do what their author meant, and rejects others
with a message that does not point at the cause. These checks catch both while parsing:

- an inline ``# comment`` after arguments: it is an argument, not a comment (an error for
  FROM, ENV and LABEL, where it breaks the instruction; a warning where it changes arguments
  silently; never for shell forms, where ``#`` is the shell's comment);
- an unknown instruction, with a did-you-mean, a forgotten line continuation or a
  non-breaking space named as the likely cause;
- an instruction other than ARG before the first FROM;
- a JSON exec form with a typo (single quotes, a trailing comma, a missing quote) that BuildKit
  silently runs as a shell command, with the corrected JSON in the hint;
- missing arguments, FROM with the wrong number of arguments, ENV or LABEL without a value,
  ONBUILD FROM/MAINTAINER/ONBUILD, a heredoc on an instruction that cannot take one, an
  unterminated heredoc, CRLF line endings, empty continuation lines, and MAINTAINER
  (deprecated).

The file-level and heredoc checks are called by :mod:`.parser` as it reads; the others run once
per instruction through :func:`check_instruction`. Parser directives are checked in
:mod:`.directives`.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.build.dockerfile import execform
from dockyard.build.dockerfile.grammar import (
    HEREDOC_KEYWORDS,
    JSON_KEYWORDS,
    KEYWORDS,
    Split,
    find_heredocs,
    split_instruction,
)
from dockyard.build.dockerfile.nodes import Heredoc, Node, Position
from dockyard.build.dockerfile.source import Logical, Reporter, split_words

__all__ = ["Context", "check_instruction"]

# Arguments that are not a shell command: a "#" word there is an argument, not a comment.
_NOT_SHELL = frozenset(
    {"ADD", "ARG", "COPY", "EXPOSE", "MAINTAINER", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}
)
_EXAMPLES = {
    "ADD": "ADD https://example.com/app.tar.gz /opt/",
    "ARG": "ARG VERSION=1.0",
    "COPY": "COPY . /app",
    "ENV": "ENV APP_HOME=/app",
    "EXPOSE": "EXPOSE 8080",
    "FROM": "FROM alpine:3.20",
    "HEALTHCHECK": "HEALTHCHECK CMD curl -f http://localhost/",
    "LABEL": 'LABEL org.opencontainers.image.title="app"',
    "MAINTAINER": 'LABEL org.opencontainers.image.authors="you@example.com"',
    "ONBUILD": "ONBUILD COPY . /app",
    "RUN": "RUN make install",
    "SHELL": 'SHELL ["/bin/bash", "-c"]',
    "STOPSIGNAL": "STOPSIGNAL SIGTERM",
    "USER": "USER app",
    "VOLUME": "VOLUME /data",
    "WORKDIR": "WORKDIR /app",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What the per-instruction checks need: where to report, the instruction's joined text
    (to map offsets to positions) and the escape character."""

    report: Reporter
    logical: Logical
    escape: str

    def at(self, offset: int) -> Position:
        return self.logical.locate(offset)

    def indent(self) -> str:
        """The leading whitespace of the instruction's first line."""
        first = self.report.lines[self.logical.first - 1]
        return first[: len(first) - len(first.lstrip())]

    def move_comment(self, pos: Position) -> str:
        """A hint that shows the line at ``pos`` split into a comment line and the rest."""
        line = self.report.lines[pos.line - 1]
        before, comment = line[: pos.column - 1].rstrip(), line[pos.column - 1 :]
        indent = line[: len(line) - len(line.lstrip())]
        return f"move the comment to a line of its own:\n{indent}{comment}\n{before}"


def check_instruction(ctx: Context, split: Split, previous: Sequence[Node]) -> None:
    """Check one instruction; ``previous`` are the nodes before it.

    Raises:
        DockerfileError: the instruction is wrong (see the module docstring).
    """
    keyword = split.keyword.upper()
    _continuation(ctx, keyword)
    if keyword not in KEYWORDS:
        _unknown(ctx, split, previous)
    if keyword not in ("FROM", "ARG") and all(n.keyword == "ARG" for n in previous):
        ctx.report.fail(
            ctx.at(split.keyword_at),
            f"{keyword} comes before the first FROM: a build stage starts with FROM",
            "add a FROM line above it naming the base image, e.g. FROM alpine:3.20 (or FROM "
            "scratch for an empty one); only ARG instructions may come before the first FROM",
        )
    _check_body(ctx, split, keyword)


def _check_body(ctx: Context, split: Split, keyword: str) -> None:
    """The checks of one instruction's arguments (also run on an ONBUILD trigger)."""
    if not split.args and keyword not in ("CMD", "ENTRYPOINT"):
        ctx.report.fail(
            ctx.at(split.keyword_at),
            f"{keyword} has no arguments",
            f"for example: {_EXAMPLES[keyword]}",
        )
    if keyword == "FROM":
        _from(ctx, split)
    elif keyword in ("ENV", "LABEL"):
        _pairs(ctx, split, keyword)
    elif keyword == "MAINTAINER":
        ctx.report.warn(
            ctx.at(split.keyword_at),
            "MAINTAINER is deprecated",
            "use a label instead:\n"
            f"{ctx.indent()}LABEL org.opencontainers.image.authors={_quote(split.args)}",
        )
    elif keyword == "ONBUILD":
        _onbuild(ctx, split)
    elif keyword == "HEALTHCHECK":
        words = split_words(ctx.logical.text, split.args_at, ctx.escape)
        if len(words) > 1 and words[0][1].upper() == "CMD":
            execform.check(ctx, "HEALTHCHECK", words[1][0])
    if keyword in JSON_KEYWORDS:
        execform.check(ctx, keyword, split.args_at)
    if keyword in _NOT_SHELL and not split.args.startswith("["):
        _comment_word(ctx, split, keyword, first=1, error=False)
    if keyword not in HEREDOC_KEYWORDS and keyword != "ONBUILD":
        _stray_heredoc(ctx, split, keyword)


def _continuation(ctx: Context, keyword: str) -> None:
    logical = ctx.logical
    if logical.empty_line is not None:
        ctx.report.warn(
            Position(line=logical.empty_line, column=1),
            f"empty continuation line in the {keyword} instruction that starts on line "
            f"{logical.first}",
            "remove the blank line (a comment line is fine there); Docker will reject empty "
            "continuation lines in a future release",
        )
    if logical.open_at_eof:
        last = logical.pieces[-1].line
        ctx.report.warn(
            Position(line=last, column=len(ctx.report.lines[last - 1].rstrip())),
            "the file ends inside a line continuation",
            f"remove the {ctx.escape} at the end of line {last}",
        )


def _unknown(ctx: Context, split: Split, previous: Sequence[Node]) -> None:
    written = split.keyword
    first_word = written.split()[0] if written.split() else written
    line = ctx.report.lines[ctx.logical.first - 1]
    if first_word != written and first_word.upper() in KEYWORDS:
        odd = next(ch for ch in written if ch.isspace())
        hint = f"the space after {first_word} is U+{ord(odd):04X}, not a plain space; retype it"
    elif (fix := _forgotten_continuation(ctx, previous)) is not None:
        hint = fix
    elif "=" in written and written.split("=")[0].isidentifier():
        hint = f"to set an environment variable, write:\n{ctx.indent()}ENV {split.keyword}"
    elif match := difflib.get_close_matches(written.upper(), KEYWORDS, n=1, cutoff=0.6):
        fixed = line.replace(written, match[0], 1)
        hint = f"did you mean {match[0]}?\n{fixed}"
    else:
        hint = "the instructions are " + ", ".join(KEYWORDS)
    shown = "".join(f"\\u{ord(ch):04x}" if ch.isspace() else ch for ch in written)
    ctx.report.fail(ctx.at(split.keyword_at), f'unknown instruction "{shown}"', hint)


def _forgotten_continuation(ctx: Context, previous: Sequence[Node]) -> str | None:
    """A hint when the line reads like the rest of the previous instruction."""
    if not previous or previous[-1].heredocs:
        return None
    prev = previous[-1]
    prev_lines = prev.source.split("\n")
    last_no = prev.position.line + len(prev_lines) - 1
    last = prev_lines[-1].rstrip()
    indented = ctx.report.lines[ctx.logical.first - 1][:1].isspace()
    if not (last.endswith(("&&", "||", "|", ",", ";")) or indented):
        return None
    if last_no != ctx.logical.first - 1:
        return None
    return (
        f"this line reads like the rest of the {prev.keyword} instruction above; end line "
        f"{last_no} with {ctx.escape} to continue it:\n{last} {ctx.escape}"
    )


def _from(ctx: Context, split: Split) -> None:
    _comment_word(ctx, split, "FROM", first=1, error=True)
    words = [w for _, w in split_words(ctx.logical.text, split.args_at, ctx.escape)]
    if len(words) == 1 or (len(words) == 3 and words[1].lower() == "as"):
        return
    if len(words) == 2:
        hint = f"to name the stage, write:\n{ctx.indent()}FROM {words[0]} AS {words[1]}"
    else:
        hint = "write FROM <image>, or FROM <image> AS <name> to name the build stage"
    ctx.report.fail(
        ctx.at(split.args_at),
        f"FROM takes an image, optionally followed by AS <name>; got {len(words)} arguments",
        hint,
    )


def _pairs(ctx: Context, split: Split, keyword: str) -> None:
    """ENV and LABEL: ``name=value ...``, or the legacy ``name value`` (one pair)."""
    words = split_words(ctx.logical.text, split.args_at, ctx.escape)
    if "=" not in words[0][1]:
        if len(words) < 2:
            name = words[0][1]
            also = f"; to declare a build argument, use ARG {name}" if keyword == "ENV" else ""
            ctx.report.fail(
                ctx.at(split.args_at),
                f"{keyword} {name} has no value",
                f'write {keyword} {name}=<value> ({name}="" for an empty value){also}',
            )
        _comment_word(ctx, split, keyword, first=2, error=False)
        return
    for index, (offset, word) in enumerate(words):
        if "=" in word:
            continue
        if word.startswith("#"):
            _comment_word(ctx, split, keyword, first=1, error=True)
        prev = words[index - 1][1]
        name, _, value = prev.partition("=")
        ctx.report.fail(
            ctx.at(offset),
            f'{keyword} takes name=value pairs, but "{word}" has no "="',
            f"to give {name} a value with spaces, quote it:\n"
            f"{ctx.indent()}{split.keyword} {name}={_quote(value + ' ' + word)}",
        )


def _onbuild(ctx: Context, split: Split) -> None:
    sub = split_instruction(ctx.logical.text, split.args_at)
    trigger = sub.keyword.upper()
    pos = ctx.at(sub.keyword_at)
    if trigger == "ONBUILD":
        ctx.report.fail(
            pos,
            "ONBUILD ONBUILD is not allowed: triggers cannot be chained",
            "a trigger runs once, in the build of the image that uses this one as its base; "
            "write the instruction after a single ONBUILD",
        )
    if trigger in ("FROM", "MAINTAINER"):
        instead = (
            "the image that builds FROM this one chooses its own base; remove the line"
            if trigger == "FROM"
            else "use LABEL org.opencontainers.image.authors=... without ONBUILD"
        )
        ctx.report.fail(pos, f"{trigger} cannot be an ONBUILD trigger", instead)
    if trigger not in KEYWORDS:
        _unknown(ctx, sub, ())
    _check_body(ctx, sub, trigger)


def _comment_word(ctx: Context, split: Split, keyword: str, *, first: int, error: bool) -> None:
    """Report a word starting with ``#`` at or after word ``first`` of the arguments."""
    words = split_words(ctx.logical.text, split.args_at, ctx.escape)
    offset = next((at for at, word in words[first:] if word.startswith("#")), None)
    if offset is None:
        return
    pos = ctx.at(offset)
    hint = ctx.move_comment(pos)
    if error:
        ctx.report.fail(pos, "Dockerfile comments must stand on their own line", hint)
    rest = ctx.logical.text[offset : split.args_at + len(split.args)]
    ctx.report.warn(
        pos,
        f'Dockerfile comments must stand on their own line: "{rest}" is part of the '
        f"{keyword} arguments",
        hint,
    )


def _stray_heredoc(ctx: Context, split: Split, keyword: str) -> None:
    """A ``<<NAME`` on an instruction that takes no heredoc, with NAME alone on a later line."""
    later = ctx.report.lines[ctx.logical.last :]
    for offset, heredoc in find_heredocs(ctx.logical.text, split.args_at):
        if any((ln.lstrip("\t") if heredoc.chomp else ln) == heredoc.name for ln in later):
            ctx.report.fail(
                ctx.at(offset),
                f"{keyword} does not take a heredoc: only RUN, COPY and ADD do",
                f"the lines below would be read as instructions; write the text to a file with "
                f"COPY <<{heredoc.name} /path/to/file (or use RUN <<{heredoc.name}) instead",
            )


def unterminated_heredoc(report: Reporter, pos: Position, heredoc: Heredoc, start: int) -> None:
    """Raise for a heredoc whose terminator line never comes (body from line index ``start``).

    Raises:
        DockerfileError: always.
    """
    name = heredoc.name
    hint = f"add a line holding exactly {name} after the heredoc's content"
    for number, line in enumerate(report.lines[start:], start + 1):
        if line.strip() == name:
            hint = (
                f'line {number} reads "{line}", but the terminator must be exactly "{name}" '
                "with nothing else on the line"
            )
            if line[:1].isspace() and not heredoc.chomp:
                hint += f" (to indent it, open with <<-{name} and indent with tabs)"
            break
    report.fail(pos, f'heredoc "{name}" is not terminated: no line holds just {name}', hint)


def no_instructions(report: Reporter) -> None:
    """Raise for a file without instructions.

    Raises:
        DockerfileError: always.
    """
    report.fail(
        Position(line=1, column=1),
        "the Dockerfile has no instructions",
        "a Dockerfile starts with FROM <image>, e.g. FROM alpine:3.20",
    )


def crlf(report: Reporter, lines: list[int]) -> None:
    """Warn about CRLF line endings (they are read as plain newlines)."""
    count = f"{len(lines)} lines end" if len(lines) > 1 else "1 line ends"
    report.warn(
        Position(line=lines[0], column=len(report.lines[lines[0] - 1]) + 1),
        f"Windows (CRLF) line endings: {count} with \\r\\n, read as plain newlines",
        "save the file with LF line endings (e.g. dos2unix Dockerfile); other tools may keep "
        "the \\r in commands and file names",
    )


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
