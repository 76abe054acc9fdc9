"""Carrying out a :class:`~.plan.Plan` on the engine.

The script::

    create the plan's networks and volumes (external ones must exist)
    wake the networks' helpers (in the background)
    create the new containers of the services that depend on nothing (in parallel)
    per service, in parallel (a few threads), each service once its dependencies' tasks
    finished and their conditions hold:
        its actions in order: create (unless done above) + start, recreate (stop, remove,
        create, start), start, restart, remove

A service whose dependency failed fails without acting; the first error is raised once every
task has ended. Progress goes to the :class:`Listener` (the CLI prints it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Protocol

from dockyard.compose import replicas, waits
from dockyard.compose import translate as tr
from dockyard.compose.model import Project, Service
from dockyard.compose.plan import Action, Plan, Verb
from dockyard.errors import DockyardError, FailedPrecondition, NotFound

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.store import Container

WORKERS = 4


class Listener(Protocol):
    """Where progress goes: ``event("Container", "demo-web-1", "Started")``."""

    def event(self, kind: str, name: str, status: str) -> None: ...


class ApplyError(FailedPrecondition):
    """``up`` could not bring every service up (the first failure is the message)."""


def apply(
    engine: Containers,
    project: Project,
    plan: Plan,
    listener: Listener,
    *,
    images: Mapping[str, str],
    start: bool = True,
    workers: int = WORKERS,
) -> None:
    """Carry out ``plan`` (see the module docstring).

    Args:
        images: service -> the image ID its new containers run.
        start: False for ``create``/``up --no-start``: containers are only created.

    Raises:
        ApplyError: a service failed (the message names it and why).
        NotFound: an external network or volume does not exist.
    """
    ensure_resources(engine, project, plan, listener)
    order = [name for name in plan.order if plan.for_service(name)]
    if not order:
        return
    _ = (engine.images, engine.volumes, engine.networks)  # opened here, not by racing threads
    if start:  # first: the helpers' start is what the first containers wait for
        _wake_helpers(engine, project, plan)
    replicas.preload()
    planned = set(order)
    futures: dict[str, Future[None]] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(order)))) as pool:
        early = _create_early(pool, engine, project, plan, order, listener, images)
        wait(early.values())  # created, then started: as docker compose's output shows
        for name in order:  # dependencies first: a task never waits for one not yet started
            service = project.services[name]
            deps = {
                d.service: futures[d.service] for d in service.depends_on if d.service in planned
            }
            futures[name] = pool.submit(
                _service_task,
                engine,
                project,
                service,
                plan.for_service(name),
                listener,
                images.get(name, ""),
                deps,
                start,
                early,
            )
    for name, future in futures.items():
        err = future.exception()
        if isinstance(err, DockyardError):
            text = err.message if name in err.message else f"service {name}: {err.message}"
            raise ApplyError(text, hint=err.hint) from err
        if err is not None:
            raise err


def ensure_resources(engine: Containers, project: Project, plan: Plan, listener: Listener) -> None:
    """The plan's networks and volumes; external ones checked."""
    wanted = {a.target for a in plan.actions}
    for spec in project.networks.values():
        if spec.external and _used(project, plan, network=spec.key):
            try:
                engine.networks.get(spec.name)
            except NotFound:
                raise NotFound(
                    f"network {spec.name} declared as external, but could not be found",
                    hint=f"create it: dockyard network create {spec.name}",
                ) from None
        if spec.name in wanted and not spec.external:
            engine.networks.create(
                spec.name,
                subnet=spec.subnet,
                gateway=spec.gateway,
                ip_range=spec.ip_range,
                internal=spec.internal,
                labels={**spec.labels, **tr.resource_labels(project, "network", spec.key)},
                options={"com.docker.network.bridge.name": spec.bridge_name}
                if spec.bridge_name
                else None,
            )
            listener.event("Network", spec.name, "Created")
    for vol in project.volumes.values():
        if vol.external and _used(project, plan, volume=vol.key):
            try:
                engine.volumes.get(vol.name)
            except NotFound:
                raise NotFound(
                    f"external volume {vol.name!r} not found",
                    hint=f"create it: dockyard volume create {vol.name}",
                ) from None
        if vol.name in wanted and not vol.external:
            engine.volumes.create(
                vol.name, labels={**vol.labels, **tr.resource_labels(project, "volume", vol.key)}
            )
            listener.event("Volume", vol.name, "Created")


