"""A small strict schema language for compose files, and the validation that normalises.

A schema is a tree of nodes (:class:`Scalar`, :class:`ListOf`, :class:`MapOf`, :class:`Obj`,
:class:`OneOf`, :class:`ListOrMap`, :class:`NotSupported`). ``node.convert(value, where, ctx)``
checks ``value`` and returns it normalised: scalars coerced the way docker compose coerces
interpolated strings (``"true"`` for a boolean, ``"3"`` for an integer), short syntaxes turned
into their long form by the ``post`` functions of :mod:`.syntax`. Errors name the file and the
path (``services.web.ports[1]``); unknown keys get a did-you-mean; keys of the specification
dockyard does not implement raise :class:`~.diagnostics.ComposeUnsupported`, never silence.
Mapping keys starting with ``x-`` are extensions, kept as they are.

``!reset`` values pass through untouched and ``!override`` ones are converted inside their
wrapper: :mod:`.merge` gives them their meaning.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard._util.numbers import is_uint
from dockyard.compose.diagnostics import Where, invalid, unknown_key, unsupported
from dockyard.compose.yamlfile import Override, Reset


@dataclass(frozen=True, slots=True, kw_only=True)
class Ctx:
    """What conversions need besides the value: the directory relative paths start from, the
    variables (for ``environment: [KEY]`` and ``env_file``) and where warnings go."""

    base_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    warn: Callable[[str], None] = lambda _message: None


Post = Callable[[Any, Where, Ctx], Any]

_TRUE = ("true", "yes", "on", "1", "y")
_FALSE = ("false", "no", "off", "0", "n")


class Node(ABC):
    """A schema node; ``label`` names what it wants in type errors (``a list``)."""

    label = "a value"
    category = "scalar"  # "scalar", "list" or "map": what OneOf dispatches on

    @abstractmethod
    def convert(self, value: Any, where: Where, ctx: Ctx) -> Any:
        """``value`` checked and converted; errors name ``where``."""


@dataclass(frozen=True, slots=True)
class Scalar(Node):
    """``kind``: str, int, bool, num (int or float), strnum (any scalar as a string), any."""

    kind: str
    post: Post | None = None
    choices: tuple[str, ...] = ()

    @property
    def label(self) -> str:  # type: ignore[override]
        return {
            "str": "a string",
            "int": "an integer",
            "bool": "a boolean",
            "num": "a number",
            "strnum": "a string or a number",
            "any": "a value",
        }[self.kind]

    def convert(self, value: Any, where: Where, ctx: Ctx) -> Any:
        out = _coerce(self.kind, value)
        if out is _BAD:
            raise invalid(where, f"must be {self.label}, not {_describe(value)}")
        if self.choices and out not in self.choices:
            raise invalid(
                where, f"invalid value {out!r}", hint="use one of: " + ", ".join(self.choices)
            )
        return self.post(out, where, ctx) if self.post else out


_BAD = object()


def _coerce(kind: str, value: Any) -> Any:
    if kind == "any":
        return value
    if isinstance(value, (dict, list)) or value is None:
        return _BAD
    if kind == "str":
        return value if isinstance(value, str) else _BAD
    if kind == "strnum":
        return str(value).lower() if isinstance(value, bool) else str(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        return True if text in _TRUE else False if text in _FALSE else _BAD
    if isinstance(value, bool):
        return _BAD
    if kind == "int":
        if isinstance(value, int):
            return value
        text = str(value)
        return int(text) if is_uint(text.lstrip("-")) else _BAD
    try:
        number = float(value) if not isinstance(value, int) else value
    except ValueError:
        return _BAD
    return int(number) if isinstance(number, float) and number.is_integer() else number


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    kind = {"str": "string", "int": "integer", "float": "number"}.get(type(value).__name__, "")
    return f"{kind or type(value).__name__} {value!r}"


@dataclass(frozen=True, slots=True)
class ListOf(Node):
    """A sequence of ``item``; ``single`` also takes one scalar item alone (``dns: 1.1.1.1``)."""

    item: Node
    single: bool = False
    post: Post | None = None
    label = "a list"
    category = "list"

    def convert(self, value: Any, where: Where, ctx: Ctx) -> Any:
        if self.single and not isinstance(value, (list, dict)) and value is not None:
            value = [value]
        if not isinstance(value, list):
            raise invalid(where, f"must be a list, not {_describe(value)}")
        out = [self.item.convert(v, where.index(i), ctx) for i, v in enumerate(value)]
        return self.post(out, where, ctx) if self.post else out


@dataclass(frozen=True, slots=True)
class MapOf(Node):
    """A mapping of free keys (checked by ``key``, a post function) to ``value``s; null values
    are kept as None when ``nullable``."""

    value: Node
    nullable: bool = False
    key: Post | None = None
    label = "a mapping"
    category = "map"

    def convert(self, value: Any, where: Where, ctx: Ctx) -> Any:
        if not isinstance(value, dict):
            raise invalid(where, f"must be a mapping, not {_describe(value)}")
        out: dict[str, Any] = {}
        for k, v in value.items():
            name = str(k)
            if self.key:
                self.key(name, where.key(name), ctx)
            if isinstance(v, Reset):
                out[name] = v
            elif v is None:
                if not self.nullable:
                    raise invalid(where.key(name), f"must be {self.value.label}, not null")
                out[name] = None
            else:
                out[name] = _convert(self.value, v, where.key(name), ctx)
        return out


@dataclass(frozen=True, slots=True)
class Obj(Node):
    """A mapping with known keys only (plus ``x-`` extensions); null values count as absent."""

    fields: Mapping[str, Node]
    required: tuple[str, ...] = ()
    post: Post | None = None
    label = "a mapping"
    category = "map"

    def convert(self, value: Any, where: Where, ctx: Ctx) -> Any:
        if not isinstance(value, dict):
            raise invalid(where, f"must be a mapping, not {_describe(value)}")
        out: dict[str, Any] = {}
        for k, v in value.items():
            name = str(k)
            if name.startswith("x-"):
                out[name] = v
                continue
            node = self.fields.get(name)
            if node is None:
                raise unknown_key(where, name, self.fields)
            if v is None:
                continue
            converted = v if isinstance(v, Reset) else _convert(node, v, where.key(name), ctx)
            if converted is not None:
                out[name] = converted
        for name in self.required:
            if name not in out:
                raise invalid(where, f"'{name}' is required")
        return self.post(out, where, ctx) if self.post else out


@dataclass(frozen=True, slots=True)
class OneOf(Node):
    """The first alternative of the value's category (mapping, list or scalar) that takes it."""

    alternatives: tuple[Node, ...]
    post: Post | None = None

    @property
    def label(self) -> str:  # type: ignore[override]
        return " or ".join(dict.fromkeys(a.label for a in self.alternatives))

    def convert(self, value: Any, where: Where, ctx: Ctx) -> Any:
        category = (
            "map" if isinstance(value, dict) else "list" if isinstance(value, list) else ("scalar")
        )
        fits = [a for a in self.alternatives if a.category == category]
        if not fits:
            raise invalid(where, f"must be {self.label}, not {_describe(value)}")
        for alternative in fits[:-1]:
            if (
                alternative.category != "scalar"
                or _coerce(getattr(alternative, "kind", "any"), value) is not _BAD
            ):
                out = alternative.convert(value, where, ctx)
                return self.post(out, where, ctx) if self.post else out
        out = fits[-1].convert(value, where, ctx)
        return self.post(out, where, ctx) if self.post else out


