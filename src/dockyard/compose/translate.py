"""A service replica -> the engine's :class:`~dockyard.engine.create.CreateRequest` (pure).

What ``docker compose`` sets on each container: the name ``<project>-<service>-<n>``, the
``com.docker.compose.*`` labels that tools read (project, service, container number, one-off,
config hash, working directory, files, image), the service name as a DNS alias on each of its
networks (so ``db`` resolves on ``<project>_default``), and everything the service's keys say.
The first network is joined at create; :func:`extra_networks` lists the others (joined with
``network connect`` before the first start, each with its own aliases and address).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard import __version__
from dockyard.compose.model import Mount, MountType, Project, Service, ServiceNetwork
from dockyard.engine.create import CreateRequest, VolumeRequest
from dockyard.engine.options import (
    DEFAULT_SHM_SIZE,
    BindMount,
    IpcMode,
    NetworkRequest,
    RunOptions,
    Ulimit,
)
from dockyard.oci.containerconfig import HealthConfig

_BLKIO = {  # blkio_config key -> (RunOptions field, kind of value)
    "weight_device": ("blkio_weight_device", "weight"),
    "device_read_bps": ("device_read_bps", "bps"), "device_write_bps": ("device_write_bps", "bps"),
    "device_read_iops": ("device_read_iops", "iops"),
    "device_write_iops": ("device_write_iops", "iops"),
}  # fmt: skip

LABEL = "com.docker.compose"
PROJECT = f"{LABEL}.project"
SERVICE = f"{LABEL}.service"
NUMBER = f"{LABEL}.container-number"
ONEOFF = f"{LABEL}.oneoff"
CONFIG_HASH = f"{LABEL}.config-hash"
IMAGE = f"{LABEL}.image"
WORKING_DIR = f"{LABEL}.project.working_dir"
CONFIG_FILES = f"{LABEL}.project.config_files"
VERSION = f"{LABEL}.version"
DEPENDS_ON = f"{LABEL}.depends_on"
NETWORK = f"{LABEL}.network"
VOLUME = f"{LABEL}.volume"


@dataclass(frozen=True, slots=True, kw_only=True)
class Replica:
    """Which container of a service to make: its number, a name (default: the service's),
    whether it is a one-off (``compose run``), and what ``run`` overrides."""

    number: int
    name: str = ""
    oneoff: bool = False
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: Mapping[str, str] | None = None
    tty: bool | None = None
    auto_remove: bool = False
    ports: bool = True  # ``run`` publishes no ports unless asked (--service-ports)


def resource_labels(project: Project, kind: str, key: str) -> dict[str, str]:
    """The labels of a network (``kind`` network) or volume the project creates."""
    return {PROJECT: project.name, f"{LABEL}.{kind}": key, VERSION: __version__}


def create_request(
    project: Project, service: Service, replica: Replica, *, image_id: str, namespace: str = ""
) -> CreateRequest:
    """The request for one container of ``service``.

    Args:
        image_id: the image the container runs (its ID goes into a label).
        namespace: ``container:<id>`` for ``network_mode: service:X`` (X's container).
    """
    name = replica.name or service.container_name_for(project.name, replica.number)
    binds, volumes, tmpfs = _mounts(project, service)
    env = dict(service.environment)
    if replica.environment:
        env.update(replica.environment)
    options = RunOptions(
        entrypoint=replica.entrypoint if replica.entrypoint is not None else service.entrypoint,
        cmd=replica.command if replica.command is not None else service.command or (),
        env=tuple(f"{k}={v}" for k, v in env.items()),
        workdir=service.working_dir,
        user=service.user,
        hostname=service.hostname,
        domainname=service.domainname,
        oom_score_adj=service.oom_score_adj,
        terminal=service.tty if replica.tty is None else replica.tty,
        privileged=service.privileged,
        cap_add=service.cap_add,
        cap_drop=service.cap_drop,
        security_opt=service.security_opt,
        read_only=service.read_only,
        sysctls=dict(service.sysctls),
        ulimits=tuple(Ulimit(name=u.name, soft=u.soft, hard=u.hard) for u in service.ulimits),
        tmpfs=tmpfs,
        binds=binds,
        memory=service.memory,
        memory_swap=service.memory_swap,
        cpu_shares=service.cpu_shares,
        cpus=service.cpus,
        cpuset_cpus=service.cpuset,
        pids_limit=service.pids_limit,
        **_blkio(service),
        ipc=IpcMode(service.ipc or "private"),
        shm_size=service.shm_size or DEFAULT_SHM_SIZE,
    )
    health = service.healthcheck
    return CreateRequest(
        image=service.image_name(project.name),
        options=options,
        name=name,
        volumes=volumes,
        tty=options.terminal,
        open_stdin=service.stdin_open,
        labels=labels(project, service, replica, image_id),
        stop_signal=service.stop_signal,
        stop_timeout=service.stop_grace_period,
        health=_health(health) if health and not health.disable else None,
        no_healthcheck=bool(health and (health.disable or health.test[:1] == ("NONE",))),
        restart="no" if replica.oneoff else service.restart,
        auto_remove=replica.auto_remove,
        log_opts=dict(service.log_options),
        init=service.init,
        add_hosts=service.extra_hosts,
        dns=service.dns,
        dns_search=service.dns_search,
        dns_options=service.dns_opt,
        network=_network(project, service, namespace),
        ports=service.ports if replica.ports else (),
        expose=service.expose,
        platform=service.platform,
    )


def labels(project: Project, service: Service, replica: Replica, image_id: str) -> dict[str, str]:
    depends = ",".join(
        f"{d.service}:{d.condition}:{str(d.restart).lower()}" for d in service.depends_on
    )
    return {
        **service.labels,
        PROJECT: project.name,
        SERVICE: service.name,
        NUMBER: str(replica.number),
        ONEOFF: "True" if replica.oneoff else "False",
        CONFIG_HASH: service.config_hash,
        IMAGE: image_id,
        WORKING_DIR: project.working_dir,
        CONFIG_FILES: ",".join(project.config_files),
        VERSION: __version__,
        DEPENDS_ON: depends,
    }


def extra_networks(project: Project, service: Service) -> list[tuple[str, ServiceNetwork]]:
    """(engine network name, attachment) of each network after the first."""
    return [(project.networks[n.key].name, n) for n in service.networks[1:]]


def aliases(service: Service, attachment: ServiceNetwork) -> tuple[str, ...]:
    """What the network's DNS answers for besides the container's name: the service name
    and the attachment's aliases."""
    return tuple(dict.fromkeys((service.name, *attachment.aliases)))


def _blkio(service: Service) -> dict[str, Any]:
    """The RunOptions fields of the service's ``blkio_config`` (device nodes read here).

    Raises:
        InvalidArgument: naming the service and key: not a block device, a bad value.
    """
    if not (service.blkio_weight or service.blkio_devices):
        return {}
    from dockyard.engine.blkio import blkio_device, blkio_weight

    where = f"service {service.name}: blkio_config"
    fields: dict[str, Any] = {"blkio_weight": blkio_weight(service.blkio_weight, where)}
    for key, path, value in service.blkio_devices:
        field, kind = _BLKIO[key]
        device = blkio_device(path, value, f"{where}.{key}", kind)
        fields[field] = (*fields.get(field, ()), device)
    return fields


def _network(project: Project, service: Service, namespace: str) -> NetworkRequest:
    mode = service.network_mode
    if mode in ("host", "none"):
        return NetworkRequest(modes=(mode,))
    if mode in ("bridge", "default"):
        return NetworkRequest(modes=("bridge",))
    if mode.startswith("container:"):
        return NetworkRequest(modes=(mode,))
    if namespace:
        return NetworkRequest(modes=(namespace,))
    first = service.networks[0]
    return NetworkRequest(
        modes=(project.networks[first.key].name,),
        aliases=aliases(service, first),
        ip=first.ipv4_address,
    )


def _mounts(
    project: Project, service: Service
) -> tuple[tuple[BindMount, ...], tuple[VolumeRequest, ...], dict[str, str]]:
    binds: list[BindMount] = []
    volumes: list[VolumeRequest] = []
    tmpfs: dict[str, str] = {}
    for entry in service.tmpfs:
        target, _, opts = entry.partition(":")
        tmpfs[target] = opts
    for m in service.volumes:
        if m.type is MountType.BIND:
            binds.append(BindMount(source=m.source, destination=m.target, readonly=m.read_only))
        elif m.type is MountType.VOLUME:
            name = project.volumes[m.source].name if m.source else ""
            volumes.append(
                VolumeRequest(
                    name=name, destination=m.target, readonly=m.read_only, nocopy=m.nocopy
                )
            )
        else:
            tmpfs[m.target] = _tmpfs_options(m)
    binds += [
        BindMount(source=f.file, destination=f.target, readonly=True)
        for f in (*service.secrets, *service.configs)
    ]
    return tuple(binds), tuple(volumes), tmpfs


def _tmpfs_options(m: Mount) -> str:
    opts = [f"size={m.tmpfs_size}"] if m.tmpfs_size else []
    opts += [f"mode={m.tmpfs_mode:o}"] if m.tmpfs_mode else []
    return ",".join(opts)


def _health(h: object) -> HealthConfig:
    from dockyard.compose.model import Health

    assert isinstance(h, Health)
    return HealthConfig(
        test=h.test,
        interval=h.interval,
        timeout=h.timeout,
        start_period=h.start_period,
        start_interval=h.start_interval,
        retries=h.retries,
    )
