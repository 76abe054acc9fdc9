"""``ps``'s plain cases read straight from the container files, without the container model.

``ps``, ``ps -a``, ``-q``, ``-n N``/``-l`` and ``--no-trunc`` with the default table or a
``--format`` of plain fields are what people and scripts run most, and a fresh interpreter
that imports the container model (dataclasses and their ``inspect``, the options, the network
model) spent three quarters of its time on imports. This module reads ``config.json``,
``state.json`` and ``endpoints.json`` as plain documents and builds docker's columns with
:func:`.pstext.row_texts`, as :mod:`.listing` does from the model.

It answers only when the answer is certain to be the full path's, and says None otherwise,
so that the caller runs the full path instead:

- a container's files are not what this dockyard writes (another version, damaged, a field of
  another type), or a container was created before dockyard recorded its command;
- a container is recorded as running (paused, restarting) but its monitor is gone: the full
  path corrects and records that (:meth:`.containers.Containers.refresh`);
- a running container on a bridge network whose ``endpoints.json`` or recorded ports are not
  in the form this dockyard writes (``PORTS`` is read from them as :mod:`.netview` does).

The tests check that the two paths print the same text wherever this one answers.
"""

from __future__ import annotations

import os

from dockyard._util import rfc3339
from dockyard._util.numbers import is_uint
from dockyard.engine import CONTAINER_CONFIG_VERSION
from dockyard.engine.pstext import networks_text, ports_text, row_texts
from dockyard.monitor import minijson
from dockyard.monitor import state as run_state

_PROTOS = ("tcp", "udp")  # :class:`dockyard.network.model.Proto`
_TEXT_FIELDS = ("id", "name", "created", "image", "image_id")


class Listed:
    """One container as the quick path sees it: its config document and run state."""

    __slots__ = ("dir", "doc", "id", "name", "state")

    def __init__(self, directory: str, doc: dict[str, object], state: run_state.RunState) -> None:
        self.dir = directory
        self.doc = doc
        self.id = str(doc["id"])
        self.name = str(doc["name"])
        self.state = state


