"""RFC 3339 timestamps as Go writes them (nanoseconds, ``Z``), to and from UNIX time."""

from __future__ import annotations

import re
import time

# datetime is imported by parse() alone: formatting (on every container start) uses time.gmtime.

_FRACTION = re.compile(r"\.(\d+)")


def parse(text: str) -> float:
    """UNIX time of ``2024-01-02T03:04:05.123456789Z`` (any precision, any offset).

    Raises:
        ValueError: not an RFC 3339 timestamp.
    """
    from datetime import UTC, datetime

    match = _FRACTION.search(text)
    fraction = 0.0
    if match:
        fraction = float("0." + match.group(1))
        text = text[: match.start()] + text[match.end() :]
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp() + fraction


def format_nano(timestamp: float) -> str:
    """Go's ``time.RFC3339Nano`` in UTC: trailing zeros of the fraction dropped."""
    whole = int(timestamp)
    nanos = round((timestamp - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    frac = f"{nanos:09d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def format_docker(timestamp: float) -> str:
    """``{{.CreatedAt}}`` as docker prints it: ``2024-01-02 03:04:05 +0000 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(int(timestamp)))
