"""Human sizes and times the way docker prints them (go-units)."""

from __future__ import annotations

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
