"""``docker container inspect``: a container as docker's JSON (API 1.41 field names and order).

Pure: everything that needs I/O (the image config, the runtime's name, the snapshotter's name,
sizes, volume paths) comes in as arguments. The effective command and the ``Config`` block
follow moby's rules: the CLI's config is merged with the image's (``daemon/commit.go`` ``merge``)
and ``Path``/``Args`` split the merged entrypoint + cmd (``getEntrypointAndArgs``), so the
values match what ``docker inspect`` shows for the same ``run`` flags. Keys that docker marks
``omitempty`` are left out when empty; keys it always prints are printed (``null`` for an unset
list or pointer), so scripts reading docker's JSON find the same shape.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from dockyard.engine import netview
from dockyard.engine.options import BlkioDevice, NetworkMode, RunOptions
from dockyard.monitor import state as run_state
from dockyard.network.inspect import endpoint_id
from dockyard.network.model import DEFAULT_NETWORK, Endpoint
from dockyard.oci.containerconfig import ContainerConfig as ImageDefaults
from dockyard.oci.image import ImageConfig

if TYPE_CHECKING:
    from dockyard.engine.container import ContainerConfig
    from dockyard.engine.endpoints import Attached
    from dockyard.engine.store import Container

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's time.Time{} in RFC 3339: "never"
_NO_IMAGE = ImageDefaults()
_TRAILING_ZEROS = re.compile(r"\.(\d*?)0+Z$")


def image_defaults(image: ImageConfig | None) -> ImageDefaults:
    """The image's execution defaults (all empty when the image is gone)."""
    return image.config if image is not None else _NO_IMAGE


