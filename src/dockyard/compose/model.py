"""The typed compose project (pure data): what :mod:`.parse` builds from the merged canonical
document and everything after the loader works on.

Words: a *service* is a template for containers (``scale`` of them, numbered from 1); a
*project* is the services, networks and volumes of one compose application, named by
``-p``/``name:``/the directory. Resource names on the engine are the project's:
``<project>_default`` networks, ``<project>_<volume>`` volumes, ``<project>-<service>-<n>``
containers, unless a ``name:`` or ``container_name:`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from dockyard.network.model import PortBinding
from dockyard.oci.platform import Platform


class Condition(StrEnum):
    """When a dependency counts as ready (``depends_on.<service>.condition``)."""

    STARTED = "service_started"
    HEALTHY = "service_healthy"
    COMPLETED = "service_completed_successfully"


class MountType(StrEnum):
    BIND = "bind"
    VOLUME = "volume"
    TMPFS = "tmpfs"


class PullPolicy(StrEnum):
    """``pull_policy`` (``if_not_present`` is ``missing``)."""

    ALWAYS = "always"
    NEVER = "never"
    MISSING = "missing"
    BUILD = "build"


@dataclass(frozen=True, slots=True, kw_only=True)
class Dependency:
    """``depends_on`` entry: start after ``service`` meets ``condition``; ``restart``: restart
    this service when that one is recreated; a dependency not ``required`` may be missing."""

    service: str
    condition: Condition = Condition.STARTED
    restart: bool = False
    required: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    """A ``volumes:`` entry. ``source``: a host path (bind), the project's volume key (volume;
    empty for an anonymous one) or nothing (tmpfs)."""

    type: MountType
    target: str
    source: str = ""
    read_only: bool = False
    create_host_path: bool = False
    nocopy: bool = False
    tmpfs_size: int = 0
    tmpfs_mode: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildSpec:
    """``build:``; ``context`` is absolute; ``dockerfile`` is relative to it (or absolute)."""

    context: str
    dockerfile: str = "Dockerfile"
    dockerfile_inline: str = ""
    args: Mapping[str, str] = field(default_factory=dict)
    target: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str = ""
    no_cache: bool = False
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """``healthcheck:`` with durations in nanoseconds (0: the engine's default)."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0
    disable: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceNetwork:
    """A network a service joins: the project's network key, aliases, a fixed address."""

    key: str
    aliases: tuple[str, ...] = ()
    ipv4_address: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FileMount:
    """A secret or config: the host ``file`` mounted read-only at ``target``."""

    name: str
    file: str
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """One service (``services.<name>``) with its short syntaxes resolved.

    ``config_hash`` digests the service's canonical configuration (without what does not
    change its containers: build, scale, depends_on, profiles, pull_policy); a container whose
    ``com.docker.compose.config-hash`` label differs is recreated.
    """

    name: str
    config_hash: str
    image: str = ""
    build: BuildSpec | None = None
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[PortBinding, ...] = ()
    expose: tuple[str, ...] = ()
    volumes: tuple[Mount, ...] = ()
    networks: tuple[ServiceNetwork, ...] = ()
    network_mode: str = ""
    depends_on: tuple[Dependency, ...] = ()
    healthcheck: Health | None = None
    restart: str = "no"
    scale: int = 1
    memory: int = 0
    memory_swap: int = 0
    cpus: float = 0.0
    cpu_shares: int = 0
    cpuset: str = ""
    pids_limit: int = 0
    blkio_weight: int = 0
    # blkio_config's per-device entries: (key, device path, weight or rate as written)
    blkio_devices: tuple[tuple[str, str, str], ...] = ()
    shm_size: int = 0
    container_name: str = ""
    hostname: str = ""
    domainname: str = ""
    oom_score_adj: int = 0
    user: str = ""
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    stop_grace_period: int | None = None  # seconds
    init: bool = False
    read_only: bool = False
    tmpfs: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    security_opt: tuple[str, ...] = ()
    ulimits: tuple[Ulimit, ...] = ()
    sysctls: Mapping[str, str] = field(default_factory=dict)
    extra_hosts: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_opt: tuple[str, ...] = ()
    log_options: Mapping[str, str] = field(default_factory=dict)
    tty: bool = False
    stdin_open: bool = False
    pull_policy: PullPolicy = PullPolicy.MISSING
    secrets: tuple[FileMount, ...] = ()
    configs: tuple[FileMount, ...] = ()
    profiles: tuple[str, ...] = ()
    ipc: str = ""
    platform: Platform | None = None  # normalised; checked against the host before use

    def image_name(self, project: str) -> str:
        """The image the containers run: ``image:``, else the one built for the service."""
        return self.image or f"{project}-{self.name}"

    def container_name_for(self, project: str, number: int) -> str:
        return self.container_name or f"{project}-{self.name}-{number}"

    @property
    def shares_namespace_with(self) -> str:
        """The service whose network namespace this one joins (``network_mode: service:X``)."""
        kind, _, other = self.network_mode.partition(":")
        return other if kind == "service" else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSpec:
    """A network of the project (``networks.<key>``); ``name`` is the engine's name."""

    key: str
    name: str
    external: bool = False
    internal: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    bridge_name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeSpec:
    """A named volume of the project (``volumes.<key>``); ``name`` is the engine's name."""

    key: str
    name: str
    external: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    """A loaded project. ``services`` are the active ones in file order; ``disabled`` those
    whose profiles are not enabled (``enable`` turns some on)."""

    name: str
    working_dir: str
    config_files: tuple[str, ...] = ()
    services: Mapping[str, Service] = field(default_factory=dict)
    disabled: Mapping[str, Service] = field(default_factory=dict)
    networks: Mapping[str, NetworkSpec] = field(default_factory=dict)
    volumes: Mapping[str, VolumeSpec] = field(default_factory=dict)

    def service(self, name: str) -> Service:
        """An active or disabled service by name (KeyError when there is none)."""
        found = self.services.get(name) or self.disabled.get(name)
        if found is None:
            raise KeyError(name)
        return found

    @property
    def all_services(self) -> Mapping[str, Service]:
        return {**self.services, **self.disabled}
