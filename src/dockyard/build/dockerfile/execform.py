"""Checks of the JSON exec form (``CMD ["npm", "start"]``).

BuildKit reads arguments that start with ``[`` as JSON when they decode, and otherwise as the
shell form, without a word: ``CMD ['npm', 'start']`` runs ``/bin/sh -c "['npm', 'start']"``.
These checks warn about such typos and show the corrected JSON, reject arrays of non-strings
(as BuildKit does), warn about text after the array (Go's JSON decoder ignores it) and require
the JSON form for SHELL.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from dockyard.build.dockerfile.grammar import decode_json_array, dequote
from dockyard.build.dockerfile.source import split_words

if TYPE_CHECKING:
    from dockyard.build.dockerfile.checks import Context

__all__ = ["check"]

_RUNS_SHELL = frozenset({"CMD", "ENTRYPOINT", "HEALTHCHECK", "RUN"})
_TYPOGRAPHIC = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})
_TRAILING_COMMA = re.compile(r",\s*\]\s*\Z")


def check(ctx: Context, keyword: str, at: int) -> None:
    """Check the arguments of ``keyword`` that start at offset ``at`` of the logical text.

    Raises:
        DockerfileError: a JSON array holds a non-string, or SHELL is not in JSON form.
    """
    text = ctx.logical.text
    args = text[at : len(text.rstrip())]
    if not args.startswith("["):
        if keyword == "SHELL":
            words = [dequote(w)[0] for _, w in split_words(text, at, ctx.escape)]
            ctx.report.fail(
                ctx.at(at),
                "SHELL takes a JSON array: the shell and its options",
                f"write it in JSON form:\n{_corrected(ctx, at, words)}",
            )
        return
    decoded = decode_json_array(args)
    if decoded is not None:
        _valid(ctx, keyword, at, args, decoded)
        return
    if keyword in _RUNS_SHELL and not _looks_like_json(args):
        return  # e.g. RUN [ -f /etc/os-release ] && ..., the shell's test command
    reason = _reason(ctx, at, args)
    items = _items(args)
    if items:
        hint = f"write it as a JSON array of double-quoted strings:\n{_corrected(ctx, at, items)}"
    else:
        hint = f'write it as a JSON array of double-quoted strings, e.g. {keyword} ["app", "-v"]'
    message = f"{keyword} arguments are not a valid JSON array ({reason})"
    if keyword == "SHELL":
        ctx.report.fail(ctx.at(at), message, hint)
    if keyword in _RUNS_SHELL:
        message += ", so they run as a shell command through /bin/sh -c"
    else:
        message += ", so they are read as paths separated by spaces"
    ctx.report.warn(ctx.at(at), message, hint)


def _valid(
    ctx: Context, keyword: str, at: int, args: str, decoded: tuple[list[object], int]
) -> None:
    values, stop = decoded
    if not all(isinstance(v, str) for v in values):
        bad = next(v for v in values if not isinstance(v, str))
        fixed = [v if isinstance(v, str) else json.dumps(v) for v in values]
        ctx.report.fail(
            ctx.at(at),
            f"the JSON form of {keyword} takes only strings, not {json.dumps(bad)}",
            f"quote every element:\n{_corrected(ctx, at, fixed)}",
        )
    trailing = args[stop:]
    if not trailing.strip():
        return
    pos = ctx.at(at + stop + len(trailing) - len(trailing.lstrip()))
    if trailing.lstrip().startswith("#"):
        ctx.report.warn(
            pos,
            "Dockerfile comments must stand on their own line: text after the JSON array is "
            "ignored",
            ctx.move_comment(pos),
        )
    else:
        ctx.report.warn(
            pos,
            f'text after the JSON array is ignored: "{trailing.strip()}"',
            "remove it, or make it another string inside the array",
        )


def _looks_like_json(args: str) -> bool:
    """Whether ``args`` reads as an attempt at a JSON array rather than the shell's ``[``."""
    if args.startswith("[["):
        return False
    if len(args) > 1 and not args[1].isspace():
        return True
    return re.match(r"\[\s+[\"'“‘]", args) is not None and "," in args


def _reason(ctx: Context, at: int, args: str) -> str:
    if args != args.translate(_TYPOGRAPHIC):
        return "typographic quotes are not JSON quotes"
    if "'" in args and '"' not in args:
        return "JSON strings take double quotes"
    if _TRAILING_COMMA.search(args):
        return "trailing comma"
    try:
        json.JSONDecoder().raw_decode(args)
    except json.JSONDecodeError as err:
        column = ctx.at(at + err.pos).column
        where = "column" if err.msg.endswith(" at") else "at column"
        return f"{err.msg[:1].lower()}{err.msg[1:]} {where} {column}"
    return "not an array"  # pragma: no cover (decoded arrays do not come here)


def _items(args: str) -> list[str]:
    """The strings the author most likely meant, from a broken JSON array."""
    text = args.translate(_TYPOGRAPHIC)
    close = text.rfind("]")
    inner = text[1:close] if close > 0 else text[1:]
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    for ch in inner:
        if quote and ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote = ch
        elif not quote and ch == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    items = [_unquote(p.strip()) for p in parts]
    if any(q in item for item in items for q in "'\""):
        items = [p.strip().strip("'\"") for p in inner.split(",")]
    return [item for item in items if item]


def _unquote(item: str) -> str:
    if len(item) >= 2 and item[0] == item[-1] and item[0] in "'\"":
        return item[1:-1]
    return item.strip("'\"")


def _corrected(ctx: Context, at: int, items: list[str]) -> str:
    """The instruction with the arguments at ``at`` replaced by ``items`` as JSON."""
    return ctx.indent() + ctx.logical.text[:at] + json.dumps(items, ensure_ascii=False)