def entrypoint_and_cmd(
    options: RunOptions, image: ImageDefaults
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """Docker's merge of ``--entrypoint`` and the command with the image's: an explicit
    entrypoint (even empty) drops the image's entrypoint and Cmd; otherwise the image's
    entrypoint stays and the user's command replaces the image's Cmd. ``None`` = unset."""
    if options.entrypoint is not None:
        return options.entrypoint or None, options.cmd or None
    return image.entrypoint or None, options.cmd or image.cmd or None


def command(config: ContainerConfig, image: ImageConfig | None) -> tuple[str, ...]:
    """The container's effective argv (entrypoint + cmd), ``()`` when there is none.

    ``--init``'s ``docker-init --`` is not part of it (docker hides it too).
    """
    entrypoint, cmd = entrypoint_and_cmd(config.options, image_defaults(image))
    return (*(entrypoint or ()), *(cmd or ()))


def config_env(options: RunOptions, image: ImageDefaults) -> list[str] | None:
    """``Config.Env`` as docker shows it: the user's ``-e`` entries, then each image entry
    whose name the user did not set (moby's ``merge``; not the process env, which also gets
    PATH, HOSTNAME and TERM). ``None`` when both are empty."""
    if not options.env:
        return list(image.env) or None
    names = {entry.partition("=")[0] for entry in options.env}
    extra = [entry for entry in image.env if entry.partition("=")[0] not in names]
    return [*options.env, *extra]


def go_time(text: str) -> str:
    """A stored RFC 3339 timestamp as Go prints it (``RFC3339Nano``: fraction zeros
    trimmed); ``""`` (never) is Go's zero time."""
    if not text:
        return ZERO_TIME
    match = _TRAILING_ZEROS.search(text)
    if match is None:
        return text
    fraction = match.group(1)
    return text[: match.start()] + (f".{fraction}Z" if fraction else "Z")


def hostname(config: ContainerConfig) -> str:
    """The container's hostname as ``create`` chose it (``--hostname``, the host's name with
    ``--network host``, else the short ID)."""
    if config.options.hostname:
        return config.options.hostname
    if config.options.network is NetworkMode.HOST:
        return os.uname().nodename
    return config.short_id


def inspect_container(
    container: Container,
    *,
    image_config: ImageConfig | None,
    runtime_name: str,
    driver: str,
    volume_path: Callable[[str], str],
    size: tuple[int, int] | None = None,
    graph_data: Mapping[str, str] | None = None,
    attached: Sequence[Attached] = (),
    sandbox_key: str = "",
) -> dict[str, object]:
    """The object ``docker container inspect`` prints for ``container``.

    Args:
        image_config: the container's image config; None when the image is gone (the image
            defaults are then empty).
        runtime_name: ``HostConfig.Runtime`` (``runc``, or dockyard's own runtime's name).
        driver: the snapshotter's name (``Driver``, ``GraphDriver.Name``).
        volume_path: a volume name -> its host path (``Mounts[].Source``).
        size: (writable bytes, virtual bytes) for ``--size``; None leaves ``SizeRw`` and
            ``SizeRootFs`` out, as docker does.
        graph_data: ``GraphDriver.Data`` (``UpperDir`` ...); None prints ``{}``.
        attached: the endpoints of its current run (:func:`.netview.live_endpoints`):
            addresses and bound ports; empty for a stopped container.
        sandbox_key: its network namespace file while it runs (:func:`.netview.sandbox_key`).
    """
    config = container.config
    image = image_defaults(image_config)
    argv = command(config, image_config)
    doc: dict[str, object] = {
        "Id": config.id,
        "Created": go_time(config.created),
        "Path": argv[0] if argv else "",
        "Args": list(argv[1:]),
        "State": state_json(container.state),
        "Image": config.image_id,
        "ResolvConfPath": str(container.dir / "resolv.conf"),
        "HostnamePath": str(container.dir / "hostname"),
        "HostsPath": str(container.dir / "hosts"),
        "LogPath": str(container.log_path),
        "Name": f"/{config.name}",
        "RestartCount": container.state.restart_count,
        "Driver": driver,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": host_config(config, runtime_name),
        "GraphDriver": {"Data": dict(graph_data or {}), "Name": driver},
    }
    if size is not None:
        doc["SizeRw"], doc["SizeRootFs"] = size
    doc["Mounts"] = mounts(config, volume_path)
    doc["Config"] = config_block(config, image)
    doc["NetworkSettings"] = network_settings(config, attached, sandbox_key)
    return doc


def state_json(state: run_state.RunState) -> dict[str, object]:
    """``State``: docker's flags for each status (paused and restarting count as running,
    as docker's ``Running`` flag does); ``Health`` only when a healthcheck reports."""
    status = state.status
    active = status in run_state.ACTIVE
    doc: dict[str, object] = {
        "Status": status,
        "Running": active,
        "Paused": status == run_state.PAUSED,
        "Restarting": status == run_state.RESTARTING,
        "OOMKilled": bool(state.oom_killed),
        "Dead": status == run_state.DEAD,
        "Pid": state.pid if active else 0,
        "ExitCode": state.exit_code,
        "Error": state.error,
        "StartedAt": go_time(state.started_at),
        "FinishedAt": go_time(state.finished_at),
    }
    if state.health is not None:
        doc["Health"] = dict(state.health)
    return doc


def _binary_size(n: int) -> str:
    """A byte count in the units ``--log-opt max-size`` reads back (``10m``)."""
    for unit, scale in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def _log_config(config: ContainerConfig) -> dict[str, object]:
    opts: dict[str, str] = {}
    if config.log_max_size:
        opts["max-size"] = _binary_size(config.log_max_size)
    if config.log_max_file > 1:
        opts["max-file"] = str(config.log_max_file)
    return {"Type": "json-file", "Config": opts}


def _binds(config: ContainerConfig) -> list[str] | None:
    """``-v SRC:DST[:ro]`` as typed: bind mounts, then named volumes (anonymous ones are in
    ``Config.Volumes``)."""
    out = [f"{b.source}:{b.destination}{':ro' if b.readonly else ''}" for b in config.options.binds]
    out += [
        f"{v.name}:{v.destination}{':ro' if v.readonly else ''}"
        for v in config.volumes
        if not v.anonymous
    ]
    return out or None


def host_config(config: ContainerConfig, runtime_name: str) -> dict[str, object]:
    """``HostConfig`` in docker's field order (``omitempty`` keys only when set)."""
    o = config.options
    doc: dict[str, object] = {
        "Binds": _binds(config),
        "ContainerIDFile": "",
        "LogConfig": _log_config(config),
        "NetworkMode": netview.network_mode(config),
        "PortBindings": netview.port_bindings(config),
        "RestartPolicy": {"Name": config.restart_policy, "MaximumRetryCount": config.restart_max},
        "AutoRemove": config.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "CapAdd": list(o.cap_add) or None,
        "CapDrop": list(o.cap_drop) or None,
        "Dns": list(config.dns),
        "DnsOptions": list(config.dns_options),
        "DnsSearch": list(config.dns_search),
        "ExtraHosts": list(config.add_hosts) or None,
        "GroupAdd": None,
        "IpcMode": str(o.ipc),
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": o.oom_score_adj,
        "PidMode": "",
        "Privileged": o.privileged,
        "PublishAllPorts": False,
        "ReadonlyRootfs": o.read_only,
        "SecurityOpt": list(o.security_opt) or None,
    }
    if o.tmpfs:
        doc["Tmpfs"] = dict(sorted(o.tmpfs.items()))
    doc.update(UTSMode="", UsernsMode="", ShmSize=o.shm_size)
    if o.sysctls:
        doc["Sysctls"] = dict(sorted(o.sysctls.items()))
    doc.update(Runtime=runtime_name, ConsoleSize=[0, 0], Isolation="")
    doc.update(_resources(o))
    from dockyard.engine import specdefaults as d  # the OCI model: only inspect pays for it

    doc["MaskedPaths"] = None if o.privileged else list(d.MASKED_PATHS)
    doc["ReadonlyPaths"] = None if o.privileged else list(d.READONLY_PATHS)
    doc["Init"] = True if config.init else None
    return doc


def _resources(o: RunOptions) -> dict[str, object]:
    """The ``Resources`` fields embedded in ``HostConfig`` (docker doubles ``Memory`` into
    ``MemorySwap`` when only ``--memory`` is given)."""
    swap = o.memory_swap or (2 * o.memory if o.memory > 0 else 0)
    devices = [
        # DeviceMapping keeps no host path: the container path stands in for it.
        {"PathOnHost": m.container_path, "PathInContainer": m.container_path,
         "CgroupPermissions": m.permissions}
        for m in o.devices
    ]  # fmt: skip
    ulimits = [{"Name": u.name, "Hard": u.hard, "Soft": u.soft} for u in o.ulimits]
    return {
        "CpuShares": o.cpu_shares,
        "Memory": o.memory,
        "NanoCpus": round(o.cpus * 1e9),
        "CgroupParent": "",
        "BlkioWeight": o.blkio_weight,
        "BlkioWeightDevice": [{"Path": d.path, "Weight": d.value} for d in o.blkio_weight_device],
        "BlkioDeviceReadBps": _rates(o.device_read_bps),
        "BlkioDeviceWriteBps": _rates(o.device_write_bps),
        "BlkioDeviceReadIOps": _rates(o.device_read_iops),
        "BlkioDeviceWriteIOps": _rates(o.device_write_iops),
        "CpuPeriod": o.cpu_period,
        "CpuQuota": o.cpu_quota,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": o.cpuset_cpus,
        "CpusetMems": "",
        "Devices": devices,
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "KernelMemory": 0,
        "KernelMemoryTCP": 0,
        "MemoryReservation": o.memory_reservation,
        "MemorySwap": swap,
        "MemorySwappiness": None,
        "OomKillDisable": False,
        "PidsLimit": o.pids_limit if o.pids_limit > 0 else None,
        "Ulimits": ulimits or None,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
    }


def _rates(devices: Sequence[BlkioDevice]) -> list[dict[str, object]] | None:
    """docker's ``ThrottleDevice`` list (null when there is none)."""
    return [{"Path": d.path, "Rate": d.value} for d in devices] or None


def mounts(config: ContainerConfig, volume_path: Callable[[str], str]) -> list[dict[str, object]]:
    """``Mounts``: bind mounts and volumes, sorted by destination. ``--tmpfs`` mounts are
    not listed (docker shows them in ``HostConfig.Tmpfs`` only). Named volumes from ``-v``
    get docker's default mode ``z``; image and anonymous volumes ``""``."""
    binds: list[dict[str, object]] = [
        {"Type": "bind", "Source": b.source, "Destination": b.destination,
         "Mode": "ro" if b.readonly else "", "RW": not b.readonly, "Propagation": "rprivate"}
        for b in config.options.binds
    ]  # fmt: skip
    volumes: list[dict[str, object]] = [
        {"Type": "volume", "Name": v.name, "Source": volume_path(v.name),
         "Destination": v.destination, "Driver": "local",
         "Mode": "ro" if v.readonly else ("" if v.anonymous else "z"),
         "RW": not v.readonly, "Propagation": ""}
        for v in config.volumes
    ]  # fmt: skip
    return sorted([*binds, *volumes], key=lambda m: str(m["Destination"]))


def config_block(config: ContainerConfig, image: ImageDefaults) -> dict[str, object]:
    """``Config``: the run flags merged with the image's defaults, docker's field order."""
    o = config.options
    entrypoint, cmd = entrypoint_and_cmd(o, image)
    doc: dict[str, object] = {
        "Hostname": hostname(config),
        "Domainname": o.domainname,
        "User": o.user or image.user,
        "AttachStdin": config.open_stdin,
        "AttachStdout": False,
        "AttachStderr": False,
    }
    exposed = netview.exposed_ports(config, image.exposed_ports)
    if exposed:
        doc["ExposedPorts"] = {port: {} for port in exposed}
    doc.update(Tty=config.tty, OpenStdin=config.open_stdin, StdinOnce=False)
    doc["Env"] = config_env(o, image)
    doc["Cmd"] = list(cmd) if cmd is not None else None
    if config.healthcheck is not None:
        doc["Healthcheck"] = config.healthcheck.to_json()
    volumes = set(image.volumes) | {v.destination for v in config.volumes if v.anonymous}
    doc.update(
        Image=config.image,
        Volumes={path: {} for path in sorted(volumes)} or None,
        WorkingDir=o.workdir or image.working_dir,
        Entrypoint=list(entrypoint) if entrypoint is not None else None,
        OnBuild=None,
        Labels=dict(sorted(config.labels.items())),
    )
    if config.stop_signal:
        doc["StopSignal"] = config.stop_signal
    if config.stop_timeout is not None:
        doc["StopTimeout"] = config.stop_timeout
    return doc


def network_settings(
    config: ContainerConfig, attached: Sequence[Attached] = (), sandbox_key: str = ""
) -> dict[str, object]:
    """``NetworkSettings``: one entry per network (``host``/``none`` as docker names them,
    none with ``container:X``), filled from ``attached`` (the endpoints of the current run,
    empty for a stopped container: docker then keeps each network with empty addresses).
    The top-level addresses are the first network's; ``Ports`` maps each exposed port of a
    running container to its bindings (``null``: not published)."""
    by_id = {a.network_id: a for a in attached}
    by_name = {a.network: a for a in attached}
    pairs = netview.networks(config)
    entries = {
        name: _endpoint_json(config, name, nid, by_id.get(nid) or by_name.get(name))
        for name, nid in pairs
    }
    first = entries[pairs[0][0]] if pairs else _endpoint_json(config, "", "", None)
    ports = netview.ports_json(netview.port_map(config, attached))
    return {
        "Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0, "Ports": ports, "SandboxKey": sandbox_key,
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": first["EndpointID"], "Gateway": first["Gateway"],
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": first["IPAddress"],
        "IPPrefixLen": first["IPPrefixLen"], "IPv6Gateway": "", "MacAddress": first["MacAddress"],
        "Networks": dict(sorted(entries.items())),
    }  # fmt: skip


def _endpoint_json(
    config: ContainerConfig, name: str, network_id: str, live: Attached | None
) -> dict[str, object]:
    """One ``Networks`` entry (docker's ``EndpointSettings``); ``live`` None: not running."""
    attachment = next((a for a in config.networks if a.id == network_id), None)
    aliases = list(attachment.aliases) if attachment is not None else []
    ip = attachment.ip if attachment is not None else ""
    ep = live.endpoint if live is not None else None
    return {
        "IPAMConfig": {"IPv4Address": ip} if ip else None,
        "Links": None,
        "Aliases": aliases or None,
        "NetworkID": network_id,
        "EndpointID": endpoint_id(network_id, config.id) if ep is not None else "",
        "Gateway": live.gateway if live is not None else "",
        "IPAddress": ep.ip if ep is not None else "",
        "IPPrefixLen": live.prefixlen if live is not None else 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": ep.mac if ep is not None else "",
        "DriverOpts": None,
        "DNSNames": _dns_names(name, ep),
    }


def _dns_names(network: str, endpoint: Endpoint | None) -> list[str] | None:
    """What the network's DNS answers for; docker's default network answers none."""
    if endpoint is None or network == DEFAULT_NETWORK:
        return None
    return list(endpoint.names) or None
