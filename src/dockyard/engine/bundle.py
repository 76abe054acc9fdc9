"""The OCI bundle of a container's next run: facts about the host + specgen + ``--init``.

Generated at every start (as docker does), so volumes, ``update`` and a new kernel apply.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard._util.numbers import is_uint
from dockyard.engine.options import BindMount, HostFiles
from dockyard.engine.specgen import generate
from dockyard.errors import FailedPrecondition
from dockyard.oci.runtime import Capability, Mount, RlimitType, Spec

if TYPE_CHECKING:
    from dockyard.engine.store import Container
    from dockyard.engine.volumes import VolumeStore
    from dockyard.oci.image import ImageConfig

INIT_PATH = "/sbin/docker-init"
INIT_CANDIDATES = ("/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/bin/tini")


def kernel_version() -> tuple[int, int]:
    parts = os.uname().release.split(".")
    try:
        return int(parts[0]), int(parts[1].split("-")[0])
    except (IndexError, ValueError):
        return (5, 10)


def rlimit_ceilings() -> dict[RlimitType, int]:
    """Our own hard limits: the container's defaults may not exceed them (we may lack
    CAP_SYS_RESOURCE)."""
    ceilings = {}
    for kind in RlimitType:
        _soft, hard = resource.getrlimit(kind.resource)
        ceilings[kind] = (1 << 64) - 1 if hard == resource.RLIM_INFINITY else hard
    return ceilings


def init_binary() -> str:
    """The reaper ``--init`` bind-mounts as /sbin/docker-init (Debian's ``tini-static``).

    Raises:
        FailedPrecondition: none is installed.
    """
    for path in INIT_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    found = shutil.which("tini-static") or shutil.which("tini")
    if found:
        return found
    raise FailedPrecondition(
        "--init: no init binary (tini) found",
        hint="apt-get install tini (it provides /usr/bin/tini-static)",
    )


def needs_rootfs(container: Container, image: ImageConfig) -> bool:
    """Whether the user (``-u`` or the image's ``USER``) is a name, which only the container's
    /etc/passwd can resolve: then the spec is built once the rootfs is mounted."""
    user = (container.config.options.user or image.config.user).partition(":")
    return not (is_uint(user[0]) or not user[0]) or not (is_uint(user[2]) or not user[2])


def build_spec(
    container: Container,
    image: ImageConfig,
    volumes: VolumeStore,
    *,
    cgroup_v2: bool,
    rootfs: Path | None = None,
    netns: str = "",
) -> Spec:
    """The spec for the container's next run (pure but for host facts).

    Args:
        rootfs: the mounted rootfs, to resolve a user name (see :func:`needs_rootfs`).
        netns: the network namespace file to join (bridge networks, ``container:``).

    Raises:
        NotFound: the user or group name has no entry in the container's files.
    """
    config = container.config
    exec_user = None
    if rootfs is not None and needs_rootfs(container, image):
        from dockyard.engine.users import resolve_in_root

        exec_user = resolve_in_root(config.options.user or image.config.user, rootfs)
    binds = tuple(
        BindMount(source=str(volumes.path(v.name)), destination=v.destination, readonly=v.readonly)
        for v in config.volumes
    )
    options = dataclasses.replace(
        config.options, terminal=config.tty, binds=config.options.binds + binds, netns_path=netns
    )
    if exec_user is not None:
        home = () if any(e.startswith("HOME=") for e in (*image.config.env, *options.env)) else (
            f"HOME={exec_user.home}",
        )  # fmt: skip
        options = dataclasses.replace(
            options, user=f"{exec_user.uid}:{exec_user.gid}", env=(*options.env, *home)
        )
    d = container.dir
    spec = generate(
        image,
        options,
        container_id=config.id,
        rootfs=str(d / "rootfs"),
        hosts_files=HostFiles(
            hostname_path=str(d / "hostname"),
            hosts_path=str(d / "hosts"),
            resolv_path=str(d / "resolv.conf"),
        ),
        cgroup_v2=cgroup_v2,
        cgroups_path=f"/dockyard/{config.id}",
        host_hostname=os.uname().nodename,
        kernel=kernel_version(),
        rlimit_ceilings=rlimit_ceilings(),
    )
    if exec_user is not None and exec_user.additional_gids:
        assert spec.process is not None
        user = dataclasses.replace(spec.process.user, additional_gids=exec_user.additional_gids)
        spec = dataclasses.replace(spec, process=dataclasses.replace(spec.process, user=user))
    if config.options.privileged:
        spec = within_bounding(spec, bounding_set())
    if config.init:
        spec = with_init(spec, init_binary())
    return spec


def bounding_set() -> int:
    """Our capability bounding set (a mask): no process we start can have more."""
    from dockyard.linux.caps import read_status_caps

    return read_status_caps(Path("/proc/self/status").read_text()).bounding


def within_bounding(spec: Spec, mask: int) -> Spec:
    """``--privileged`` asks for every capability; keep those in ``mask`` (docker gives all
    the capabilities of its environment: where ours lacks one, as in some sandboxes, asking
    for it would make the runtime's capset fail)."""
    process = spec.process
    if process is None or process.capabilities is None:
        return spec
    caps = process.capabilities

    def keep(values: tuple[Capability, ...]) -> tuple[Capability, ...]:
        return tuple(c for c in values if mask >> c.number & 1)

    kept = dataclasses.replace(
        caps, bounding=keep(caps.bounding), effective=keep(caps.effective),
        inheritable=keep(caps.inheritable), permitted=keep(caps.permitted),
        ambient=keep(caps.ambient),
    )  # fmt: skip
    return dataclasses.replace(spec, process=dataclasses.replace(process, capabilities=kept))


def with_init(spec: Spec, binary: str) -> Spec:
    """docker-init: the reaper bind-mounted read-only at /sbin/docker-init runs as PID 1 and
    execs the command (``docker-init -- CMD``)."""
    assert spec.process is not None
    mount = Mount(
        destination=INIT_PATH, type="bind", source=binary, options=("bind", "ro", "nosuid", "nodev")
    )
    process = dataclasses.replace(spec.process, args=(INIT_PATH, "--", *spec.process.args))
    return dataclasses.replace(spec, process=process, mounts=(*spec.mounts, mount))


def write_bundle(container: Container, spec: Spec, bundle: Path) -> None:
    """Write the spec as ``bundle/config.json`` (and make the container's rootfs mount
    point, which the spec names)."""
    from dockyard._util.atomic import write_atomic

    bundle.mkdir(mode=0o700, parents=True, exist_ok=True)
    (container.dir / "rootfs").mkdir(mode=0o755, exist_ok=True)
    write_atomic(bundle / "config.json", spec.to_bytes(), 0o600)
