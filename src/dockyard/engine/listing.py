"""``ps``: docker's rows (``--format`` fields), its ``--filter`` keys and its selection rules.

The rules follow moby's ``daemon/list.go`` and docker/cli's ``formatter/container.go``:

- without ``-a`` only running, paused and restarting containers are listed; ``-n N``, ``-l``
  and a ``status=`` filter imply ``-a``; ``-n``/``-l`` keep the N newest that match;
- values of one filter key are alternatives (OR), different keys must all hold (AND), except
  ``label``, whose values must all hold (docker's ``MatchKVList``);
- ``name`` and ``id`` are regular expressions searched anywhere (a prefix or a substring
  works; ``^``/``$`` anchor); ``before``/``since`` cut the newest-first list at a container;
- ``network`` is a network's name or an ID prefix (``host`` and ``none`` too).

``PORTS`` and ``NETWORKS`` come from :mod:`.netview`; only running containers' endpoint files
are read, never the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockyard._util import rfc3339
from dockyard.engine import netview
from dockyard.engine.pstext import bare_id, health_word, ports_text, row_texts
from dockyard.engine.store import Container
from dockyard.errors import InvalidArgument, NotFound, Unsupported
from dockyard.monitor import state as run_state

if TYPE_CHECKING:
    from dockyard.engine.endpoints import Attached
    from dockyard.oci.image import ImageConfig

FILTERS = (
    "ancestor", "before", "exited", "health", "id", "label", "name", "network", "since",
    "status", "volume",
)  # fmt: skip
# docker's other keys: accepted there, not here yet (no ports, no swarm, no Windows)
UNSUPPORTED_FILTERS = ("expose", "publish", "is-task", "isolation")
HEALTH_VALUES = ("starting", "healthy", "unhealthy", "none")
_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerRow:
    """One line of ``ps``; attribute names are docker's ``--format`` fields."""

    ID: str
    Image: str
    Command: str
    CreatedAt: str
    RunningFor: str
    Ports: str
    State: str
    Status: str
    Size: str
    Names: str
    Labels: str
    Mounts: str
    LocalVolumes: str
    Networks: str
    HealthStatus: str
    label_map: dict[str, str] = field(repr=False)

    def Label(self, name: str) -> str:
        """``{{.Label "key"}}``: the label's value, ``""`` when unset."""
        return self.label_map.get(name, "")

    def to_docker(self) -> dict[str, str]:
        """``{{json .}}``: docker marshals every field, keys sorted."""
        fields = {name: getattr(self, name) for name in _JSON_FIELDS}
        return dict(sorted(fields.items()))


_JSON_FIELDS = tuple(name for name in ContainerRow.__dataclass_fields__ if name != "label_map")


@dataclass(frozen=True, slots=True, kw_only=True)
class Filters:
    """Parsed ``--filter`` values (see the module docstring for how they combine).

    ``ancestor`` holds the resolved image IDs (None: no ancestor filter; empty: an ancestor
    was asked for but no image matched, so nothing is listed, as in docker).
    """

    status: frozenset[str] = frozenset()
    name: tuple[str, ...] = ()
    id: tuple[str, ...] = ()
    label: tuple[str, ...] = ()
    ancestor: frozenset[str] | None = None
    exited: frozenset[int] = frozenset()
    health: frozenset[str] = frozenset()
    volume: tuple[str, ...] = ()
    network: tuple[str, ...] = ()
    before: str = ""
    since: str = ""


