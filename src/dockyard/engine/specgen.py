"""specgen: image config + run options -> the OCI runtime spec of one container (pure).

:func:`generate` starts from Docker's defaults (:mod:`.specdefaults`, design/SECURITY.md
section 1) and edits them with :class:`RunOptions` the way moby's ``createSpec``
(``daemon/oci_linux.go``) does. No I/O: facts about the host (cgroup version, kernel, hostname,
device numbers) come in as arguments. Where dockyard differs from Docker: explicit rlimits, and
``no_new_privileges`` on by default (opt out with ``no-new-privileges:false``; it breaks setuid
binaries such as ``su`` and ``ping`` without file capabilities).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dockyard._util.numbers import is_uint
from dockyard.engine import specdefaults as d
from dockyard.engine.options import (
    HostFiles,
    IpcMode,
    NetworkMode,
    RunOptions,
)
from dockyard.engine.seccompgen import build_seccomp, default_profile_text
from dockyard.errors import InvalidArgument, Unsupported
from dockyard.oci.image import ImageConfig
from dockyard.oci.runtime import (
    Capabilities,
    Mount,
    Process,
    Rlimit,
    RlimitType,
    Root,
    Spec,
    User,
)
from dockyard.oci.runtime_linux import Device, Linux, Namespace, NamespaceType
from dockyard.oci.runtime_resources import (
    BlockIO,
    BlockIODevice,
    Cpu,
    DeviceRule,
    DeviceType,
    Memory,
    Resources,
)

OCI_VERSION = "1.2.0"
CPU_PERIOD = 100_000  # moby converts --cpus to a quota over this period (NanoCPUs)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Security:
    no_new_privileges: bool
    seccomp: str | None  # profile text; None = unconfined


def _security(options: RunOptions) -> _Security:
    nnp = options.no_new_privileges
    profile: str | None = None if options.privileged else default_profile_text()
    for opt in options.security_opt:
        key, sep, value = opt.partition("=") if "=" in opt else opt.partition(":")
        if key == "no-new-privileges" and value in ("", "true", "false"):
            nnp = value != "false"
        elif key == "seccomp" and sep and value:
            profile = None if value == "unconfined" else value
        else:
            raise InvalidArgument(f'security option "{opt}": unsupported or malformed')
    return _Security(no_new_privileges=nnp, seccomp=profile)


def _args(image: ImageConfig, options: RunOptions) -> tuple[str, ...]:
    if options.entrypoint is not None:
        entrypoint, cmd = options.entrypoint, options.cmd
    else:
        entrypoint = image.config.entrypoint or ()
        cmd = options.cmd or image.config.cmd or ()
    args = (*entrypoint, *cmd)
    if not args:
        raise InvalidArgument("container: no command specified", hint="give a command to run")
    return args


def _set_env(env: list[str], entry: str) -> None:
    if "=" not in entry:
        raise InvalidArgument(f'environment variable "{entry}": want NAME=VALUE')
    name = entry.partition("=")[0]
    for i, old in enumerate(env):
        if old.partition("=")[0] == name:
            env[i] = entry
            return
    env.append(entry)


def _env(image: ImageConfig, options: RunOptions, hostname: str) -> tuple[str, ...]:
    """moby's order: PATH, HOSTNAME, TERM, then the image's Env and -e, each replacing an
    earlier value of the same name in place (``ReplaceOrAppendEnvValues``)."""
    env = [d.DEFAULT_PATH, f"HOSTNAME={hostname}"]
    if options.terminal:
        env.append("TERM=xterm")
    for entry in (*image.config.env, *options.env):
        _set_env(env, entry)
    return tuple(env)


def _user(spec: str) -> User:
    uid, _, gid = spec.partition(":")
    if not uid:
        return User(uid=0, gid=0)
    if not is_uint(uid) or (gid and not is_uint(gid)):
        raise Unsupported(
            f'user "{spec}": a name needs the container\'s /etc/passwd (the engine resolves '
            "it before generating the spec)",
            hint="use -u UID:GID",
        )
    return User(uid=int(uid), gid=int(gid or 0))


def _cwd(image: ImageConfig, options: RunOptions) -> str:
    cwd = options.workdir or image.config.working_dir or "/"
    if not cwd.startswith("/"):
        raise InvalidArgument(f'working directory "{cwd}": must be an absolute path')
    return cwd


def _rlimits(options: RunOptions, ceilings: Mapping[RlimitType, int]) -> tuple[Rlimit, ...]:
    """dockyard's explicit defaults, each capped at the caller's own hard limit (raising a hard
    limit needs CAP_SYS_RESOURCE), then the user's ``--ulimit``s as given."""
    limits: dict[RlimitType, Rlimit] = {}
    for r in d.DEFAULT_RLIMITS:
        hard = min(r.hard, ceilings.get(r.type, r.hard))
        limits[r.type] = Rlimit(type=r.type, soft=min(r.soft, hard), hard=hard)
    for u in options.ulimits:
        try:
            kind = RlimitType(f"RLIMIT_{u.name.upper()}")
        except ValueError as err:
            raise InvalidArgument(f'ulimit "{u.name}": unknown limit') from err
        if u.soft > u.hard:
            raise InvalidArgument(f'ulimit "{u.name}": soft limit {u.soft} exceeds hard {u.hard}')
        limits[kind] = Rlimit(type=kind, soft=u.soft, hard=u.hard)
    return tuple(limits.values())


