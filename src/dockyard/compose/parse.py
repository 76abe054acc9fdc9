"""The merged canonical document -> the typed :class:`~.model.Project`, with the checks that
need the whole project: references between services, networks, volumes, secrets and configs,
dependency cycles, profiles, ``container_name`` with several replicas.

:func:`project` also returns the normalised document ``config`` prints (defaults filled in:
the ``default`` network, resource names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dockyard.compose.diagnostics import ComposeError, Where, did_you_mean
from dockyard.compose.model import (
    NetworkSpec,
    Project,
    Service,
    VolumeSpec,
)
from dockyard.compose.service import service_model


def project(
    doc: dict[str, Any],
    *,
    name: str,
    working_dir: Path,
    files: tuple[str, ...],
    profiles: Iterable[str],
    where: Where,
) -> tuple[Project, dict[str, Any]]:
    """Build the project; return it and the normalised document.

    Raises:
        ComposeError: a reference to something undefined, a dependency cycle, an active
            service depending on one whose profile is not enabled, a service with neither
            ``image`` nor ``build``, ``container_name`` with more than one replica.
    """
    services_doc: dict[str, Any] = doc.get("services") or {}
    for service in services_doc.values():
        if not service.get("networks") and not service.get("network_mode"):
            service["networks"] = {"default": None}
    uses_default = any("default" in (s.get("networks") or {}) for s in services_doc.values())
    networks_doc = dict(doc.get("networks") or {})
    if uses_default and networks_doc.get("default") is None:
        networks_doc["default"] = {}
    networks = {k: _network(name, k, v or {}) for k, v in networks_doc.items()}
    volumes = {k: _volume(name, k, v or {}) for k, v in (doc.get("volumes") or {}).items()}
    files_doc = {kind: doc.get(kind) or {} for kind in ("secrets", "configs")}
    services = {
        key: service_model(key, svc, networks, volumes, files_doc, where.key("services").key(key))
        for key, svc in services_doc.items()
    }
    _check_dependencies(services, where)
    wanted = set(profiles)
    active = {k: s for k, s in services.items() if not s.profiles or wanted & set(s.profiles)}
    disabled = {k: s for k, s in services.items() if k not in active}
    result = Project(
        name=name,
        working_dir=str(working_dir),
        config_files=files,
        services=active,
        disabled=disabled,
        networks=networks,
        volumes=volumes,
    )
    normalised = {"name": name, **{k: v for k, v in doc.items() if k not in ("name", "version")}}
    normalised["services"] = {k: services_doc[k] for k in active}
    if networks_doc:
        normalised["networks"] = {
            k: _named(v or {}, networks[k].name) for k, v in networks_doc.items()
        }
    if volumes:
        normalised["volumes"] = {
            k: _named(v or {}, volumes[k].name) for k, v in (doc.get("volumes") or {}).items()
        }
    return result, normalised


def enable(project_: Project, names: Iterable[str], *, with_dependencies: bool = True) -> Project:
    """``project_`` with the services ``names`` (and, transitively, what they depend on)
    active, as naming a service on the command line enables it whatever its profiles.

    Raises:
        ComposeError: a name that is no service of the project.
    """
    wanted = list(names)
    active = dict(project_.services)
    everything = project_.all_services
    while wanted:
        name = wanted.pop()
        if name not in everything:
            raise ComposeError(
                f"no such service: {name}",
                hint=did_you_mean(name, everything) or "see `compose config --services`",
            )
        if name not in active:
            active[name] = everything[name]
        if with_dependencies:
            wanted += [
                d.service
                for d in everything[name].depends_on
                if d.service in everything and d.service not in active
            ]
    ordered = {k: active[k] for k in everything if k in active}
    disabled = {k: s for k, s in everything.items() if k not in active}
    import dataclasses

    return dataclasses.replace(project_, services=ordered, disabled=disabled)


def check_active(project_: Project) -> None:
    """Every required dependency of an active service is active too.

    Raises:
        ComposeError: one is disabled by its profiles (the profiles to enable are named).
    """
    for name, service in project_.services.items():
        for dep in service.depends_on:
            other = project_.disabled.get(dep.service)
            if other is not None and dep.required:
                raise ComposeError(
                    f"service {name!r} depends on service {dep.service!r}, which is disabled "
                    f"by its profiles ({', '.join(other.profiles)})",
                    hint=f"enable one with --profile {other.profiles[0]}, or name the service",
                )


def _named(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return {"name": name, **{k: v for k, v in doc.items() if k != "name"}}


def _network(project_name: str, key: str, doc: dict[str, Any]) -> NetworkSpec:
    external = doc.get("external", False)
    name = doc.get("name") or (external.get("name") if isinstance(external, dict) else "")
    if not name:
        name = key if external else f"{project_name}_{key}"
    ipam = (doc.get("ipam") or {}).get("config") or [{}]
    if len(ipam) > 1:
        raise ComposeError(
            f"network {key}: several ipam.config entries are not supported",
            hint="a dockyard network has one IPv4 subnet",
        )
    opts = doc.get("driver_opts") or {}
    return NetworkSpec(
        key=key,
        name=name,
        external=bool(external),
        internal=bool(doc.get("internal")),
        labels=doc.get("labels") or {},
        subnet=ipam[0].get("subnet", ""),
        gateway=ipam[0].get("gateway", ""),
        ip_range=ipam[0].get("ip_range", ""),
        bridge_name=opts.get("com.docker.network.bridge.name", ""),
    )


def _volume(project_name: str, key: str, doc: dict[str, Any]) -> VolumeSpec:
    external = doc.get("external", False)
    name = doc.get("name") or (external.get("name") if isinstance(external, dict) else "")
    if not name:
        name = key if external else f"{project_name}_{key}"
    return VolumeSpec(key=key, name=name, external=bool(external), labels=doc.get("labels") or {})


def _check_dependencies(services: Mapping[str, Service], where: Where) -> None:
    for name, service in services.items():
        for dep in service.depends_on:
            if dep.service not in services and dep.required:
                raise ComposeError(
                    f"{where.key('services').key(name)}: service {name!r} depends on undefined "
                    f"service {dep.service!r}",
                    hint=did_you_mean(dep.service, services)
                    or "define it, or remove the dependency",
                )
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*trail[trail.index(name) :], name])
            raise ComposeError(
                f"dependency cycle detected: {cycle}",
                hint="break the cycle in depends_on, links or network_mode",
            )
        state[name] = 1
        for dep in services[name].depends_on:
            if dep.service in services:
                visit(dep.service, [*trail, name])
        state[name] = 2

    for name in services:
        visit(name, [])
