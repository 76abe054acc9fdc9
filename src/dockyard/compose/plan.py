"""``plan(desired, actual) -> list[Action]``: what ``up`` must do, decided without side effects.

Desired: the project (its active services, their scale and config hashes) and the image each
service runs. Actual: the project's containers (:class:`Observed`, read from their labels and
state), and the networks and volumes that exist. The plan:

1. creates the missing networks and volumes;
2. per service, in dependency order, per replica number ``1..scale``: ``create`` a missing
   container; ``recreate`` one whose config hash or image differ (or ``--force-recreate``;
   never with ``--no-recreate``), or that shares the namespace of a recreated container;
   ``start`` a stopped one; ``keep`` a running one; ``restart`` a running one when a
   dependency declared with ``restart: true`` is recreated; ``remove`` replicas above the
   scale (highest number first);
3. removes orphans (containers of services no longer in the files) with ``--remove-orphans``,
   else warns about them.

Running ``up`` again on an unchanged project plans only ``keep``s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from dockyard.compose.model import Project, Service


class Verb(StrEnum):
    CREATE_NETWORK = "create network"
    CREATE_VOLUME = "create volume"
    CREATE = "create"
    RECREATE = "recreate"
    START = "start"
    RESTART = "restart"
    KEEP = "keep"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """One existing container of the project, as its labels and state describe it."""

    id: str
    name: str
    service: str
    number: int
    config_hash: str = ""
    image_id: str = ""
    status: str = "running"
    exit_code: int = 0
    health: str = ""
    oneoff: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """One step. ``target`` is the container, network or volume name; ``container_id`` the
    existing container a recreate, start, keep, restart or remove is about."""

    verb: Verb
    target: str
    service: str = ""
    number: int = 0
    container_id: str = ""
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.verb} {self.target}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class UpOptions:
    """The ``up`` flags the plan depends on."""

    force_recreate: bool = False
    no_recreate: bool = False
    remove_orphans: bool = False
    no_start: bool = False
    services: tuple[str, ...] = ()  # targets; empty: every active service
    no_deps: bool = False  # the targets only, not what they depend on


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    actions: tuple[Action, ...] = ()
    warnings: tuple[str, ...] = ()
    order: tuple[str, ...] = ()  # the planned services, dependencies first

    def for_service(self, service: str) -> list[Action]:
        return [a for a in self.actions if a.service == service and a.verb not in _RESOURCE]

    @property
    def changes(self) -> list[Action]:
        """The actions that change something (not ``keep``)."""
        return [a for a in self.actions if a.verb is not Verb.KEEP]


_RESOURCE = (Verb.CREATE_NETWORK, Verb.CREATE_VOLUME)


@dataclass(slots=True)
class _Planning:
    project: Project
    images: Mapping[str, str]
    options: UpOptions
    recreated: set[str] = field(default_factory=set)
    actions: list[Action] = field(default_factory=list)


def plan(
    project: Project,
    images: Mapping[str, str],
    actual: Sequence[Observed],
    *,
    networks: Iterable[str] = (),
    volumes: Iterable[str] = (),
    options: UpOptions = UpOptions(),
) -> Plan:
    """Decide what ``up`` does (see the module docstring).

    Args:
        images: service name -> the image ID its containers must run ("" when unknown: the
            image is not compared).
        networks, volumes: the names of those that exist on the engine.
    """
    order = dependency_order(project, options.services)
    if options.no_deps and options.services:
        order = [name for name in order if name in options.services]
    run = _Planning(project=project, images=images, options=options)
    have_networks, have_volumes = set(networks), set(volumes)
    used = _used_resources(project, order)
    for spec in project.networks.values():
        if spec.key in used[0] and not spec.external and spec.name not in have_networks:
            run.actions.append(Action(verb=Verb.CREATE_NETWORK, target=spec.name))
    for vol in project.volumes.values():
        if vol.key in used[1] and not vol.external and vol.name not in have_volumes:
            run.actions.append(Action(verb=Verb.CREATE_VOLUME, target=vol.name))
    mine = [c for c in actual if not c.oneoff]
    for name in order:
        _plan_service(run, project.services[name], [c for c in mine if c.service == name])
    warnings = []
    orphans = [c for c in mine if c.service not in project.all_services]
    if orphans and options.remove_orphans:
        run.actions += [
            Action(
                verb=Verb.REMOVE,
                target=c.name,
                service=c.service,
                number=c.number,
                container_id=c.id,
                reason="orphan",
            )
            for c in orphans
        ]
    elif orphans:
        names = ", ".join(sorted(c.name for c in orphans))
        warnings.append(
            f"Found orphan containers ({names}) for this project. If you removed or renamed "
            "this service in your compose file, you can run this command with the "
            "--remove-orphans flag to clean it up."
        )
    return Plan(actions=tuple(run.actions), warnings=tuple(warnings), order=tuple(order))


def _plan_service(run: _Planning, service: Service, existing: list[Observed]) -> None:
    project, options = run.project, run.options
    by_number: dict[int, Observed] = {}
    extra: list[Observed] = []
    for c in sorted(existing, key=lambda c: (c.number, c.status != "running")):
        if c.number in by_number:
            extra.append(c)
        else:
            by_number[c.number] = c
    image = run.images.get(service.name, "")
    restart_reason = _restart_reason(run, service)
    recreate_all = _namespace_owner_recreated(run, service)
    for number in range(1, service.scale + 1):
        name = service.container_name_for(project.name, number)
        base = Action(verb=Verb.CREATE, target=name, service=service.name, number=number)
        found = by_number.get(number)
        if found is None:
            run.actions.append(base)
            run.recreated.add(service.name)
            continue
        reason = recreate_all or _diverged(found, service, image, options)
        keep = Action(
            verb=Verb.KEEP,
            target=found.name,
            service=service.name,
            number=number,
            container_id=found.id,
        )
        if reason and not options.no_recreate:
            run.actions.append(_with(keep, Verb.RECREATE, reason))
            run.recreated.add(service.name)
        elif found.status in ("created", "exited", "dead") and not options.no_start:
            run.actions.append(_with(keep, Verb.START, ""))
        elif restart_reason and found.status == "running":
            run.actions.append(_with(keep, Verb.RESTART, restart_reason))
        else:
            run.actions.append(keep)
    surplus = [c for n, c in by_number.items() if n > service.scale] + extra
    for c in sorted(surplus, key=lambda c: -c.number):
        run.actions.append(
            Action(
                verb=Verb.REMOVE,
                target=c.name,
                service=service.name,
                number=c.number,
                container_id=c.id,
                reason="scaled down",
            )
        )


def _with(action: Action, verb: Verb, reason: str) -> Action:
    return Action(
        verb=verb,
        target=action.target,
        service=action.service,
        number=action.number,
        container_id=action.container_id,
        reason=reason,
    )


def _diverged(found: Observed, service: Service, image: str, options: UpOptions) -> str:
    if options.force_recreate:
        return "--force-recreate"
    if found.config_hash != service.config_hash:
        return "config changed"
    if image and found.image_id and image != found.image_id:
        return "image changed"
    return ""


def _restart_reason(run: _Planning, service: Service) -> str:
    for dep in service.depends_on:
        if dep.restart and dep.service in run.recreated:
            return f"{dep.service} was recreated"
    return ""


def _namespace_owner_recreated(run: _Planning, service: Service) -> str:
    owner = service.shares_namespace_with
    if owner and owner in run.recreated:
        return f"joins the network namespace of {owner}, which is recreated"
    return ""


def dependency_order(project: Project, targets: Sequence[str] = ()) -> list[str]:
    """Active services (``targets`` and what they depend on; all when empty), each after its
    dependencies, otherwise in file order."""
    services = project.services
    wanted = list(targets) or list(services)
    out: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in services:
            return
        seen.add(name)
        for dep in services[name].depends_on:
            visit(dep.service)
        out.append(name)

    for name in wanted:
        visit(name)
    return out


def _used_resources(project: Project, order: Sequence[str]) -> tuple[set[str], set[str]]:
    """The network and volume keys the planned services use."""
    networks: set[str] = set()
    volumes: set[str] = set()
    for name in order:
        service = project.services[name]
        networks |= {n.key for n in service.networks}
        volumes |= {m.source for m in service.volumes if m.type == "volume" and m.source}
    return networks, volumes
