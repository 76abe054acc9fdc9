"""Waiting for a service's containers: the ``depends_on`` conditions and ``up --wait``.

A condition holds when every (non one-off) container of the service meets it:
``service_started`` running (or already finished), ``service_healthy`` reported healthy by its
monitor's healthcheck, ``service_completed_successfully`` exited with code 0. A condition that
can no longer hold (unhealthy, exited early, failed) is an error at once, not a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from dockyard.compose import observe
from dockyard.compose.model import Condition
from dockyard.errors import FailedPrecondition, Unavailable

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.store import Container

POLL = 0.05


class DependencyFailed(FailedPrecondition):
    """A dependency's condition cannot hold (docker compose: ``dependency failed to start``)."""


def wait_for(
    engine: Containers,
    project: str,
    service: str,
    condition: Condition,
    *,
    timeout: float | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> None:
    """Block until ``condition`` holds for ``service``'s containers.

    Raises:
        DependencyFailed: it cannot hold any more (the container is named).
        Unavailable: ``timeout`` seconds passed, or ``cancelled()`` said stop.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        containers = [
            c
            for c in observe.project_containers(engine, project)
            if observe.service_of(c) == service
        ]
        if containers and all(_holds(c, condition) for c in containers):
            return
        if cancelled():
            raise Unavailable(f"service {service}: stopped waiting for {condition}")
        if deadline is not None and time.monotonic() > deadline:
            raise Unavailable(
                f"service {service}: {condition} did not hold within {timeout:g}s",
                hint="see `compose ps` and `compose logs " + service + "`",
            )
        time.sleep(POLL)


def _holds(container: Container, condition: Condition) -> bool:
    """Whether ``condition`` holds for ``container``; raises when it never will."""
    status = container.status
    name = container.name
    if condition is Condition.STARTED:
        if status == "created" and container.state.finished_at:
            raise DependencyFailed(f"dependency failed to start: container {name} did not start")
        return status != "created"
    if condition is Condition.COMPLETED:
        if status in ("exited", "dead"):
            code = int(container.state.exit_code)
            if code != 0:
                raise DependencyFailed(
                    f"service {observe.service_of(container)} didn't complete successfully: "
                    f"exit {code}",
                    hint=f"see `compose logs {observe.service_of(container)}`",
                )
            return True
        return False
    health = str((container.state.health or {}).get("Status", ""))
    if health == "healthy":
        return True
    if health == "unhealthy":
        raise DependencyFailed(
            f"dependency failed to start: container {name} is unhealthy",
            hint="see `compose logs` and the healthcheck",
        )
    if status in ("exited", "dead"):
        raise DependencyFailed(
            f"dependency failed to start: container {name} exited ({container.state.exit_code})"
        )
    hc = container.config.healthcheck
    if status == "running" and (hc is None or not hc.test or hc.test[0] == "NONE"):
        raise DependencyFailed(
            f"dependency failed to start: container {name} has no healthcheck configured",
            hint="add a healthcheck, or use condition: service_started",
        )
    return False


def wait_running(
    engine: Containers, project: str, services: list[str], timeout: float | None
) -> None:
    """``up --wait``: every service running, and healthy where it has a healthcheck (a
    one-shot service that exited 0 counts).

    Raises:
        DependencyFailed, Unavailable: as :func:`wait_for`.
    """
    for service in services:
        containers = [
            c
            for c in observe.project_containers(engine, project)
            if observe.service_of(c) == service
        ]
        checked = any(
            c.config.healthcheck is not None
            and c.config.healthcheck.test[:1] not in ((), ("NONE",))
            for c in containers
        )
        if checked:
            wait_for(engine, project, service, Condition.HEALTHY, timeout=timeout)
        elif all(c.status in ("exited", "dead") for c in containers) and containers:
            wait_for(engine, project, service, Condition.COMPLETED, timeout=timeout)
        else:
            wait_for(engine, project, service, Condition.STARTED, timeout=timeout)
