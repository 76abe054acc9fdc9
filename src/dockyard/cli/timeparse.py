"""Docker's time arguments (``until=``, ``since=``): durations, RFC 3339 and UNIX times."""

from __future__ import annotations

import re
import time

from dockyard._util import rfc3339
from dockyard.errors import InvalidArgument

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_until(value: str, now: float | None = None) -> float:
    """A UNIX time from ``24h`` (ago), ``1700000000[.5]`` or ``2024-01-02T03:04:05Z``.

    Raises:
        InvalidArgument: none of those forms.
    """
    current = time.time() if now is None else now
    if _DURATION.fullmatch(value) or re.fullmatch(rf"(?:{_DURATION.pattern})+", value):
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(value))
        return current - seconds
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    try:
        return rfc3339.parse(value)
    except ValueError as err:
        raise InvalidArgument(
            f'invalid time "{value}"', hint="use a duration (24h), a UNIX time or RFC 3339"
        ) from err
