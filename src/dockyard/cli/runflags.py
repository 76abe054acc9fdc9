"""``run``/``create`` flags -> :class:`dockyard.engine.create.CreateRequest` (parsing only).

Values are parsed the way docker's CLI parses them (``opts`` package): byte sizes with binary
units, Go durations, ``-v`` and ``--mount`` forms, ``--env-file``. Anything dockyard cannot
honour is an error here, never silently dropped.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dockyard._util.units import parse_go_duration, ram_in_bytes
from dockyard.engine.create import CreateRequest, VolumeRequest
from dockyard.engine.options import (
    DEFAULT_SHM_SIZE,
    BindMount,
    BlkioDevice,
    DeviceMapping,
    IpcMode,
    NetworkRequest,
    RunOptions,
    Ulimit,
)
from dockyard.errors import Conflict, InvalidArgument, Unsupported
from dockyard.oci.containerconfig import HealthConfig
from dockyard.oci.runtime_resources import DeviceType

if TYPE_CHECKING:
    from dockyard.network.model import PortBinding
    from dockyard.oci.platform import Platform


def parse_bytes(text: str, flag: str) -> int:
    """Docker's ``RAMInBytes``: ``512m``, ``1g``, ``1024`` (binary units).

    Raises:
        InvalidArgument: not a size.
    """
    size = ram_in_bytes(text)
    if size is None:
        raise InvalidArgument(f"invalid size: '{text}' for {flag}", hint="use e.g. 512m or 1g")
    return size


def parse_duration(text: str, flag: str) -> int:
    """A Go duration (``30s``, ``1m30s``, ``500ms``) in nanoseconds.

    Raises:
        InvalidArgument: not a duration.
    """
    ns = parse_go_duration(text)
    if ns is None:
        raise InvalidArgument(f"invalid duration {text!r} for {flag}", hint="use e.g. 30s, 1m30s")
    return ns


def parse_env(values: Sequence[str], files: Sequence[str]) -> tuple[str, ...]:
    """``-e K=V``/``-e K`` (from our environment; dropped if unset) and ``--env-file``."""
    out: list[str] = []
    for path in files:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as err:
            raise InvalidArgument(f"open {path}: {err.strerror}") from None
        out += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    out += list(values)
    env = []
    for item in out:
        key, sep, _ = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid environment variable: {item}")
        if sep:
            env.append(item)
        elif key in os.environ:
            env.append(f"{key}={os.environ[key]}")
    return tuple(env)


def parse_label_files(paths: Sequence[str]) -> dict[str, str]:
    """``--label-file``: ``KEY=VALUE`` lines (a bare key is ``""``; blank lines and ``#``
    comments skipped), the later files winning, as docker reads them.

    Raises:
        InvalidArgument: a file cannot be read.
    """
    lines: list[str] = []
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise InvalidArgument(f"open {path}: {err.strerror}") from None
        lines += [
            ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
        ]
    return parse_pairs(lines, "--label-file")


def parse_pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` items (``--label``, ``--sysctl``, ``--log-opt``); a bare key is ``""``."""
    out = {}
    for item in values:
        key, _, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid argument {item!r} for {flag}")
        out[key] = value
    return out


def parse_volume(spec: str) -> BindMount | VolumeRequest:
    """``-v``: ``/ctr`` (anonymous), ``NAME:/ctr[:ro]`` (named), ``/host:/ctr[:ro]`` (bind).

    Raises:
        InvalidArgument: malformed; Unsupported: SELinux labels or propagation modes.
    """
    parts = spec.split(":")
    if len(parts) == 1:
        return VolumeRequest(name="", destination=_abs(parts[0], spec))
    if len(parts) > 3:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    source, destination = parts[0], _abs(parts[1], spec)
    readonly = _mode(parts[2] if len(parts) == 3 else "", spec)
    if source.startswith(("/", ".")) or "/" in source:
        host = os.path.abspath(source)
        if not os.path.lexists(host):  # docker creates a missing bind source for -v (a file
            os.makedirs(host)  # that exists is bound as the file it is)
        return BindMount(source=host, destination=destination, readonly=readonly)
    return VolumeRequest(name=source, destination=destination, readonly=readonly)


