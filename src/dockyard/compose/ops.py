"""The verbs on a project's existing containers: ``down``, ``stop``, ``start``, ``restart``,
``kill``, ``rm``, ``pause``, ``unpause``.

Containers are found by their labels (:mod:`.observe`), so these work on what ``up`` made even
after the files changed. Stops go dependants first, starts dependencies first; containers of
one step are handled in parallel. Errors are collected: every container gets its turn, then
the first error is raised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from dockyard.compose import observe, replicas
from dockyard.compose.apply import Listener
from dockyard.compose.model import Project
from dockyard.compose.plan import dependency_order
from dockyard.errors import Conflict, DockyardError, NotFound

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.store import Container

WORKERS = 8


def select(
    engine: Containers, project: Project, services: Sequence[str] = (), *, oneoff: bool = False
) -> list[Container]:
    """The project's containers of ``services`` (all when empty), in dependency order."""
    found = observe.project_containers(engine, project.name, oneoff=None if oneoff else False)
    if services:
        found = [c for c in found if observe.service_of(c) in services]
    rank = {name: i for i, name in enumerate(dependency_order(project))}
    return sorted(found, key=lambda c: (rank.get(observe.service_of(c), -1), observe.number(c)))


def each(
    containers: Iterable[Container], action: Callable[[Container], None], *, parallel: bool = True
) -> None:
    """``action`` on every container (in parallel); then the first error, if any, is raised."""
    items = list(containers)
    errors: list[DockyardError] = []

    def one(c: Container) -> None:
        try:
            action(c)
        except DockyardError as err:
            errors.append(err)

    if parallel and len(items) > 1:
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
            list(pool.map(one, items))
    else:
        for c in items:
            one(c)
    if errors:
        raise errors[0]


def by_level(
    project: Project, containers: list[Container], *, reverse: bool
) -> list[list[Container]]:
    """The containers in steps: one per dependency depth (dependants first when ``reverse``)."""
    depth: dict[str, int] = {}
    services = project.all_services

    def level(name: str, seen: tuple[str, ...] = ()) -> int:
        if name not in depth:
            deps = (
                [
                    d.service
                    for d in services[name].depends_on
                    if d.service in services and d.service not in seen
                ]
                if name in services
                else []
            )
            depth[name] = 1 + max((level(d, (*seen, name)) for d in deps), default=-1)
        return depth[name]

    steps: dict[int, list[Container]] = {}
    for c in containers:
        steps.setdefault(level(observe.service_of(c)), []).append(c)
    return [steps[k] for k in sorted(steps, reverse=reverse)]


def stop(
    engine: Containers,
    project: Project,
    containers: list[Container],
    listener: Listener,
    timeout: int | None = None,
) -> None:
    def one(c: Container) -> None:
        listener.event("Container", c.name, "Stopping")
        replicas.stop(engine, c, timeout)
        listener.event("Container", c.name, "Stopped")

    for step in by_level(project, containers, reverse=True):
        each(step, one)


def remove(
    engine: Containers, containers: list[Container], listener: Listener, *, volumes: bool = False
) -> None:
    def one(c: Container) -> None:
        listener.event("Container", c.name, "Removing")
        replicas.remove(engine, c, volumes=volumes)
        listener.event("Container", c.name, "Removed")

    each(containers, one)


def start(
    engine: Containers, project: Project, containers: list[Container], listener: Listener
) -> None:
    replicas.preload()

    def one(c: Container) -> None:
        engine.refresh(c)
        if c.status in ("running", "paused", "restarting"):
            return
        listener.event("Container", c.name, "Starting")
        replicas.start(engine, c)
        listener.event("Container", c.name, "Started")

    for step in by_level(project, containers, reverse=False):
        each(step, one)


def kill(engine: Containers, containers: list[Container], listener: Listener, sig: int) -> None:
    from dockyard.engine import lifecycle

    def one(c: Container) -> None:
        if c.status not in ("running", "paused"):
            return
        lifecycle.kill(engine, c, sig)
        listener.event("Container", c.name, "Killed")

    each(containers, one)


def pause(
    engine: Containers, containers: list[Container], listener: Listener, *, resume: bool = False
) -> None:
    from dockyard.engine import lifecycle

    def one(c: Container) -> None:
        lifecycle.pause(engine, c, resume=resume)
        listener.event("Container", c.name, "Unpaused" if resume else "Paused")

    each(containers, one)


def down(
    engine: Containers,
    project: Project,
    listener: Listener,
    *,
    volumes: bool = False,
    remove_orphans: bool = False,
    timeout: int | None = None,
) -> list[str]:
    """Stop and remove the project's containers (one-offs too), then its networks, and with
    ``volumes`` its named volumes and the containers' anonymous ones.

    Returns:
        The image names of the project's services (for ``--rmi``).
    """
    everything = observe.project_containers(engine, project.name, oneoff=None)
    known = project.all_services
    mine = [c for c in everything if remove_orphans or observe.service_of(c) in known]
    stop(engine, project, mine, listener, timeout)
    remove(engine, mine, listener, volumes=volumes)
    remove_networks(engine, project, listener)
    if volumes:
        for vol in project.volumes.values():
            if vol.external:
                continue
            with contextlib.suppress(NotFound):
                engine.volumes.remove(vol.name)
                listener.event("Volume", vol.name, "Removed")
    return [s.image_name(project.name) for s in known.values()]


def remove_networks(engine: Containers, project: Project, listener: Listener) -> None:
    """The project's own networks: those of the files and those labelled with the project's
    name (one still used by another container stays, with an error)."""
    from dockyard.compose.translate import PROJECT
    from dockyard.network.client import teardown

    names = [spec.name for spec in project.networks.values() if not spec.external]
    names += [n.name for n in engine.networks.list() if n.labels.get(PROJECT) == project.name]
    for name in dict.fromkeys(names):
        try:
            network = engine.networks.get(name)
        except NotFound:
            continue
        try:
            engine.networks.remove(network)
        except Conflict as err:
            listener.event("Network", name, f"Error: {err.message}")
            continue
        teardown(engine.store.runroot, network)
        listener.event("Network", name, "Removed")