def select(containers_dir: str, *, all_: bool, last: int, latest: bool) -> list[Listed] | None:
    """The containers ``ps`` lists without filters, newest first (:func:`.listing.select`'s
    rules: ``-n``/``-l`` imply ``-a`` and keep the newest); None when the full path must
    answer (the module docstring says when)."""
    found: list[Listed] = []
    current_boot = ""
    try:
        ids = sorted(run_state.iter_ids(containers_dir))
    except OSError:
        return None  # unreadable: the full path reports it
    for cid in ids:
        directory = os.path.join(containers_dir, cid)
        try:
            with open(os.path.join(directory, "config.json"), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            continue  # half-created or half-removed: the full path skips it too
        except OSError:
            return None
        try:
            doc = minijson.loads(raw)
            state = run_state.load(directory)
        except (OSError, ValueError):
            return None
        if not _plain(doc):
            return None
        assert isinstance(doc, dict)
        if state.status in run_state.ACTIVE:
            current_boot = current_boot or run_state.boot_id()
            if state.boot_id != current_boot or not _monitor_alive(state):
                return None
        found.append(Listed(directory, doc, state))
    found.sort(key=lambda c: str(c.doc["created"]), reverse=True)  # the store's order, then
    found.sort(key=_created, reverse=True)  # listing.select's
    limit = 1 if latest else max(last, 0)
    show_all = all_ or limit > 0
    chosen = [c for c in found if show_all or c.state.status in run_state.ACTIVE]
    return chosen[:limit] if limit else chosen


def _monitor_alive(state: run_state.RunState) -> bool:
    """Whether the monitor recorded in ``state`` still runs (False for a malformed record)."""
    pid, start = state.monitor_pid, state.monitor_start
    return type(pid) is int and type(start) is int and run_state.alive(pid, start)


def _plain(doc: object) -> bool:
    """Whether ``doc`` is a config document of this dockyard that the quick path can show."""
    if not isinstance(doc, dict) or doc.get("version") != CONTAINER_CONFIG_VERSION:
        return False
    command, options = doc.get("command"), doc.get("options")
    return (
        all(isinstance(doc.get(key), str) for key in _TEXT_FIELDS)
        and isinstance(command, list)
        and bool(command)
        and all(isinstance(arg, str) for arg in command)
        and isinstance(options, dict)
    )


def _created(c: Listed) -> float:
    try:
        return rfc3339.parse(str(c.doc["created"]))
    except ValueError:
        return 0.0


def row_fields(c: Listed, *, now: float, no_trunc: bool) -> dict[str, str] | None:
    """``ps``'s ``--format`` fields of ``c`` (:class:`.listing.ContainerRow`'s, ``Size``
    without ``-s``); None when its ``PORTS`` needs the full path.

    Raises:
        ValueError: its ``created`` is not RFC 3339 (the caller lets the full path report it).
        KeyError, TypeError, AttributeError: a field of another shape (the same).
    """
    doc = c.doc
    ports = _ports(c)
    if ports is None:
        return None
    volumes: list[dict[str, str]] = doc.get("volumes") or []  # type: ignore[assignment]
    options = doc["options"]
    assert isinstance(options, dict)
    mounts = [(b["destination"], b["source"]) for b in options.get("binds") or ()]
    mounts += [(v["destination"], v["name"]) for v in volumes]
    networks: list[dict[str, str]] = doc.get("networks") or []  # type: ignore[assignment]
    return row_texts(
        cid=c.id, name=c.name, image=(str(doc["image"]), str(doc["image_id"])),
        command=doc["command"], created=str(doc["created"]), state=c.state,  # type: ignore[arg-type]
        labels=doc.get("labels") or {}, mounts=mounts, volumes=len(volumes), ports=ports,  # type: ignore[arg-type]
        networks=networks_text(str(options["network"]), [n["name"] for n in networks]),
        size="0B", now=now, trunc=not no_trunc,
    )  # fmt: skip


class _Bound:
    """A host port of an endpoint, as ``PORTS`` shows it."""

    __slots__ = ("host_ip", "host_port")

    def __init__(self, host_ip: str, host_port: int) -> None:
        self.host_ip = host_ip
        self.host_port = host_port


def _ports(c: Listed) -> str | None:
    """``PORTS``: :func:`.netview.port_map` then :func:`.pstext.ports_text`, from the plain
    documents; None when they are not in the form this dockyard writes."""
    doc = c.doc
    options = doc["options"]
    assert isinstance(options, dict)
    if c.state.status not in run_state.ACTIVE or not (
        options.get("network") == "bridge" and doc.get("networks")
    ):
        return ""  # no live endpoints: docker shows nothing
    try:
        with open(os.path.join(c.dir, "endpoints.json"), "rb") as f:
            attached = minijson.loads(f.read())
        bound: dict[str, list[_Bound]] = {}
        for a in attached:  # type: ignore[attr-defined]
            for p in a["endpoint"].get("ports") or ():
                key, host = _key(p), _Bound(p.get("host_ip", ""), p.get("host_port", 0))
                if key is None or type(host.host_ip) is not str or type(host.host_port) is not int:
                    return None
                bound.setdefault(key, []).append(host)
        keys: set[str | None] = set(bound)
        for p in doc.get("ports") or ():  # type: ignore[attr-defined]
            keys.add(_key(p))
        for spec in doc.get("exposed") or ():  # type: ignore[attr-defined]
            keys.add(spec if _canonical(spec) else None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not attached or None in keys:
        return None
    return ports_text({key: bound.get(key) for key in sorted(k for k in keys if k is not None)})


def _key(port: object) -> str | None:
    """``80/tcp`` of a recorded port binding; None when it is not one."""
    if not isinstance(port, dict):
        return None
    number, proto = port.get("container_port"), port.get("proto", "tcp")
    if type(number) is not int or proto not in _PROTOS:
        return None
    return f"{number}/{proto}"


def _canonical(spec: object) -> bool:
    """Whether an exposed port is recorded as ``create`` writes it: ``80/tcp`` (1-65535)."""
    if not isinstance(spec, str):
        return False
    number, _, proto = spec.partition("/")
    return (
        is_uint(number)
        and str(int(number)) == number
        and 0 < int(number) < 65536
        and (proto in _PROTOS)
    )