def parse_filters(
    items: Sequence[str], *, resolve_image: Callable[[str], str | None] | None = None
) -> Filters:
    """Parse ``--filter KEY=VALUE`` items (keys case-insensitive, spaces trimmed, as docker).

    Args:
        resolve_image: an ``ancestor`` value (name or ID prefix) -> the image ID, or None
            when there is no such image (docker then lists nothing for it).

    Raises:
        InvalidArgument: a malformed item, an unknown key or a bad value (docker's words:
            ``invalid filter 'status=x'``).
        Unsupported: a docker key dockyard does not filter on yet (``publish``, ``expose``).
        ValueError: an ``ancestor`` filter without ``resolve_image`` (a caller bug).
    """
    values: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {item}")
        key, value = key.strip().lower(), value.strip()
        if key in UNSUPPORTED_FILTERS:
            raise Unsupported(f"filter '{key}' is not supported yet")
        if key not in FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'", hint="use " + ", ".join(FILTERS))
        if value not in values.setdefault(key, []):
            values[key].append(value)
    return Filters(
        status=frozenset(_checked(values, "status", run_state.STATUSES)),
        name=tuple(values.get("name", ())),
        id=tuple(values.get("id", ())),
        label=tuple(values.get("label", ())),
        ancestor=_ancestors(values.get("ancestor"), resolve_image),
        exited=frozenset(_exit_codes(values.get("exited", []))),
        health=frozenset(_checked(values, "health", HEALTH_VALUES)),
        volume=tuple(values.get("volume", ())),
        network=tuple(values.get("network", ())),
        before=values.get("before", [""])[-1],
        since=values.get("since", [""])[-1],
    )


def _checked(values: dict[str, list[str]], key: str, allowed: Sequence[str]) -> list[str]:
    for value in values.get(key, []):
        if value not in allowed:
            raise InvalidArgument(
                f"invalid filter '{key}={value}'", hint="use " + ", ".join(allowed)
            )
    return values.get(key, [])


def _exit_codes(values: list[str]) -> list[int]:
    codes = []
    for value in values:
        if not re.fullmatch(r"[+-]?[0-9]+", value):
            raise InvalidArgument(f"invalid filter 'exited={value}'", hint="use an exit code")
        codes.append(int(value))
    return codes


def _ancestors(
    values: list[str] | None, resolve: Callable[[str], str | None] | None
) -> frozenset[str] | None:
    if values is None:
        return None
    if resolve is None:
        raise ValueError("parse_filters: an ancestor filter needs resolve_image")
    return frozenset(bare_id(i) for i in map(resolve, values) if i is not None)


def select(
    containers: Iterable[Container],
    filters: Filters,
    *,
    all_: bool = False,
    last: int | None = None,
    latest: bool = False,
) -> list[Container]:
    """The containers ``ps`` lists, newest first.

    Args:
        containers: every container (``before``/``since`` refer to them).
        all_: ``-a``. last: ``-n`` (None or <= 0: no limit). latest: ``-l`` (``-n 1``).

    Raises:
        NotFound: a ``before``/``since`` container does not exist.
        InvalidArgument: its ID prefix is ambiguous.
    """
    ordered = sorted(containers, key=_created, reverse=True)
    limit = 1 if latest else max(last or 0, 0)
    show_all = all_ or bool(filters.status) or limit > 0
    before = _find(ordered, filters.before) if filters.before else ""
    since = _find(ordered, filters.since) if filters.since else ""
    found: list[Container] = []
    for c in ordered:
        if before:
            before = "" if c.id == before else before
            continue
        if c.id == since or (limit and len(found) == limit):
            break
        if (show_all or c.status in run_state.ACTIVE) and matches(c, filters):
            found.append(c)
    return found


def _created(c: Container) -> float:
    try:
        return rfc3339.parse(c.config.created)
    except ValueError:
        return 0.0


def _find(containers: Sequence[Container], ref: str) -> str:
    """Docker's ``idOrNameFilter``: full ID, exact name, unique ID prefix."""
    name = ref.removeprefix("/")
    for c in containers:
        if c.id == ref or c.name == name:
            return c.id
    hits = [c.id for c in containers if c.id.startswith(ref)]
    if len(hits) > 1:
        raise InvalidArgument(f"multiple containers found with provided prefix: {ref}")
    if not hits:
        raise NotFound(f"No such container: {ref}")
    return hits[0]