def _abs(path: str, spec: str) -> str:
    if not path.startswith("/"):
        raise InvalidArgument(
            f"invalid volume specification: '{spec}': invalid mount config: "
            "mount path must be absolute"
        )
    return path


def _mode(text: str, spec: str) -> bool:
    readonly = False
    for mode in filter(None, text.split(",")):
        if mode in ("ro", "rw"):
            readonly = mode == "ro"
        elif mode in ("z", "Z"):
            raise Unsupported(
                f"volume {spec!r}: SELinux relabeling ({mode}) is not supported by dockyard",
                hint="drop the :z/:Z suffix",
            )
        else:
            raise InvalidArgument(f"invalid mode: {mode} in volume '{spec}'")
    return readonly


def parse_mount(spec: str) -> tuple[str, BindMount | VolumeRequest | tuple[str, str]]:
    """``--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,tmpfs-size=…]``.

    Returns:
        ("bind", BindMount) | ("volume", VolumeRequest) | ("tmpfs", (target, options)).
    """
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        key = {"src": "source", "dst": "target", "destination": "target", "ro": "readonly"}.get(
            key, key
        )
        fields[key] = value if sep else "true"
    kind = fields.pop("type", "volume")
    target = fields.pop("target", "")
    readonly = fields.pop("readonly", "false") in ("true", "1")
    source = fields.pop("source", "")
    if not target.startswith("/"):
        raise InvalidArgument(
            f"invalid argument {spec!r} for --mount: target must be an absolute path"
        )
    if kind == "tmpfs":
        opts = [f"size={fields.pop('tmpfs-size')}"] if "tmpfs-size" in fields else []
        opts += [f"mode={fields.pop('tmpfs-mode')}"] if "tmpfs-mode" in fields else []
        _no_more(fields, spec)
        return "tmpfs", (target, ",".join(opts))
    _no_more(fields, spec)
    if kind == "bind":
        if not os.path.exists(source):
            raise InvalidArgument(
                f'invalid mount config for type "bind": bind source path does not exist: {source}'
            )
        return "bind", BindMount(
            source=os.path.abspath(source), destination=target, readonly=readonly
        )
    if kind == "volume":
        return "volume", VolumeRequest(name=source, destination=target, readonly=readonly)
    raise Unsupported(f"--mount type={kind} is not supported", hint="use bind, volume or tmpfs")


def _no_more(fields: Mapping[str, str], spec: str) -> None:
    if fields:
        raise Unsupported(f"--mount {spec!r}: unsupported option(s): {', '.join(sorted(fields))}")


def parse_device(spec: str) -> DeviceMapping:
    """``--device /dev/x[:/dev/y][:rwm]`` with the host node's numbers.

    Raises:
        InvalidArgument: not a device node.
    """
    parts = spec.split(":")
    host = parts[0]
    container = parts[1] if len(parts) > 1 and parts[1].startswith("/") else host
    perms = parts[-1] if len(parts) > 1 and not parts[-1].startswith("/") else "rwm"
    try:
        st = os.stat(host)
    except OSError as err:
        raise InvalidArgument(
            f"error gathering device information while adding device {host!r}: {err.strerror}"
        ) from None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise InvalidArgument(f"{host} is not a device node", hint="--device takes /dev paths")
    kind = DeviceType.CHAR if stat.S_ISCHR(st.st_mode) else DeviceType.BLOCK
    return DeviceMapping(
        container_path=container, type=kind, major=os.major(st.st_rdev), minor=os.minor(st.st_rdev),
        file_mode=stat.S_IMODE(st.st_mode), permissions=perms,
    )  # fmt: skip


