"""The strict reader of config.json objects shared by :mod:`dockyard.oci.runtime` and its
``linux`` part, and Go-``omitempty`` writing helpers.

Every error is :class:`~dockyard.errors.InvalidArgument` and names the document and the full
field path: ``config.json: linux.namespaces[2].type: unknown namespace type "foo"``,
``config.json: root.path is required``, ``config.json: process.user.uid: expected integer,
got string``. (The getters of :mod:`dockyard.oci._json` name only the parent and the key, which
is not enough to find a field three arrays deep.)
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final, Protocol, TypeVar

from dockyard.errors import InvalidArgument

DOC: Final = "config.json"
U16: Final = (0, 2**16 - 1)
U32: Final = (0, 2**32 - 1)
I64: Final = (-(2**63), 2**63 - 1)
U64: Final = (0, 2**64 - 1)

_KINDS: Final = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}


def bad(path: str, message: str) -> InvalidArgument:
    """An InvalidArgument for the field at ``path`` of config.json."""
    return InvalidArgument(f"{DOC}: {path}: {message}")


def _kind(value: object) -> str:
    return "null" if value is None else _KINDS.get(type(value), "object")


def check_abs(path: str, value: str) -> str:
    """Return ``value`` if it is an absolute path, else raise naming ``path``."""
    if not value.startswith("/"):
        raise bad(path, f'"{value}": must be an absolute path')
    return value


class _Struct(Protocol):
    def to_json(self) -> dict[str, object]: ...


def put_struct(out: dict[str, object], key: str, value: _Struct | None) -> None:
    """Set ``out[key]`` to ``value.to_json()`` unless ``value`` is None (a Go pointer)."""
    if value is not None:
        out[key] = value.to_json()


def put(out: dict[str, object], key: str, value: object) -> None:
    """Set ``out[key]`` unless ``value`` is None or empty (Go's ``omitempty``; 0 is kept)."""
    if value is None or (isinstance(value, str | tuple | list | dict) and not value):
        return
    out[key] = list(value) if isinstance(value, tuple) else value


class Fields:
    """Typed, strict reads of one JSON object at ``path`` in config.json.

    Getters return None for a missing or null key; ``req_*`` getters raise
    ``config.json: <path>.<key> is required`` instead. Every error is InvalidArgument.
    """

    __slots__ = ("obj", "path")

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise bad(path, f"expected an object, got {_kind(value)}")
        self.obj: Mapping[str, object] = value
        self.path = path

    def at(self, key: str) -> str:
        """The path of ``key`` in this object."""
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, kind: type | tuple[type, ...], name: str) -> Any:
        value = self.obj.get(key)
        if value is None:
            return None
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise bad(self.at(key), f"expected {name}, got {_kind(value)}")
        return value

    def required(self, key: str) -> None:
        """Raise ``<path>.<key> is required`` when the key is missing or null."""
        if self.obj.get(key) is None:
            raise InvalidArgument(f"{DOC}: {self.at(key)} is required")

    def get_str(self, key: str) -> str | None:
        return self._get(key, str, "string")  # type: ignore[no-any-return]

    def req_str(self, key: str) -> str:
        self.required(key)
        return self._get(key, str, "string")  # type: ignore[no-any-return]

    def get_bool(self, key: str) -> bool | None:
        return self._get(key, bool, "boolean")  # type: ignore[no-any-return]

    def get_int(self, key: str, bounds: tuple[int, int] = I64) -> int | None:
        value = self._get(key, (int, float), "integer")
        if value is None:
            return None
        if isinstance(value, float):
            if not value.is_integer():
                raise bad(self.at(key), f"expected integer, got {value}")
            value = int(value)
        lo, hi = bounds
        if not lo <= value <= hi:
            raise bad(self.at(key), f"{value} out of range [{lo}, {hi}]")
        return int(value)

    def req_int(self, key: str, bounds: tuple[int, int] = I64) -> int:
        self.required(key)
        value = self.get_int(key, bounds)
        assert value is not None
        return value

    def get_list(self, key: str) -> list[object] | None:
        return self._get(key, list, "array")  # type: ignore[no-any-return]

    def get_strs(self, key: str) -> tuple[str, ...]:
        items = self.get_list(key) or []
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise bad(f"{self.at(key)}[{i}]", f"expected string, got {_kind(item)}")
        return tuple(str(item) for item in items)

    def get_env(self, key: str) -> tuple[str, ...]:
        """An environment list (``process.env``, a hook's ``env``): ``NAME=value`` entries."""
        env = self.get_strs(key)
        for i, pair in enumerate(env):
            name, eq, _ = pair.partition("=")
            if not eq or not name or "\0" in pair:
                raise bad(f"{self.at(key)}[{i}]", f'"{pair}": expected NAME=value')
        return env

    def get_map(self, key: str) -> dict[str, str]:
        value = self._get(key, dict, "object") or {}
        for name, item in value.items():
            if not isinstance(item, str):
                raise bad(f"{self.at(key)}.{name}", f"expected string, got {_kind(item)}")
        return dict(value)

    def get_obj(self, key: str) -> Fields | None:
        value = self.obj.get(key)
        return None if value is None else Fields(value, self.at(key))

    def get_objs(self, key: str) -> list[Fields]:
        items = self.get_list(key) or []
        return [Fields(item, f"{self.at(key)}[{i}]") for i, item in enumerate(items)]

    def get_raw(self, key: str) -> object | None:
        return self.obj.get(key)

    def extra(self, known: frozenset[str]) -> dict[str, object]:
        """The keys this object has beyond ``known``, decoded JSON kept as is."""
        return {k: v for k, v in self.obj.items() if k not in known}


E = TypeVar("E", bound=StrEnum)


def parse_enum(cls: type[E], path: str, value: str, what: str) -> E:
    """``cls(value)``, or raise ``<path>: unknown <what> "<value>"``."""
    try:
        return cls(value)
    except ValueError:
        raise bad(path, f'unknown {what} "{value}"') from None