def _process(
    image: ImageConfig,
    options: RunOptions,
    hostname: str,
    nnp: bool,
    ceilings: Mapping[RlimitType, int],
) -> Process:
    caps = d.capabilities(options.privileged, options.cap_add, options.cap_drop)
    return Process(
        terminal=options.terminal,
        user=_user(options.user or image.config.user),
        args=_args(image, options),
        env=_env(image, options, hostname),
        cwd=_cwd(image, options),
        capabilities=Capabilities(bounding=caps, effective=caps, permitted=caps),
        rlimits=_rlimits(options, ceilings),
        no_new_privileges=nnp,
        oom_score_adj=options.oom_score_adj or None,
    )


def _user_mounts(options: RunOptions) -> list[Mount]:
    mounts = [
        Mount(
            destination=b.destination,
            type="bind",
            source=b.source,
            options=("rbind", "rprivate", *(("ro",) if b.readonly else ())),
        )
        for b in options.binds
    ]
    mounts += [d.tmpfs_mount(dest, opts) for dest, opts in options.tmpfs.items()]
    for m in mounts:
        if not m.destination.startswith("/"):
            raise InvalidArgument(f'mount "{m.destination}": destination must be absolute')
    return mounts


def _host_file_mounts(files: HostFiles | None) -> list[Mount]:
    if files is None:
        return []
    pairs = (
        ("/etc/resolv.conf", files.resolv_path),
        ("/etc/hostname", files.hostname_path),
        ("/etc/hosts", files.hosts_path),
    )
    return [
        Mount(destination=dst, type="bind", source=src, options=("rbind", "rprivate"))
        for dst, src in pairs
    ]


def _mounts(options: RunOptions, files: HostFiles | None) -> tuple[Mount, ...]:
    """moby's ``withMounts``: user mounts replace defaults at the same destination; one on
    /dev drops every default under /dev/; ipc none drops /dev/shm; --read-only makes the
    remaining defaults (but /proc and /dev*) read-only. User mounts keep their own mode."""
    user = _user_mounts(options)
    taken = {m.destination for m in user}
    base = d.default_mounts(shm_size=options.shm_size, privileged=options.privileged)
    keep = [
        m
        for m in (*base, *_host_file_mounts(files))
        if m.destination not in taken
        and not ("/dev" in taken and m.destination.startswith("/dev/"))
        and not (options.ipc is IpcMode.NONE and m.destination == "/dev/shm")
    ]
    if options.read_only:
        keep = [d.read_only(m) for m in keep]
    defaults = [m for m in keep if m.type != "bind"]
    # The rest parents before children, as moby's sortMounts orders the container's mounts.
    rest = sorted([*keep[len(defaults) :], *user], key=lambda m: m.destination.count("/"))
    return (*defaults, *rest)


def _resources(options: RunOptions, devices: tuple[DeviceRule, ...]) -> Resources:
    memory = None
    if options.memory or options.memory_swap or options.memory_reservation:
        swap = options.memory_swap or (2 * options.memory if options.memory > 0 else 0)
        memory = Memory(limit=options.memory or None, swap=swap or None,
                        reservation=options.memory_reservation or None)  # fmt: skip
    cpu = None
    if (
        options.cpu_shares
        or options.cpus
        or options.cpuset_cpus
        or options.cpu_quota
        or (options.cpu_period)
    ):
        quota = round(options.cpus * CPU_PERIOD) if options.cpus else options.cpu_quota or None
        period = CPU_PERIOD if options.cpus else options.cpu_period or None
        cpu = Cpu(
            shares=options.cpu_shares or None,
            quota=quota,
            period=period if quota or options.cpu_period else None,
            cpus=options.cpuset_cpus,
        )
    pids = options.pids_limit if options.pids_limit > 0 else None
    return Resources(devices=devices, memory=memory, cpu=cpu, pids_limit=pids,
                     block_io=_block_io(options))  # fmt: skip


