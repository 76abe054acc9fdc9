"""RFC 3339 timestamps as Go writes them (nanoseconds, ``Z``), to and from UNIX time."""

from __future__ import annotations

import re
import time

# datetime is imported by parse() alone, and only for the forms dockyard does not write itself:
# formatting (on every container start) uses time.gmtime, and ``ps`` parses a few timestamps per
# container (importing datetime was a tenth of a quick ``ps``).

_FRACTION = re.compile(r"\.(\d+)")
_UTC = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z")
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def parse(text: str) -> float:
    """UNIX time of ``2024-01-02T03:04:05.123456789Z`` (any precision, any offset).

    Raises:
        ValueError: not an RFC 3339 timestamp.
    """
    utc = _UTC.fullmatch(text)
    if utc is not None:
        year, month, day, hour, minute, second = (int(g) for g in utc.groups()[:6])
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        days = _MONTH_DAYS[month - 1] + (month == 2 and leap) if 1 <= month <= 12 else 0
        if 1 <= day <= days and hour < 24 and minute < 60 and second < 60 and year > 0:
            whole = (days_from_civil(year, month, day) * 24 + hour) * 60 + minute
            return whole * 60 + second + float("0." + (utc.group(7) or "0"))
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


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


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