@dataclass(frozen=True, slots=True)
class ListOrMap(Node):
    """``environment``-style: ``["K=V", "K"]`` or ``{K: V}`` -> ``{K: "V" or None}``."""

    post: Post | None = None
    separator: str = "="
    label = "a list or a mapping"
    category = "map"

    def convert(self, value: Any, where: Where, ctx: Ctx) -> Any:
        out: dict[str, str | None] = {}
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, (str, int, float)) or isinstance(item, bool):
                    raise invalid(where.index(i), f"must be a string, not {_describe(item)}")
                key, sep, val = str(item).partition(self.separator)
                if not key:
                    raise invalid(where.index(i), f"invalid entry {item!r}: empty key")
                out[key] = val if sep else None
        elif isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, (dict, list)):
                    raise invalid(where.key(k), f"must be a string or a number, not {_describe(v)}")
                out[str(k)] = None if v is None else _coerce("strnum", v)
        else:
            raise invalid(where, f"must be a list or a mapping, not {_describe(value)}")
        return self.post(out, where, ctx) if self.post else out


@dataclass(frozen=True, slots=True)
class NotSupported(Node):
    """A key of the specification dockyard does not implement: an error unless ``accept``
    says the value asks for nothing (``enable_ipv6: false``); accepted values are dropped."""

    what: str
    accept: Callable[[Any], bool] | None = None
    hint: str | None = None

    def convert(self, value: Any, where: Where, ctx: Ctx) -> Any:
        if self.accept is not None and self.accept(value):
            return None
        raise unsupported(where, self.what, self.hint)


def _convert(node: Node, value: Any, where: Where, ctx: Ctx) -> Any:
    if isinstance(value, Override):
        return Override(node.convert(value.value, where, ctx))
    return node.convert(value, where, ctx)


# Shorthands used by the specification tables.
STR = Scalar("str")
INT = Scalar("int")
BOOL = Scalar("bool")
NUM = Scalar("num")
STRNUM = Scalar("strnum")
ANY = Scalar("any")
STRINGS = ListOf(STR, single=True)