def _cpu_quota(o: Mapping[str, Any]) -> int:
    """``--cpu-quota`` (-1: unlimited, as 0), refused beside ``--cpus`` as moby refuses it.

    Raises:
        Conflict: both given. InvalidArgument: a quota under 1 ms.
    """
    quota = o["cpu_quota"] or 0
    if (quota or o["cpu_period"]) and o["cpus"]:
        raise Conflict("conflicting options: --cpus and --cpu-period/--cpu-quota cannot both be "
                       "set", hint="use --cpus alone, or the period and quota")  # fmt: skip
    if 0 < quota < 1000:
        raise InvalidArgument(f"--cpu-quota {quota}: CPU cfs quota can not be less than 1ms "
                              "(i.e. 1000)")  # fmt: skip
    return max(quota, 0)


def parse_blkio_weight(value: int | None) -> int:
    """``--blkio-weight`` of ``run``/``create``/``update`` (0: not given; the check is
    imported only when one is)."""
    if not value:
        return 0
    from dockyard.engine.blkio import blkio_weight

    return blkio_weight(value)


def parse_blkio(spec: str, flag: str, kind: str) -> BlkioDevice:
    """``DEVICE:VALUE`` of the blkio flags (:func:`dockyard.engine.blkio.blkio_device`).

    Raises:
        InvalidArgument: no ``:``, not a block device, a bad value.
    """
    from dockyard.engine.blkio import blkio_device

    path, sep, value = spec.rpartition(":")
    if not sep or not path:
        raise InvalidArgument(f"{flag} {spec!r}: bad format, expected DEVICE:{kind.upper()}",
                              hint=f"for example {flag} /dev/sda:10")  # fmt: skip
    return blkio_device(path, value, f"{flag} {spec!r}", kind)


def parse_ulimit(spec: str) -> Ulimit:
    """``--ulimit nofile=1024[:2048]``."""
    name, _, values = spec.partition("=")
    soft, _, hard = values.partition(":")
    try:
        return Ulimit(name=name, soft=int(soft), hard=int(hard or soft))
    except ValueError:
        raise InvalidArgument(
            f"invalid ulimit argument: {spec}", hint="use NAME=SOFT[:HARD]"
        ) from None


def network_request(o: Mapping[str, Any]) -> NetworkRequest:
    """``--network`` (several), ``--network-alias`` and ``--ip``; ``default`` is ``bridge``."""
    modes = tuple("bridge" if m == "default" else m for m in o["network"] if m)
    return NetworkRequest(modes=modes, aliases=tuple(o["network_alias"]), ip=o["ip"] or "")


def publish(specs: Sequence[str]) -> tuple[PortBinding, ...]:
    from dockyard.network.ports import parse_publish

    return tuple(b for spec in specs for b in parse_publish(spec))


def health_options(
    cmd: str | None, interval: str | None, timeout: str | None, start_period: str | None,
    start_interval: str | None, retries: int | None,
) -> HealthConfig | None:  # fmt: skip
    """The ``--health-*`` flags as a HealthConfig (None when no flag was given)."""
    if not any(
        v is not None for v in (cmd, interval, timeout, start_period, start_interval, retries)
    ):
        return None

    def dur(v: str | None, flag: str) -> int:
        ns = parse_duration(v, flag) if v else 0
        if ns < 0:
            raise InvalidArgument(f"{flag} cannot be negative")
        return ns

    return HealthConfig(
        test=("CMD-SHELL", cmd) if cmd else (),
        interval=dur(interval, "--health-interval"),
        timeout=dur(timeout, "--health-timeout"),
        start_period=dur(start_period, "--health-start-period"),
        start_interval=dur(start_interval, "--health-start-interval"),
        retries=retries or 0,
    )


def parse_run_platform(text: str | None) -> Platform | None:
    """``--platform os/arch[/variant]`` (``arm64`` alone means ``linux/arm64``); None when
    not given. Only a platform this host runs natively is accepted.

    Raises:
        InvalidArgument: malformed. Unsupported: not this host's platform.
    """
    if not text:
        return None
    from dockyard.engine.platforms import require_native
    from dockyard.oci.platform import parse_platform

    wanted = parse_platform(text)
    require_native(wanted)
    return wanted


