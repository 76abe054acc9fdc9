"""docker's template functions: the function table, ``printf`` and the ``json`` encoder.

Owns the functions a ``--format`` template may call: docker's ``json split join title lower
upper pad truncate`` on top of Go's ``index slice len print printf println eq ne lt le gt ge and
or not`` (:data:`FUNCS`), docker's header variants that pass column headers through
(:data:`HEADER_FUNCS`), Go's ``fmt.Sprintf`` (:func:`sprintf`) and Go's JSON encoding (compact,
no HTML escaping; a Mapping keeps its order, an object encodes through ``to_docker()``,
``to_json()`` or its dataclass fields).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from dockyard._util.gotext import go_quote
from dockyard.cli.template_text import MISSING, go_float, go_type, show, truth


class ArgError(Exception):
    """A function got an argument of the wrong type (reported without "error calling")."""


@dataclass(frozen=True, slots=True)
class Fn:
    """A template function: its implementation and how many arguments it takes."""

    call: Callable[..., object]
    min_args: int
    max_args: int | None


# ---------------------------------------------------------------------------------------------
# json


def _json(value: object) -> str:
    """docker's ``json``: Go's encoder, compact, without HTML escaping ("" if unencodable)."""
    try:
        return _encode(value)
    except (ValueError, RecursionError):  # NaN, infinities, cycles: Go's encoder fails too
        return ""


def _encode(value: object) -> str:
    if value is None or value is MISSING:
        return "null"
    if isinstance(value, str):
        text = json.dumps(str(value), ensure_ascii=False)
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"json: unsupported value: {go_float(value, 'g')}")
        return go_float(value, "json")
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_encode(show(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(map(_encode, value)) + "]"
    if isinstance(value, Enum):
        return _encode(value.value)
    for method in ("to_docker", "to_json"):
        convert = getattr(value, method, None)
        if callable(convert):
            return _encode(convert())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    return _encode(str(value))


# ---------------------------------------------------------------------------------------------
# Functions


def _str(value: object, what: str = "string") -> str:
    if isinstance(value, str):
        return value
    if value is None:
        raise ArgError(f"invalid value; expected {what}")
    raise ArgError(f"wrong type for value; expected {what}; got {go_type(value)}")


def _int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ArgError(f"wrong type for value; expected int; got {go_type(value)}")


def _index(item: object, *indices: object) -> object:
    """Go's ``index``: ``index .Labels "k"``, ``index .List 0 1``."""
    for key in indices:
        if item is None or item is MISSING:
            raise ValueError("index of untyped nil")
        if isinstance(item, Mapping):
            if key in item:
                item = item[key]
            else:  # Go returns the map's zero value: "" for map[string]string
                item = "" if all(isinstance(v, str) for v in item.values()) else MISSING
        elif isinstance(item, list | tuple | str | bytes):
            seq = item.encode() if isinstance(item, str) else item
            if not isinstance(key, int) or isinstance(key, bool):
                raise ValueError(f"cannot index slice/array with type {go_type(key)}")
            if not 0 <= key < len(seq):
                raise ValueError(f"index out of range: {key}")
            item = seq[key]
        else:
            raise ValueError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: object, *indices: object) -> object:
    """Go's ``slice``: ``slice x 1 2`` is ``x[1:2]`` (strings by bytes, as in Go)."""
    if isinstance(item, str):
        if len(indices) > 2:
            raise ValueError("cannot 3-index slice a string")
        seq: bytes | Sequence[object] = item.encode()
    elif isinstance(item, list | tuple):
        seq = item
    else:
        raise ValueError(f"can't slice item of type {go_type(item)}")
    bounds = [_int(i) for i in indices]
    start = bounds[0] if bounds else 0
    stop = bounds[1] if len(bounds) > 1 else len(seq)
    cap = bounds[2] if len(bounds) > 2 else len(seq)
    if not 0 <= start <= stop <= cap <= len(seq):
        raise ValueError(f"invalid slice indices: {' '.join(map(str, bounds))}")
    part = seq[start:stop]
    return part.decode(errors="replace") if isinstance(part, bytes) else list(part)


def _len(item: object) -> int:
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, bytes | list | tuple | Mapping):
        return len(item)
    raise ValueError(f"len of type {go_type(item)}")


def _split(text: object, sep: object) -> list[str]:
    text, sep = _str(text), _str(sep)
    return list(text) if sep == "" else text.split(sep)


def _join(items: object, sep: object) -> str:
    if not isinstance(items, list | tuple):
        raise ArgError(f"wrong type for value; expected []string; got {go_type(items)}")
    return _str(sep).join(map(show, items))


def _title(text: object) -> str:
    """Go's deprecated ``strings.Title``: upper-case letters that start words; keep the rest."""
    out, prev = [], " "
    for ch in _str(text):
        boundary = not (prev.isalnum() or prev == "_") if prev.isascii() else prev.isspace()
        upper = ch.upper()
        out.append(upper if boundary and len(upper) == 1 else ch)
        prev = ch
    return "".join(out)


def _pad(text: object, left: object, right: object) -> str:
    text = _str(text)
    return f"{' ' * _int(left)}{text}{' ' * _int(right)}" if text else text


def _truncate(text: object, length: object) -> str:
    """docker's ``truncate``: the first *length* characters."""
    return _str(text)[: max(_int(length), 0)]


