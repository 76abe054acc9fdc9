"""Human sizes and times the way docker prints and parses them (go-units, Go durations)."""

from __future__ import annotations

import re
import time

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB")


def human_size(size: float) -> str:
    """``HumanSize`` of go-units: decimal units, 3 significant digits (``5.2MB``, ``1.23GB``)."""
    i = 0
    while size >= 1000 and i < len(_DECIMAL) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.4g}{_DECIMAL[i]}"


def human_duration(seconds: float) -> str:
    """``HumanDuration`` of go-units: ``Less than a second``, ``2 minutes``, ``3 weeks``."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def since(timestamp: float, now: float | None = None) -> str:
    """``2 hours ago`` for a UNIX timestamp."""
    current = time.time() if now is None else now
    return f"{human_duration(max(0.0, current - timestamp))} ago"


_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_NS_PER_UNIT = {"ns": 1, "us": 10**3, "\u00b5s": 10**3, "\u03bcs": 10**3, "ms": 10**6, "s": 10**9}
_NS_PER_UNIT |= {"m": 60 * 10**9, "h": 3600 * 10**9}
_RAM = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?")


def parse_go_duration(text: str) -> int | None:
    """Go's ``time.ParseDuration`` in nanoseconds (``1m30s``, ``1.5h``, ``500ms``), or None
    when ``text`` is not a duration. Fractions are truncated to the nanosecond, as in Go."""
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text.removeprefix("+"))
    if body == "0":
        return 0
    total, pos = 0, 0
    for m in _DURATION_PART.finditer(body):
        whole, frac = m.group(1), m.group(2) or ""
        if m.start() != pos or not (whole or frac):
            return None
        unit = _NS_PER_UNIT[m.group(3)]
        total += int(whole or 0) * unit + (int(frac) * unit // 10 ** len(frac) if frac else 0)
        pos = m.end()
    if not body or pos != len(body):
        return None
    return sign * total


def ram_in_bytes(text: str) -> int | None:
    """go-units' ``RAMInBytes`` (binary units: ``512m``, ``1g``, ``64MiB``, ``1024``), or None
    when ``text`` is not a size."""
    m = _RAM.fullmatch(text.strip().lower())
    if m is None:
        return None
    return int(float(m.group(1)) * 1024 ** "_kmgtp".index(m.group(2) or "_"))
