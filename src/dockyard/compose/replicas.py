"""Making, stopping and removing one container of a service, through the engine.

:func:`create` is the short script behind every ``create`` and ``recreate`` of a plan: create
the bind sources docker compose creates (short syntax), create the container on its first
network, then connect it to the service's other networks (each with the service name as an
alias) before it ever starts.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from dockyard.compose import observe
from dockyard.compose import translate as tr
from dockyard.compose.model import MountType, Project, Service
from dockyard.errors import FailedPrecondition, NotFound

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.store import Container


def create(
    engine: Containers,
    project: Project,
    service: Service,
    replica: tr.Replica,
    *,
    image_id: str,
) -> Container:
    """Create (not start) one container of ``service``.

    Raises:
        NotFound: its image, a network or the service it shares a namespace with is missing.
        Conflict: the name is taken (by a container of another project, say).
        FailedPrecondition: a bind source is missing and may not be created.
    """
    from dockyard.engine.create import create as engine_create
    from dockyard.engine.netconnect import connect

    _bind_sources(service)
    namespace = _namespace(engine, project, service)
    request = tr.create_request(project, service, replica, image_id=image_id, namespace=namespace)
    config = engine_create(engine.store, engine.images, engine.volumes, request, engine.networks)
    container = engine.get(config.id)
    try:
        for name, attachment in tr.extra_networks(project, service):
            connect(
                engine,
                container,
                name,
                aliases=tr.aliases(service, attachment),
                ip=attachment.ipv4_address,
            )
    except BaseException:
        remove(engine, container)
        raise
    return container


def _bind_sources(service: Service) -> None:
    for mount in service.volumes:
        if mount.type is not MountType.BIND or os.path.exists(mount.source):
            continue
        if not mount.create_host_path:
            raise FailedPrecondition(
                f"service {service.name}: bind source path does not exist: {mount.source}",
                hint="create it, or set bind.create_host_path: true",
            )
        os.makedirs(mount.source, exist_ok=True)


def _namespace(engine: Containers, project: Project, service: Service) -> str:
    """``container:<id>`` of the first container of the service whose network namespace
    ``service`` shares (``network_mode: service:X``), or ""."""
    owner = service.shares_namespace_with
    if not owner:
        return ""
    for c in observe.project_containers(engine, project.name):
        if observe.service_of(c) == owner and c.status == "running":
            return f"container:{c.id}"
    raise NotFound(
        f"service {service.name}: network_mode service:{owner}: no running container of {owner}",
        hint=f"start {owner} first (`compose up {owner}`)",
    )


def start(engine: Containers, container: Container) -> None:
    from dockyard.engine import lifecycle

    lifecycle.start(engine, container)


def stop(engine: Containers, container: Container, timeout: int | None = None) -> bool:
    """Stop it if it runs (its ``stop_grace_period`` unless ``timeout`` is given)."""
    from dockyard.engine import lifecycle

    return lifecycle.stop(engine, container, timeout)


def remove(engine: Containers, container: Container, *, volumes: bool = True) -> None:
    """Remove it (killing it if it still runs), with its anonymous volumes by default."""
    from dockyard.engine.remove import remove as engine_remove

    try:
        engine_remove(engine, engine.get(container.id), force=True, volumes=volumes)
    except NotFound:
        return


def preload() -> None:
    """Import every module that creating and starting a container imports, before threads do
    that work in parallel: a fork (the monitor's) must not happen while another thread holds
    an import lock, and imports done once here are never done again."""
    import importlib

    for name in (
        "dockyard.engine.create",
        "dockyard.engine.netconnect",
        "dockyard.engine.lifecycle",
        "dockyard.engine.remove",
        "dockyard.engine.networking",
        "dockyard.engine.endpoints",
        "dockyard.engine.bundle",
        "dockyard.engine.specgen",
        "dockyard.engine.specdefaults",
        "dockyard.engine.seccompgen",
        "dockyard.engine.users",
        "dockyard.engine.volume_copy",
        "dockyard.monitor.spawn",
        "dockyard.monitor.launch",
        "dockyard.monitor.relaunch",
        "dockyard.monitor.logfile",
        "dockyard.monitor.restart",
        "dockyard.monitor.exits",
        "dockyard.runtime.create",
        "dockyard.runtime.start",
        "dockyard.runtime.child",
        "dockyard.runtime.console",
        "dockyard.runtime.delete",
        "dockyard.runtime.kill",
        "dockyard.runtime.state",
        "dockyard.network.client",
        "dockyard.network.sandbox",
        "dockyard.network.ports",
        "dockyard.linux.net",
        "dockyard.linux.fs",
        "dockyard.linux.mount",
        "dockyard.snapshot.mount",
        "dockyard.cgroups",
    ):
        importlib.import_module(name)
