"""Variable substitution in compose files (the compose specification's interpolation).

Forms: ``$VAR`` and ``${VAR}``; ``${VAR:-default}`` (unset or empty) and ``${VAR-default}``
(unset); ``${VAR:?message}`` and ``${VAR?message}`` (an error); ``${VAR:+replacement}`` and
``${VAR+replacement}``; ``$$`` is a literal ``$``. Defaults and replacements may themselves
hold substitutions (``${A:-${B}}``). An unset variable without a default is the empty string,
with a warning, as in docker compose. Keys are never substituted, values always are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dockyard.compose.diagnostics import Where, invalid
from dockyard.compose.yamlfile import Override

_NAME_START = "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NAME_CHARS = _NAME_START + "0123456789"
_HINT = "you may need to escape any $ with another $"


class _Syntax(Exception):
    """Malformed substitution (turned into a ComposeError naming the path)."""


def interpolate_tree(
    value: object, env: Mapping[str, str], where: Where, warn: Callable[[str], None]
) -> object:
    """``value`` (a loaded YAML document or part of one) with every string substituted.

    Raises:
        ComposeError: malformed syntax, or a ``${VAR:?message}`` whose variable is unset.
    """
    if isinstance(value, str):
        return substitute(value, env, where, warn)
    if isinstance(value, dict):
        return {k: interpolate_tree(v, env, where.key(k), warn) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_tree(v, env, where.index(i), warn) for i, v in enumerate(value)]
    if isinstance(value, Override):
        return Override(interpolate_tree(value.value, env, where, warn))
    return value


def substitute(text: str, env: Mapping[str, str], where: Where, warn: Callable[[str], None]) -> str:
    """One string with its variables substituted (see the module docstring).

    Raises:
        ComposeError: as :func:`interpolate_tree`.
    """
    if "$" not in text:
        return text
    try:
        out, end = _scan(text, 0, env, warn, where, stop="")
    except _Syntax as err:
        raise invalid(
            where, f'invalid interpolation format for "{text}": {err}', hint=_HINT
        ) from None
    assert end == len(text)
    return out


def _scan(
    text: str,
    pos: int,
    env: Mapping[str, str],
    warn: Callable[[str], None],
    where: Where,
    stop: str,
) -> tuple[str, int]:
    """Substitute from ``pos`` until ``stop`` (``}`` inside a default) or the end."""
    out: list[str] = []
    while pos < len(text):
        ch = text[pos]
        if stop and ch == stop:
            return "".join(out), pos
        if ch != "$":
            out.append(ch)
            pos += 1
            continue
        nxt = text[pos + 1 : pos + 2]
        if nxt == "$":
            out.append("$")
            pos += 2
        elif nxt == "{":
            value, pos = _braced(text, pos + 2, env, warn, where)
            out.append(value)
        elif nxt and nxt in _NAME_START:
            end = pos + 1
            while end < len(text) and text[end] in _NAME_CHARS:
                end += 1
            out.append(_lookup(text[pos + 1 : end], env, warn))
            pos = end
        else:
            out.append("$")  # a lone $ (docker compose keeps it)
            pos += 1
    if stop:
        raise _Syntax("missing closing brace")
    return "".join(out), pos


def _braced(
    text: str, pos: int, env: Mapping[str, str], warn: Callable[[str], None], where: Where
) -> tuple[str, int]:
    """``${…}`` from just after the brace; (value, position after the closing brace)."""
    end = pos
    while end < len(text) and text[end] in _NAME_CHARS:
        end += 1
    name = text[pos:end]
    if not name or name[0] not in _NAME_START:
        raise _Syntax("a variable name must start with a letter or _")
    if end >= len(text):
        raise _Syntax("missing closing brace")
    if text[end] == "}":
        return _lookup(name, env, warn), end + 1
    op = text[end : end + 2] if text[end] == ":" else text[end]
    if op not in (":-", "-", ":?", "?", ":+", "+"):
        raise _Syntax(f"unexpected {text[end]!r} after ${{{name}")
    arg, close = _scan(text, end + len(op), env, warn, where, stop="}")
    value = env.get(name)
    empty_counts = op.startswith(":")
    missing = value is None or (empty_counts and value == "")
    kind = op[-1]
    if kind == "-":
        return (arg if missing else str(value)), close + 1
    if kind == "+":
        return ("" if missing else arg), close + 1
    if missing:
        detail = arg or f"variable {name} is {'unset or empty' if empty_counts else 'unset'}"
        raise invalid(
            where,
            f"required variable {name} is missing a value: {detail}",
            hint=f"set {name} in the environment or in the .env file",
        )
    return str(value), close + 1


def _lookup(name: str, env: Mapping[str, str], warn: Callable[[str], None]) -> str:
    value = env.get(name)
    if value is None:
        warn(f'The "{name}" variable is not set. Defaulting to a blank string.')
        return ""
    return value
