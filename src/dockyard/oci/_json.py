"""Typed access to decoded JSON, and Go-compatible deterministic encoding.

The loaders in this package decode bytes once with :func:`load_object`, then read each field
with a typed getter that raises :class:`~dockyard.errors.InvalidArgument` naming the document
and the field. :func:`dumps` writes compact JSON the way Go's ``encoding/json`` does (no spaces,
UTF-8, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped), so documents we write look like the ones
containerd and Docker write.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.oci.digest import Digest

JSONObject = Mapping[str, object]

_GO_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def load_object(data: bytes | str, what: str) -> JSONObject:
    """Decode ``data`` as one JSON object.

    Raises:
        InvalidArgument: the bytes are not UTF-8 JSON, or the value is not an object.
    """
    try:
        value: object = json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidArgument(f"{what}: malformed JSON: {err}") from err
    return as_object(value, what)


def dumps(value: object) -> bytes:
    """Encode ``value`` as compact JSON, escaping like Go's ``encoding/json``."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for raw, escaped in _GO_ESCAPES:
        text = text.replace(raw, escaped)
    return text.encode()


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _bad(where: str, key: str, expected: str, value: object) -> InvalidArgument:
    return InvalidArgument(f'{where}: field "{key}": expected {expected}, got {_kind(value)}')


def as_object(value: object, where: str) -> JSONObject:
    """Return ``value`` as a JSON object, or raise InvalidArgument naming ``where``."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where}: expected a JSON object, got {_kind(value)}")
    return value


def req_str(obj: JSONObject, key: str, where: str) -> str:
    """The string at ``key``; missing or null is an error."""
    value = obj.get(key)
    if value is None:
        raise InvalidArgument(f'{where}: missing field "{key}"')
    if not isinstance(value, str):
        raise _bad(where, key, "string", value)
    return value


def parse_digest(text: str, where: str) -> Digest:
    """:meth:`Digest.parse`, with the error prefixed by ``where``."""
    from dockyard.oci.digest import Digest  # here: runtime specs never pay for hashlib

    try:
        return Digest.parse(text)
    except InvalidArgument as err:
        raise InvalidArgument(f"{where}: {err.message}") from err


def req_digest(obj: JSONObject, key: str, where: str) -> Digest:
    """The digest string at ``key``, parsed; missing or null is an error."""
    return parse_digest(req_str(obj, key, where), where)


def opt_str(obj: JSONObject, key: str, where: str) -> str | None:
    """The string at ``key``, or None when missing or null."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(where, key, "string", value)
    return value


def opt_int(obj: JSONObject, key: str, where: str) -> int | None:
    """The integer at ``key`` (booleans and fractions refused), or None when missing or null."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(where, key, "integer", value)
    return value


def opt_bool(obj: JSONObject, key: str, where: str) -> bool | None:
    """The boolean at ``key``, or None when missing or null."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _bad(where, key, "boolean", value)
    return value


def opt_list(obj: JSONObject, key: str, where: str) -> list[object] | None:
    """The array at ``key``, or None when missing or null."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _bad(where, key, "array", value)
    return value


def opt_str_list(obj: JSONObject, key: str, where: str) -> tuple[str, ...] | None:
    """The array of strings at ``key``, or None when missing or null."""
    items = opt_list(obj, key, where)
    if items is None:
        return None
    if not all(isinstance(item, str) for item in items):
        raise InvalidArgument(f'{where}: field "{key}": expected an array of strings')
    return tuple(str(item) for item in items)


def opt_str_map(obj: JSONObject, key: str, where: str) -> dict[str, str] | None:
    """The object of string values at ``key``, or None when missing or null."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(where, key, "object", value)
    if not all(isinstance(item, str) for item in value.values()):
        raise InvalidArgument(f'{where}: field "{key}": expected an object of strings')
    return {str(k): str(v) for k, v in value.items()}


def opt_key_set(obj: JSONObject, key: str, where: str) -> tuple[str, ...]:
    """The keys of a Go ``map[string]struct{}`` (``{"80/tcp": {}}``); empty when missing."""
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise _bad(where, key, "object", value)
    for name, item in value.items():
        if item is not None and not isinstance(item, dict):
            raise InvalidArgument(f'{where}: field "{key}": entry "{name}" must be an object')
    return tuple(str(k) for k in value)


def key_set(keys: tuple[str, ...]) -> dict[str, object]:
    """Encode keys as a Go ``map[string]struct{}``, sorted as Go sorts map keys."""
    return {k: {} for k in sorted(keys)}


def sorted_map(mapping: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``mapping`` with keys sorted as Go sorts map keys."""
    return {k: mapping[k] for k in sorted(mapping)}