def _block_io(options: RunOptions) -> BlockIO | None:
    """moby's blkio settings: a weight, per-device weights and throttles (None: none)."""
    throttle = {
        key: tuple(BlockIODevice(major=d.major, minor=d.minor, rate=d.value) for d in devices)
        for key, devices in (
            ("throttleReadBpsDevice", options.device_read_bps),
            ("throttleWriteBpsDevice", options.device_write_bps),
            ("throttleReadIOPSDevice", options.device_read_iops),
            ("throttleWriteIOPSDevice", options.device_write_iops),
        )
        if devices
    }
    weights = tuple(
        BlockIODevice(major=d.major, minor=d.minor, weight=d.value)
        for d in options.blkio_weight_device
    )
    if not (options.blkio_weight or weights or throttle):
        return None
    return BlockIO(weight=options.blkio_weight or None, weight_device=weights, throttle=throttle)


def _devices(options: RunOptions) -> tuple[tuple[Device, ...], tuple[DeviceRule, ...]]:
    nodes = tuple(
        Device(
            path=m.container_path,
            type=DeviceType(m.type),
            major=m.major,
            minor=m.minor,
            file_mode=m.file_mode,
            uid=0,
            gid=0,
        )
        for m in options.devices
    )
    rules = tuple(
        DeviceRule(
            allow=True, type=DeviceType(m.type), major=m.major, minor=m.minor, access=m.permissions
        )
        for m in options.devices
    )
    base = d.PRIVILEGED_DEVICE_RULES if options.privileged else d.DEFAULT_DEVICE_RULES
    return nodes, base + rules


def _namespaces(options: RunOptions, cgroup_v2: bool) -> tuple[Namespace, ...]:
    kinds = [
        k
        for k in d.DEFAULT_NAMESPACES
        if not (k is NamespaceType.NETWORK and options.network is NetworkMode.HOST)
    ]
    if cgroup_v2:
        kinds.append(NamespaceType.CGROUP)
    return tuple(
        Namespace(type=k, path=options.netns_path)
        if k is NamespaceType.NETWORK and options.netns_path
        else Namespace(type=k)
        for k in kinds
    )


def _sysctls(options: RunOptions) -> dict[str, str]:
    base = {} if options.network is NetworkMode.HOST else dict(d.NETWORK_SYSCTLS)
    return base | dict(options.sysctls)


def generate(
    image: ImageConfig,
    options: RunOptions,
    *,
    container_id: str,
    rootfs: str,
    hosts_files: HostFiles | None,
    cgroup_v2: bool,
    cgroups_path: str,
    host_hostname: str = "",
    kernel: tuple[int, int] = (5, 10),
    rlimit_ceilings: Mapping[RlimitType, int] | None = None,
) -> Spec:
    """The OCI runtime spec for a container of ``image`` run with ``options``.

    Args:
        container_id: the full hex ID; the hostname defaults to its first 12 digits.
        rootfs: the root filesystem path written to ``root.path``.
        hosts_files: the per-container /etc files to bind-mount, or None for none.
        cgroup_v2: the host has cgroup v2 (adds a cgroup namespace, as Docker does).
        cgroups_path: ``linux.cgroupsPath``.
        host_hostname: the host's name, the default hostname with ``--network host``.
        kernel: the host kernel (major, minor), for the seccomp profile's ``minKernel``.
        rlimit_ceilings: the caller's hard limits; the default rlimits never exceed them.

    Raises:
        InvalidArgument: a malformed option (capability, env, security option, profile ...).
        Unsupported: a user name in ``-u`` (not resolved yet).
    """
    security = _security(options)
    hostname = options.hostname or container_id[:12]
    if options.network is NetworkMode.HOST and not options.hostname:
        hostname = host_hostname or hostname
    nodes, rules = _devices(options)
    caps = d.capabilities(options.privileged, options.cap_add, options.cap_drop)
    plain = not options.privileged
    linux = Linux(
        sysctl=_sysctls(options),
        resources=_resources(options, rules),
        cgroups_path=cgroups_path,
        namespaces=_namespaces(options, cgroup_v2),
        devices=nodes,
        seccomp=None
        if security.seccomp is None
        else build_seccomp(
            security.seccomp, goarch=image.architecture, capabilities=caps, kernel=kernel
        ),
        masked_paths=d.MASKED_PATHS if plain else (),
        readonly_paths=d.READONLY_PATHS if plain else (),
    )
    return Spec(
        oci_version=OCI_VERSION,
        process=_process(
            image, options, hostname, security.no_new_privileges, rlimit_ceilings or {}
        ),
        root=Root(path=rootfs, readonly=options.read_only),
        hostname=hostname,
        domainname=options.domainname,
        mounts=_mounts(options, hosts_files),
        linux=linux,
    )