def matches(c: Container, f: Filters) -> bool:
    """Whether ``c`` passes every filter but ``before``/``since`` (which depend on order)."""
    return (
        _search(f.name, f"/{c.name}", c.name)
        and _search(f.id, c.id)
        and all(_has_label(c, want) for want in f.label)
        and (not f.exited or _exited_with(c, f.exited))
        and (not f.status or c.status in f.status)
        and (not f.health or health_status(c) in f.health)
        and (not f.volume or any(v in _volume_keys(c) for v in f.volume))
        and (f.ancestor is None or bare_id(c.config.image_id) in f.ancestor)
        and (not f.network or netview.on_network(c.config, f.network))
    )


def _search(patterns: Sequence[str], *subjects: str) -> bool:
    """Docker's ``filters.Match``: an exact value or a regexp found anywhere; an invalid
    regexp matches nothing."""
    if not patterns:
        return True
    for pattern in patterns:
        for subject in subjects:
            if pattern == subject:
                return True
            try:
                if re.search(pattern, subject):
                    return True
            except re.error:
                continue
    return False


def _has_label(c: Container, want: str) -> bool:
    key, sep, value = want.partition("=")
    labels = c.config.labels
    return key in labels and (not sep or labels[key] == value)


def _exited_with(c: Container, codes: frozenset[int]) -> bool:
    """Docker: stopped, started at least once, and exited with one of ``codes``."""
    state = c.state
    return (
        state.status not in run_state.ACTIVE
        and bool(state.started_at)
        and (state.exit_code in codes)
    )


def _volume_keys(c: Container) -> set[str]:
    keys = {v.name for v in c.config.volumes} | {v.destination for v in c.config.volumes}
    keys |= {b.source for b in c.config.options.binds}
    return keys | {b.destination for b in c.config.options.binds}


def health_status(c: Container) -> str:
    """The health filter's word: ``starting``/``healthy``/``unhealthy``, ``none`` without a
    healthcheck report."""
    return health_word(c.state.health)


def row(
    container: Container,
    *,
    image: ImageConfig | None,
    now: float,
    no_trunc: bool = False,
    size: tuple[int, int] | None = None,
    attached: Sequence[Attached] | None = None,
) -> ContainerRow:
    """The ``ps`` row of ``container``.

    Args:
        image: its image config (for the command when the image's Cmd/Entrypoint apply);
            None when the image is gone.
        now: the current UNIX time (``RunningFor``, ``Status``).
        no_trunc: ``--no-trunc``: full IDs, commands and mount names.
        size: (writable bytes, virtual bytes) for ``-s``; None prints ``0B``.
        attached: its live endpoints (``Ports``); None reads them
            (:func:`.netview.live_endpoints`: only a running container's file is read).
    """
    config = container.config
    if attached is None:
        attached = netview.live_endpoints(container)
    mounts = [(b.destination, b.source) for b in config.options.binds]
    mounts += [(v.destination, v.name) for v in config.volumes]
    texts = row_texts(
        cid=config.id, name=container.name, image=(config.image, config.image_id),
        command=config.command or _command(container, image), created=config.created,
        state=container.state, labels=config.labels, mounts=mounts, volumes=len(config.volumes),
        ports=ports_text(netview.port_map(config, attached)),
        networks=netview.networks_text(config), size=size_text(size), now=now,
        trunc=not no_trunc,
    )  # fmt: skip
    return ContainerRow(label_map=dict(config.labels), **texts)


def _command(container: Container, image: ImageConfig | None) -> tuple[str, ...]:
    """The command of a container created before dockyard recorded it (from its image)."""
    from dockyard.engine.inspect import command

    return command(container.config, image)


def size_text(size: tuple[int, int] | None) -> str:
    """docker/cli's ``Size``: ``2B (virtual 21.5MB)`` (3 significant digits)."""
    writable, virtual = size or (0, 0)
    text = _human_size3(writable)
    return f"{text} (virtual {_human_size3(virtual)})" if virtual > 0 else text


def _human_size3(size: float) -> str:
    """go-units ``HumanSizeWithPrecision(size, 3)``."""
    i = 0
    while size >= 1000 and i < len(_SIZE_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.3g}{_SIZE_UNITS[i]}"