def build_request(
    image: str, command: Sequence[str], o: Mapping[str, Any], *, platform: Platform | None = None
) -> CreateRequest:
    """The request for the parsed click values ``o`` of a ``run``/``create``, for ``platform``
    (parsed by :func:`parse_run_platform`)."""
    if o["log_driver"] not in (None, "json-file"):
        raise Unsupported(
            f"log driver {o['log_driver']!r}", hint="dockyard has the json-file driver"
        )
    binds: list[BindMount] = []
    volumes: list[VolumeRequest] = []
    tmpfs: dict[str, str] = {}
    for spec in o["volume"]:
        v = parse_volume(spec)
        (binds if isinstance(v, BindMount) else volumes).append(v)  # type: ignore[arg-type]
    for spec in o["mount"]:
        kind, value = parse_mount(spec)
        if kind == "tmpfs":
            tmpfs[value[0]] = value[1]  # type: ignore[index]
        else:
            (binds if kind == "bind" else volumes).append(value)  # type: ignore[arg-type]
    for spec in o["tmpfs"]:
        target, _, opts = spec.partition(":")
        tmpfs[target] = opts
    options = RunOptions(
        entrypoint=None if o["entrypoint"] is None else tuple(filter(None, [o["entrypoint"]])),
        cmd=tuple(command),
        env=parse_env(o["env"], o["env_file"]),
        workdir=o["workdir"] or "",
        user=o["user"] or "",
        hostname=o["hostname"] or "",
        domainname=o["domainname"] or "",
        oom_score_adj=o["oom_score_adj"] or 0,
        terminal=o["tty"],
        privileged=o["privileged"],
        cap_add=tuple(o["cap_add"]),
        cap_drop=tuple(o["cap_drop"]),
        security_opt=tuple(o["security_opt"]),
        read_only=o["read_only"],
        sysctls=parse_pairs(o["sysctl"], "--sysctl"),
        ulimits=tuple(parse_ulimit(u) for u in o["ulimit"]),
        devices=tuple(parse_device(d) for d in o["device"]),
        tmpfs=tmpfs,
        binds=tuple(binds),
        memory=parse_bytes(o["memory"], "--memory") if o["memory"] else 0,
        memory_swap=_swap(o["memory_swap"]),
        memory_reservation=parse_bytes(o["memory_reservation"], "--memory-reservation")
        if o["memory_reservation"]
        else 0,
        cpu_period=o["cpu_period"] or 0,
        cpu_quota=_cpu_quota(o),
        cpu_shares=o["cpu_shares"] or 0,
        cpus=o["cpus"] or 0.0,
        cpuset_cpus=o["cpuset_cpus"] or "",
        pids_limit=o["pids_limit"] or 0,
        blkio_weight=parse_blkio_weight(o["blkio_weight"]),
        blkio_weight_device=tuple(
            parse_blkio(s, "--blkio-weight-device", "weight") for s in o["blkio_weight_device"]
        ),
        device_read_bps=tuple(
            parse_blkio(s, "--device-read-bps", "bps") for s in o["device_read_bps"]
        ),
        device_write_bps=tuple(
            parse_blkio(s, "--device-write-bps", "bps") for s in o["device_write_bps"]
        ),
        device_read_iops=tuple(
            parse_blkio(s, "--device-read-iops", "iops") for s in o["device_read_iops"]
        ),
        device_write_iops=tuple(
            parse_blkio(s, "--device-write-iops", "iops") for s in o["device_write_iops"]
        ),
        shm_size=parse_bytes(o["shm_size"], "--shm-size") if o["shm_size"] else DEFAULT_SHM_SIZE,
        ipc=IpcMode(o["ipc"]) if o["ipc"] else IpcMode.PRIVATE,
    )
    return CreateRequest(
        image=image,
        options=options,
        name=o["name"] or "",
        volumes=tuple(volumes),
        tty=o["tty"],
        open_stdin=o["interactive"],
        labels={**parse_label_files(o["label_file"]), **parse_pairs(o["label"], "--label")},
        stop_signal=o["stop_signal"] or "",
        stop_timeout=o["stop_timeout"],
        health=health_options(
            o["health_cmd"],
            o["health_interval"],
            o["health_timeout"],
            o["health_start_period"],
            o["health_start_interval"],
            o["health_retries"],
        ),
        no_healthcheck=o["no_healthcheck"],
        restart=o["restart"] or "no",
        auto_remove=o["rm"],
        log_opts=parse_pairs(o["log_opt"], "--log-opt"),
        init=o["init"],
        runtime=_runtime(o["runtime"]),
        add_hosts=tuple(o["add_host"]),
        dns=tuple(o["dns"]),
        dns_search=tuple(o["dns_search"]),
        dns_options=tuple(o["dns_option"]),
        network=network_request(o),
        ports=publish(o["publish"]),
        publish_all=o["publish_all"],
        expose=tuple(o["expose"]),
        platform=platform,
    )