def _wake_helpers(engine: Containers, project: Project, plan: Plan) -> None:
    """Start the helpers of the networks containers will join, in the background: a helper
    takes a few hundred milliseconds to start (a fresh interpreter, pyroute2), time the
    containers' creation can use; the first container's start then finds it up."""
    import threading

    from dockyard.network.client import request

    def ping(name: str) -> None:
        with contextlib.suppress(DockyardError):  # the containers' own attach reports it
            request(engine.helper, engine.networks.get(name), {"op": "ping"})

    starting = {
        a.service for a in plan.actions if a.service and a.verb not in (Verb.KEEP, Verb.REMOVE)
    }
    keys = {n.key for name in starting for n in project.services[name].networks}
    for key in sorted(keys):
        spec = project.networks[key]
        threading.Thread(target=ping, args=(spec.name,), daemon=True).start()


def _used(project: Project, plan: Plan, *, network: str = "", volume: str = "") -> bool:
    for name in plan.order:
        service = project.services[name]
        if network and any(n.key == network for n in service.networks):
            return True
        if volume and any(m.source == volume for m in service.volumes if m.type == "volume"):
            return True
    return False


def _create_early(
    pool: ThreadPoolExecutor,
    engine: Containers,
    project: Project,
    plan: Plan,
    order: list[str],
    listener: Listener,
    images: Mapping[str, str],
) -> dict[str, Future[Container]]:
    """Create the new containers of the services that wait for nothing, before any service
    task runs (docker compose, too, creates before it starts): those creates then overlap
    the networks' helpers' start instead of queueing behind the first starts. The services
    with dependencies create theirs in their task, once the dependencies are up (a shared
    namespace needs its owner running). Returns action target -> its container's future."""
    early: dict[str, Future[Container]] = {}
    for name in order:
        service = project.services[name]
        if service.depends_on or service.shares_namespace_with:
            continue
        for action in plan.for_service(name):
            if action.verb is Verb.CREATE:
                early[action.target] = pool.submit(
                    _create, engine, project, service, action, listener, images.get(name, "")
                )
    return early


def _create(
    engine: Containers,
    project: Project,
    service: Service,
    action: Action,
    listener: Listener,
    image_id: str,
) -> Container:
    created = action.verb is Verb.CREATE
    listener.event("Container", action.target, "Creating" if created else "Recreate")
    container = replicas.create(
        engine, project, service, tr.Replica(number=action.number), image_id=image_id
    )
    listener.event("Container", action.target, "Created" if created else "Recreated")
    return container


def _service_task(
    engine: Containers,
    project: Project,
    service: Service,
    actions: list[Action],
    listener: Listener,
    image_id: str,
    deps: Mapping[str, Future[None]],
    start: bool,
    early: Mapping[str, Future[Container]],
) -> None:
    for dep in service.depends_on:
        future = deps.get(dep.service)
        if future is None:
            continue
        if future.exception() is not None:
            raise waits.DependencyFailed(
                f"service {service.name}: dependency {dep.service} failed to start"
            )
        if start and any(a.verb is not Verb.KEEP for a in actions):
            shown = project.services[dep.service].container_name_for(project.name, 1)
            if dep.condition != "service_started":
                listener.event("Container", shown, "Waiting")
            waits.wait_for(engine, project.name, dep.service, dep.condition)
            if dep.condition != "service_started":
                listener.event(
                    "Container",
                    shown,
                    "Healthy" if dep.condition == "service_healthy" else "Exited",
                )
    for action in actions:
        _act(engine, project, service, action, listener, image_id, start, early.get(action.target))


def _act(
    engine: Containers,
    project: Project,
    service: Service,
    action: Action,
    listener: Listener,
    image_id: str,
    start: bool,
    created: Future[Container] | None,
) -> None:
    name = action.target
    verb = action.verb
    if verb is Verb.KEEP:
        listener.event("Container", name, "Running")
        return
    if verb in (Verb.REMOVE, Verb.RECREATE, Verb.RESTART):
        old = engine.get(action.container_id)
        listener.event("Container", name, "Stopping")
        replicas.stop(engine, old, service.stop_grace_period)
        listener.event("Container", name, "Stopped")
        if verb is Verb.RESTART:
            replicas.start(engine, old)
            listener.event("Container", name, "Started")
            return
        replicas.remove(engine, old)
        if verb is Verb.REMOVE:
            listener.event("Container", name, "Removed")
            return
    if created is not None:
        container = created.result()
    elif verb in (Verb.CREATE, Verb.RECREATE):
        container = _create(engine, project, service, action, listener, image_id)
    else:
        container = engine.get(action.container_id)
    if start:
        listener.event("Container", name, "Starting")
        replicas.start(engine, container)
        listener.event("Container", name, "Started")