def _sprint(*args: object) -> str:
    """Go's ``fmt.Sprint``: a space between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(show(arg))
    return "".join(out)


def _sprintln(*args: object) -> str:
    return " ".join(map(show, args)) + "\n"


_KINDS = {bool: "bool", int: "int", float: "float", str: "string", type(None): "nil"}


def _kind(value: object) -> str:
    for cls, kind in _KINDS.items():
        if isinstance(value, cls):
            return kind
    return "other"


def _equal(a: object, b: object) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        return a == b
    if a is None or b is None:
        return False
    raise ValueError("incompatible types for comparison")


def _eq(a: object, *others: object) -> bool:
    """Go's ``eq``: true when *a* equals any of *others*."""
    return any(_equal(a, b) for b in others)


def _less(a: object, b: object) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka not in ("int", "float", "string") or kb not in ("int", "float", "string"):
        raise ValueError("invalid type for comparison")
    if ka != kb:
        raise ValueError("incompatible types for comparison")
    return bool(a < b)  # type: ignore[operator]


def _fn(call: Callable[..., object], min_args: int, max_args: int | None = None) -> Fn:
    return Fn(call, min_args, min_args if max_args is None else max_args)


FUNCS: dict[str, Fn] = {
    "json": _fn(_json, 1),
    "split": _fn(_split, 2),
    "join": _fn(_join, 2),
    "title": _fn(_title, 1),
    "lower": _fn(lambda s: _str(s).lower(), 1),
    "upper": _fn(lambda s: _str(s).upper(), 1),
    "pad": _fn(_pad, 3),
    "truncate": _fn(_truncate, 2),
    "index": Fn(_index, 1, None),
    "slice": _fn(_slice, 1, 4),
    "len": _fn(_len, 1),
    "print": Fn(_sprint, 0, None),
    "println": Fn(_sprintln, 0, None),
    "printf": Fn(lambda f, *a: sprintf(_str(f), *a), 1, None),
    "not": _fn(lambda v: not truth(v), 1),
    "and": Fn(lambda *a: a[-1], 1, None),  # evaluated lazily by template._Exec.logic
    "or": Fn(lambda *a: a[-1], 1, None),
    "eq": Fn(_eq, 2, None),
    "ne": _fn(lambda a, b: not _equal(a, b), 2),
    "lt": _fn(_less, 2),
    "le": _fn(lambda a, b: _less(a, b) or _equal(a, b), 2),
    "gt": _fn(lambda a, b: not (_less(a, b) or _equal(a, b)), 2),
    "ge": _fn(lambda a, b: not _less(a, b), 2),
}
# docker's HeaderFunctions: keep the header text intact (pad still pads, to stay aligned).
HEADER_FUNCS: dict[str, Fn] = {
    **FUNCS,
    **{name: _fn(lambda v: v, 1) for name in ("json", "title", "lower", "upper")},
    **{name: _fn(lambda v, _: v, 2) for name in ("split", "join", "truncate")},
}


# ---------------------------------------------------------------------------------------------
# printf

_VERB = re.compile(r"%([-+ 0]*)(\d*)(?:\.(\d*))?(.?)", re.S)


def sprintf(template: str, *args: object) -> str:
    """Go's ``fmt.Sprintf`` for verbs ``v s d q t x X e f g %``, flags ``-+ 0``, width, prec."""
    out: list[str] = []
    pending, pos = list(args), 0
    while (start := template.find("%", pos)) >= 0:
        out.append(template[pos:start])
        m = _VERB.match(template, start)
        assert m is not None  # the pattern matches any "%"
        flags, width, prec, verb = m.groups()
        pos = m.end()
        if verb == "%" or not verb:
            out.append("%" if verb else "%!(NOVERB)")
        elif not pending:
            out.append(f"%!{verb}(MISSING)")
        else:
            text = _format_verb(verb, flags, prec, pending.pop(0))
            out.append(_fill(text, flags, int(width or 0), verb in "dxXeEfFgG"))
    out.append(template[pos:])
    if pending:
        out.append(f"%!(EXTRA {', '.join(f'{go_type(a)}={show(a)}' for a in pending)})")
    return "".join(out)


def _fill(text: str, flags: str, width: int, numeric: bool) -> str:
    if len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    if "0" in flags and numeric:
        sign = text[:1] if text[:1] in "+-" else ""
        return sign + text[len(sign) :].rjust(width - len(sign), "0")
    return text.rjust(width)


def _format_verb(verb: str, flags: str, prec: str | None, arg: object) -> str:
    """One operand; a verb that does not fit the operand gives Go's ``%!d(string=x)``."""
    p = None if prec is None else int(prec or 0)
    plus = "+" if "+" in flags else (" " if " " in flags else "")
    if isinstance(arg, bool) and verb in "vt":
        return "true" if arg else "false"
    if isinstance(arg, int) and not isinstance(arg, bool) and verb in "vdxX":
        digits = format(abs(arg), "d" if verb == "v" else verb).zfill(p or 0)
        return ("-" if arg < 0 else plus) + digits
    if isinstance(arg, float) and verb in "veEfFgG":
        if verb in "vgG" and p is None:
            text = go_float(arg, "g")
        else:
            text = format(arg, f".{6 if p is None else p}{'f' if verb == 'F' else verb}")
        return plus + text if plus and not text.startswith("-") else text
    if isinstance(arg, str) and verb in "vsqxX":
        if verb in "xX":
            hexed = arg.encode().hex()
            return hexed.upper() if verb == "X" else hexed
        return go_quote(arg) if verb == "q" else arg[:p]
    if verb in "vs" and (verb == "v" or not isinstance(arg, int | float | type(None))):
        return show(arg)
    return f"%!{verb}({'<nil>' if arg is None else f'{go_type(arg)}={show(arg)}'})"