def _swap(value: str | None) -> int:
    if not value:
        return 0
    return -1 if value == "-1" else parse_bytes(value, "--memory-swap")


def _runtime(value: str | None) -> str:
    """``--runtime``: dockyard's own (in-process) or a runc-compatible command on PATH."""
    if value in (None, "", "dockyard", "dockyard-runtime"):
        return ""
    import shutil

    found = shutil.which(value)
    if found is None:
        raise InvalidArgument(
            f"unknown or invalid runtime name: {value}",
            hint="give a runc-compatible command on PATH, e.g. runc or crun",
        )
    return found


F = Callable[..., Any]


def run_options(f: F) -> F:
    """Decorate a click command with every ``run``/``create`` flag."""
    opts: list[Callable[[F], F]] = [
        click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open."),
        click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY."),
        click.option("--rm", is_flag=True, help="Remove the container when it exits."),
        click.option("--name", help="Assign a name to the container."),
        click.option("-e", "--env", multiple=True, help="Set environment variables."),
        click.option("--env-file", multiple=True, help="Read a file of environment variables."),
        click.option("-w", "--workdir", help="Working directory inside the container."),
        click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])."),
        click.option("--entrypoint", help="Overwrite the default ENTRYPOINT of the image."),
        click.option("-h", "--hostname", help="Container host name."),
        click.option("--domainname", help="Container NIS domain name."),
        click.option(
            "--oom-score-adj",
            type=click.IntRange(-1000, 1000),
            help="Tune host's OOM preferences (-1000 to 1000).",
        ),
        click.option("-l", "--label", multiple=True, help="Set meta data on a container."),
        click.option(
            "--label-file", multiple=True, help="Read in a line delimited file of labels."
        ),
        click.option("--cidfile", help="Write the container ID to the file (it must not exist)."),
        click.option("-v", "--volume", multiple=True, help="Bind mount a volume."),
        click.option("--mount", multiple=True, help="Attach a filesystem mount to the container."),
        click.option("--tmpfs", multiple=True, help="Mount a tmpfs directory."),
        click.option("--read-only", is_flag=True, help="Mount the root filesystem read-only."),
        click.option("-m", "--memory", help="Memory limit."),
        click.option("--memory-swap", help="Memory plus swap limit; -1 unlimited."),
        click.option("--memory-reservation", help="Memory soft limit."),
        click.option("--cpus", type=float, help="Number of CPUs."),
        click.option(
            "--cpu-period",
            type=click.IntRange(1000, 1_000_000),
            help="Limit CPU CFS (Completely Fair Scheduler) period (µs).",
        ),
        click.option("--cpu-quota", type=click.IntRange(-1), help="Limit CPU CFS quota (µs)."),
        click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)."),
        click.option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)."),
        click.option("--pids-limit", type=int, help="Tune container pids limit (-1 unlimited)."),
        click.option(
            "--blkio-weight",
            type=int,
            help="Block IO (relative weight), between 10 and 1000, or 0 to disable.",
        ),
        click.option(
            "--blkio-weight-device",
            multiple=True,
            help="Block IO weight (relative device weight), DEVICE:WEIGHT.",
        ),
        click.option(
            "--device-read-bps",
            multiple=True,
            help="Limit read rate (bytes per second) from a device, DEVICE:RATE[kmg].",
        ),
        click.option(
            "--device-write-bps",
            multiple=True,
            help="Limit write rate (bytes per second) to a device, DEVICE:RATE[kmg].",
        ),
        click.option(
            "--device-read-iops",
            multiple=True,
            help="Limit read rate (IO per second) from a device, DEVICE:N.",
        ),
        click.option(
            "--device-write-iops",
            multiple=True,
            help="Limit write rate (IO per second) to a device, DEVICE:N.",
        ),
        click.option(
            "--restart", help="Restart policy (no, on-failure[:N], always, unless-stopped)."
        ),
        click.option("--init", is_flag=True, help="Run an init inside the container."),
        click.option("--stop-signal", help="Signal to stop the container."),
        click.option("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container."),
        click.option("--health-cmd", help="Command to run to check health."),
        click.option("--health-interval", help="Time between running the check."),
        click.option(
            "--health-retries", type=int, help="Consecutive failures to report unhealthy."
        ),
        click.option("--health-timeout", help="Maximum time to allow one check to run."),
        click.option("--health-start-period", help="Start period for the container to initialize."),
        click.option(
            "--health-start-interval", help="Time between checks during the start period."
        ),
        click.option(
            "--no-healthcheck", is_flag=True, help="Disable any container-specified HEALTHCHECK."
        ),
        click.option(
            "--network",
            "--net",
            "network",
            multiple=True,
            help="Connect a container to a network (bridge, NAME, host, none, container:NAME).",
        ),
        click.option(
            "--network-alias",
            "--net-alias",
            "network_alias",
            multiple=True,
            help="Add a network-scoped alias for the container.",
        ),
        click.option("--ip", help="IPv4 address (e.g., 172.30.100.104)."),
        click.option("--expose", multiple=True, help="Expose a port or a range of ports."),
        click.option(
            "-P",
            "--publish-all",
            is_flag=True,
            help="Publish all exposed ports to random ports.",
        ),
        click.option(
            "--add-host", multiple=True, help="Add a custom host-to-IP mapping (host:ip)."
        ),
        click.option("--dns", multiple=True, help="Set custom DNS servers."),
        click.option("--dns-search", multiple=True, help="Set custom DNS search domains."),
        click.option(
            "--dns-option", "--dns-opt", "dns_option", multiple=True, help="Set DNS options."
        ),
        click.option("--shm-size", help="Size of /dev/shm."),
        click.option(
            "--pull",
            type=click.Choice(["missing", "never", "always"]),
            default="missing",
            help="Pull image before running.",
        ),
        click.option(
            "--platform", help="Platform of the image (os/arch[/variant]); this host's only."
        ),
        click.option("-q", "--quiet", is_flag=True, help="Suppress the pull output."),
        click.option("--runtime", help="Runtime to use for this container (runc-compatible)."),
        click.option(
            "--privileged", is_flag=True, help="Give extended privileges to this container."
        ),
        click.option("--cap-add", multiple=True, help="Add Linux capabilities."),
        click.option("--cap-drop", multiple=True, help="Drop Linux capabilities."),
        click.option("--security-opt", multiple=True, help="Security options."),
        click.option("--device", multiple=True, help="Add a host device to the container."),
        click.option("--sysctl", multiple=True, help="Sysctl options."),
        click.option("--ulimit", multiple=True, help="Ulimit options."),
        click.option("--ipc", type=click.Choice(["private", "none"]), help="IPC mode."),
        click.option("--log-driver", help="Logging driver (json-file)."),
        click.option("--log-opt", multiple=True, help="Log driver options (max-size, max-file)."),
        click.option(
            "-p",
            "--publish",
            multiple=True,
            help="Publish a container's port(s) to the host ([IP:][HOST:]PORT[/PROTO]).",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f
