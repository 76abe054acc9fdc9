"""The text of ``ps``'s columns (docker/cli's ``formatter/container.go``), from plain values.

Pure and light (no container model, no template engine, no regular expressions of its own):
:mod:`.listing` builds its rows with these, and so does the quick path of :mod:`.quickps`,
which must not pay for the model's imports.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence

from dockyard._util import rfc3339
from dockyard._util.gotext import go_quote
from dockyard._util.numbers import is_uint
from dockyard._util.units import human_duration
from dockyard.monitor import state as run_state

TYPE_CHECKING = False  # typing costs ~5 ms to import; mypy reads this name as true
if TYPE_CHECKING:
    from typing import Protocol

    class Binding(Protocol):
        """A port binding as ``PORTS`` shows it (:class:`dockyard.network.model.PortBinding`)."""

        @property
        def host_ip(self) -> str: ...

        @property
        def host_port(self) -> int: ...


ANY_ADDRESS = "0.0.0.0"  # what docker shows for a binding on every host address
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
        health = _ANNOTATED_HEALTH.get(health_word(state.health))
        suffix = f" ({health})" if health else ""
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


def row_texts(
    *,
    cid: str,
    name: str,
    image: tuple[str, str],
    command: Sequence[str],
    created: str,
    state: run_state.RunState,
    labels: Mapping[str, str],
    mounts: Iterable[tuple[str, str]],
    volumes: int,
    ports: str,
    networks: str,
    size: str,
    now: float,
    trunc: bool,
) -> dict[str, str]:
    """Every ``ps`` column (docker's ``--format`` fields) of one container, from plain values.

    Args:
        image: (the image as typed, its ID). mounts: (destination, volume name or bind
            source) of each mount. volumes: how many volumes. ports, networks, size: the
            texts of those columns. trunc: not ``--no-trunc``.

    Raises:
        ValueError: ``created`` is not RFC 3339.
    """
    cmd = command_text(command)
    health = health_word(state.health)
    return {
        "ID": cid[:12] if trunc else cid,
        "Image": image_text(*image, trunc),
        "Command": go_quote(ellipsis(cmd, 20) if trunc else cmd),
        "CreatedAt": rfc3339.format_docker(rfc3339.parse(created) if created else 0.0),
        "RunningFor": running_for(created, now),
        "Ports": ports,
        "State": str(state.status),
        "Status": status_text(state, now),
        "Size": size,
        "Names": name,
        "Labels": ",".join(sorted(f"{k}={v}" for k, v in labels.items())),
        "Mounts": ",".join(ellipsis(m, 15) if trunc else m for _dest, m in sorted(mounts)),
        "LocalVolumes": str(volumes),
        "Networks": networks,
        "HealthStatus": "" if health == "none" else health,
    }


def networks_text(mode: str, names: Sequence[str]) -> str:
    """``NETWORKS``: the bridge networks' names sorted and comma-joined (``bridge`` when none
    was recorded), ``host`` or ``none``, nothing with ``container:X`` (docker/cli)."""
    if mode == "container":
        return ""
    if mode != "bridge":
        return mode
    return ",".join(sorted(names)) if names else "bridge"


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


def ports_text(ports: Mapping[str, Sequence[Binding] | None]) -> str:
    """``ps``'s ``PORTS`` (docker/cli ``DisplayablePorts``): ``80/tcp`` for an exposed
    port, ``0.0.0.0:8080->80/tcp`` for a published one, ``0.0.0.0:8000-8001->8000-8001/tcp``
    for consecutive ports published on the same numbers; the merged groups first, then the
    other mappings, each in container port order."""
    entries = sorted(_entries(ports))
    groups: dict[str, tuple[int, int]] = {}  # insertion order is docker's groupMapKeys
    result: list[str] = []
    mappings: list[str] = []
    for private, ip, public, proto in entries:
        key = proto
        if ip:
            if public != private:
                mappings.append(f"{ip}:{public}->{private}/{proto}")
                continue
            key = f"{ip}/{proto}"
        group = groups.get(key)
        if group is not None and private == group[1] + 1:
            groups[key] = (group[0], private)
            continue
        if group is not None:
            result.append(_group_text(key, *group))
        groups[key] = (private, private)
    result += [_group_text(key, *group) for key, group in groups.items()]
    return ", ".join(result + mappings)


def _entries(ports: Mapping[str, Sequence[Binding] | None]) -> Iterator[tuple[int, str, int, str]]:
    """docker's ``types.Port`` values as (private port, host IP, public port, proto)."""
    for key, bindings in ports.items():
        number, _, proto = key.partition("/")
        if not is_uint(number):
            continue
        if not bindings:
            yield int(number), "", 0, proto
        for b in bindings or ():
            yield int(number), b.host_ip or ANY_ADDRESS, b.host_port, proto


def _group_text(key: str, first: int, last: int) -> str:
    ip, _, proto = key.rpartition("/")
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        group = f"{ip}:{group}->{group}"
    return f"{group}/{proto}"
