"""Go's printed forms of values for docker's ``--format`` templates.

Owns how template values read as text: Go's ``%v`` (:func:`show`), truth, type names in error
messages, ``strconv.FormatFloat`` and encoding/json's float form (:func:`go_float`) and the
missing value (``<no value>``); ``strconv.Quote`` and the tabwriter of docker's ``table``
formats are in :mod:`dockyard._util.gotext`.
"""

from __future__ import annotations

import dataclasses
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
# Go's literal form of floats: strconv.FormatFloat


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
