"""JSON for the monitor through CPython's C accelerator ``_json`` alone.

``import json`` pulls in ``re``, ``enum`` and ``collections`` (over 1 MB of RSS in every
monitor); the C scanner and encoder underneath it need none of them. Same output as
``json.dumps(obj, separators=(",", ":"))`` and the same parsing as ``json.loads``.
"""

from __future__ import annotations

import _json


class _Context:
    """The attributes ``_json.make_scanner`` reads from a ``json.JSONDecoder``."""

    __slots__ = (
        "memo", "object_hook", "object_pairs_hook", "parse_constant", "parse_float",
        "parse_int", "strict",
    )  # fmt: skip

    def __init__(self) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _constant
        self.memo: dict[str, str] = {}


def _constant(name: str) -> float:
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


def _unserializable(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]
_encode = _json.make_encoder(
    None, _unserializable, _json.encode_basestring_ascii, None, ":", ",", False, False, True
)
_SPACE = " \t\n\r"


def loads(text: str | bytes) -> object:
    """Parse one JSON document.

    Raises:
        ValueError: not JSON, or something after the document.
    """
    if isinstance(text, bytes):
        text = text.decode()
    start = len(text) - len(text.lstrip(_SPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as err:
        raise ValueError(f"not JSON at offset {err.value}") from None
    except (ValueError, SystemError) as err:  # the C scanner's errors inside a value
        raise ValueError(f"not JSON: {err}") from None
    if text[end:].strip(_SPACE):
        raise ValueError(f"extra data at offset {end}")
    return value


def dumps(obj: object) -> str:
    """Compact JSON (``separators=(",", ":")``, ASCII)."""
    return "".join(_encode(obj, 0))
