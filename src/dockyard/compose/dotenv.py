"""``.env``, ``--env-file`` and a service's ``env_file``: ``KEY=VALUE`` lines, as docker compose
reads them.

A line is ``[export ]KEY=VALUE``; ``#`` starts a comment at the start of a line or, in an
unquoted value, after a blank. Single quotes keep the value literally; double quotes process
``\\n``, ``\\t``, ``\\\\`` and ``\\"`` and may span lines. Unquoted and double-quoted values
are interpolated (``${VAR}``) with the variables defined so far and the given environment. A
bare ``KEY`` takes its value from the environment (and is dropped when it is unset there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from dockyard.compose.diagnostics import ComposeError, Where
from dockyard.compose.interpolation import substitute

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$$"}


def read_env_file(
    path: Path, environ: Mapping[str, str], *, interpolate: bool = True
) -> dict[str, str]:
    """The variables of the file at ``path``.

    Args:
        environ: what ``${VAR}`` and bare keys are looked up in (after the file's own).

    Raises:
        ComposeError: the file cannot be read, or a line is malformed.
    """
    try:
        text = path.read_text()
    except OSError as err:
        raise ComposeError(
            f"env file {path}: {err.strerror}", hint="create it, or fix the path"
        ) from None
    return parse_env(text, str(path), environ, interpolate=interpolate)


def parse_env(
    text: str, name: str, environ: Mapping[str, str], *, interpolate: bool = True
) -> dict[str, str]:
    """The variables of ``text`` (see the module docstring); ``name`` is for errors.

    Raises:
        ComposeError: a malformed line (its number is named).
    """
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno, line = i + 1, lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, sep, rest = line.partition("=")
        key = key.strip()
        if not _KEY.fullmatch(key):
            raise ComposeError(
                f"{name}: line {lineno}: invalid variable name {key!r}", hint="write KEY=VALUE"
            )
        if not sep:
            if key in environ:
                out[key] = environ[key]
            continue
        rest = rest.lstrip()
        if rest[:1] == '"':
            while not _closed(rest[1:]) and i < len(lines):
                rest += "\n" + lines[i]
                i += 1
            value, ok = _double(rest[1:])
            literal = False
        elif rest[:1] == "'":
            value = rest[1:].partition("'")[0]
            ok, literal = "'" in rest[1:], True
        else:
            value, ok, literal = re.split(r"\s+#", rest, maxsplit=1)[0].rstrip(), True, False
        if not ok:
            raise ComposeError(f"{name}: line {lineno}: unterminated quoted value for {key}")
        if interpolate and not literal:
            scope = {**environ, **out}
            value = substitute(value, scope, Where(name, key), _ignore)
        out[key] = value
    return out


def _closed(body: str) -> bool:
    escaped = False
    for ch in body:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            return True
    return False


def _double(body: str) -> tuple[str, bool]:
    """A double-quoted value's text up to the closing quote, escapes processed (``$`` kept for
    interpolation, ``\\$`` made a literal ``$$``)."""
    out: list[str] = []
    escaped = False
    for ch in body:
        if escaped:
            out.append(_ESCAPES.get(ch, "\\" + ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            return "".join(out), True
        else:
            out.append(ch)
    return "".join(out), False


_ignore: Callable[[str], None] = lambda _message: None  # noqa: E731
