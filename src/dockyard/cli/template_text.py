"""Go's printed forms of values for docker's ``--format`` templates, and docker's tabwriter.

Owns how template values read as text: Go's ``%v`` (:func:`show`), truth, type names in error
messages, ``strconv.Quote`` (:func:`go_quote`), ``strconv.FormatFloat`` and encoding/json's
float form (:func:`go_float`), the missing value (``<no value>``), and the column alignment of
docker's ``table`` formats (:func:`tabwrite`, Go's ``text/tabwriter``).
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Mapping
from enum import Enum


class Missing:
    """Go's invalid value: what a missing map key evaluates to."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = Missing()


# ---------------------------------------------------------------------------------------------
# Values as Go prints them


def truth(value: object) -> bool:
    """Go's truth: zero values, empty collections, nil and missing are false; structs true."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, str | bytes | int | float | Mapping | list | tuple):
        return bool(value)
    return True


def show(value: object) -> str:
    """Go's ``%v``: ``[a b]``, ``map[k:v]`` (sorted keys), ``{f1 f2}``, ``<nil>``."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return go_float(value, "g")
    if value is None:
        return "<nil>"
    if isinstance(value, Missing):
        return "<no value>"
    if isinstance(value, Mapping):
        pairs = (f"{show(k)}:{show(value[k])}" for k in sorted_keys(value))
        return f"map[{' '.join(pairs)}]"
    if isinstance(value, list | tuple):
        return f"[{' '.join(map(show, value))}]"
    if isinstance(value, bytes):
        return f"[{' '.join(map(str, value))}]"
    if isinstance(value, Enum):
        return show(value.value)
    if dataclasses.is_dataclass(value) and type(value).__str__ is object.__str__:
        fields = (show(getattr(value, f.name)) for f in dataclasses.fields(value))
        return f"{{{' '.join(fields)}}}"
    return str(value)


def sorted_keys(mapping: Mapping[object, object]) -> list[object]:
    try:
        return sorted(mapping)  # type: ignore[type-var]
    except TypeError:
        return sorted(mapping, key=lambda k: (type(k).__name__, show(k)))


def go_type(value: object) -> str:
    names = {str: "string", bool: "bool", int: "int", float: "float64", type(None): "<nil>"}
    if type(value) in names:
        return names[type(value)]
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    return type(value).__name__


# ---------------------------------------------------------------------------------------------
# Go's literal forms: strconv.Quote and FormatFloat


_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
_QUOTE_ESCAPES |= {"\t": "\\t", "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            letter, width = ("x", 2) if code < 0x80 else ("u", 4) if code <= 0xFFFF else ("U", 8)
            out.append(f"\\{letter}{code:0{width}x}")
    return '"' + "".join(out) + '"'


def _digits(value: float) -> tuple[str, int]:
    """Shortest round-trip digits of abs(*value*) and the exponent: 0.DIGITS x 10**exp."""
    mantissa, _, exp = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + int(exp or 0) - (len(whole + frac) - len(digits))
    return digits.rstrip("0") or "0", point


def go_float(value: float, style: str) -> str:
    """strconv.FormatFloat(v, 'g', -1) for ``%v``, or encoding/json's choice for ``json``."""
    if value != value or value in (float("inf"), float("-inf")):
        return "NaN" if value != value else ("+Inf" if value > 0 else "-Inf")
    digits, point = _digits(value)
    sign = "-" if str(value).startswith("-") else ""
    if value == 0:
        return sign + "0"
    exp = point - 1
    if not 1e-6 <= abs(value) < 1e21 if style == "json" else exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        tail = f"e{'-' if exp < 0 else '+'}{abs(exp):02d}"
        if style == "json" and exp < 0:
            tail = f"e-{abs(exp)}"
        return sign + mant + tail
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


# ---------------------------------------------------------------------------------------------
# Tables


def _cell_width(text: str) -> int:
    """Terminal columns of *text* (wide East Asian characters count 2, combining marks 0)."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def tabwrite(text: str, *, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-terminated cells like docker's ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)``.

    A column is a run of consecutive lines that have a tab-terminated cell at that index; its
    width is the widest cell plus *padding*, at least *minwidth*. The text after a line's last
    tab is not part of any column and is not padded.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    out = [""] * len(lines)
    _format_columns(lines, [], 0, len(lines), out, (minwidth, padding))
    return "\n".join(out)


def _format_columns(
    lines: list[list[str]],
    widths: list[int],
    line0: int,
    line1: int,
    out: list[str],
    sizes: tuple[int, int],
) -> None:
    """Go's ``Writer.format``: lay out column ``len(widths)`` block by block, recursively."""
    column, this = len(widths), line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write_lines(lines, widths, line0, this, out)
        line0, width = this, sizes[0]
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, _cell_width(lines[this][column]) + sizes[1])
            this += 1
        _format_columns(lines, [*widths, width], line0, this, out, sizes)
        line0 = this
    _write_lines(lines, widths, line0, line1, out)


def _write_lines(
    lines: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str]
) -> None:
    for i in range(line0, line1):
        cells = lines[i]
        out[i] = "".join(
            cell + " " * (widths[j] - _cell_width(cell)) if j < len(widths) else cell
            for j, cell in enumerate(cells)
        )
