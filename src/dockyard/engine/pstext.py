"""The text of ``ps``'s columns (docker/cli's ``formatter/container.go``), from plain values.

Pure and light (no container model, no template engine, no regular expressions of its own):
:mod:`.listing` builds its rows with these, and so does the quick path of :mod:`.quickps`,
which must not pay for the model's imports.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from dockyard._util import rfc3339
from dockyard._util.units import human_duration
from dockyard.monitor import state as run_state

_ANNOTATED_HEALTH = {"starting": "health: starting", "healthy": "healthy", "unhealthy": "unhealthy"}


def bare_id(image_id: str) -> str:
    """``abc…`` of ``sha256:abc…`` (an ID without its algorithm)."""
    return image_id.partition(":")[2] or image_id


def health_word(health: dict[str, object] | None) -> str:
    """The health filter's word for a run state's ``health``: ``starting``/``healthy``/
    ``unhealthy``, ``none`` without a healthcheck report."""
    status = health.get("Status") if health else None
    return status if isinstance(status, str) and status else "none"


def running_for(created: str, now: float) -> str:
    """``RunningFor``: ``2 minutes ago`` since the RFC 3339 ``created`` (the epoch when empty).

    Raises:
        ValueError: ``created`` is not RFC 3339.
    """
    then = rfc3339.parse(created) if created else 0.0
    return f"{human_duration(max(0.0, now - then))} ago"


def status_text(state: run_state.RunState, now: float) -> str:
    """docker's ``Status`` column (moby ``State.String``) at time ``now``."""
    status = state.status
    if status == run_state.PAUSED:
        return f"Up {_ago(state.started_at, now)} (Paused)"
    if status == run_state.RESTARTING:
        return f"Restarting ({state.exit_code}) {_ago(state.finished_at, now)} ago"
    if status == run_state.RUNNING:
        health = state.health.get("Status") if state.health else None
        suffix = f" ({_ANNOTATED_HEALTH[health]})" if health in _ANNOTATED_HEALTH else ""
        return f"Up {_ago(state.started_at, now)}{suffix}"
    if status == run_state.REMOVING:
        return "Removal In Progress"
    if status == run_state.DEAD:
        return "Dead"
    if not state.started_at or status == run_state.CREATED:
        return "Created"
    if not state.finished_at:
        return ""
    return f"Exited ({state.exit_code}) {_ago(state.finished_at, now)} ago"


def _ago(timestamp: str, now: float) -> str:
    try:
        then = rfc3339.parse(timestamp)
    except ValueError:
        then = now
    return human_duration(max(0.0, now - then))


def command_text(argv: Sequence[str]) -> str:
    """moby's ``Command``: the path, then the arguments, those with a space in quotes."""
    if not argv:
        return ""
    return " ".join([argv[0], *(f"'{a}'" if " " in a else a for a in argv[1:])])


def image_text(image: str, image_id: str, trunc: bool) -> str:
    """docker/cli's ``Image`` column: the image as typed, an ID shortened, and (truncated) a
    familiar name with any digest dropped."""
    if not image:
        return "<no image>"
    if not trunc:
        return image
    short_id = bare_id(image_id)[:12]
    if short_id == bare_id(image)[:12]:
        return short_id
    if "/" not in image and "@" not in image:
        return image  # no registry, path or digest: already the familiar name (or invalid)
    from dockyard.errors import InvalidArgument
    from dockyard.oci.reference import parse_reference

    try:
        ref = parse_reference(image)
    except InvalidArgument:
        return image
    return ref.familiar_name + (f":{ref.tag}" if ref.tag else "")


def ellipsis(text: str, width: int) -> str:
    """docker/cli's ``Ellipsis``: cut ``text`` to ``width`` display columns (East Asian wide
    characters count 2), the last one being ``…``."""
    if width <= 0:
        return ""
    if width == 1:
        return text[:1]
    widths = [2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text]
    if sum(widths) <= width:
        return text
    used = 0
    for i, w in enumerate(widths):
        if used + w > width - 1:
            return text[:i] + "…" if i else text
        used += w
    return text
