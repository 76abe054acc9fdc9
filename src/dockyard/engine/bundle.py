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

from dockyard.engine.options import BindMount, HostFiles
from dockyard.engine.specgen import generate
from dockyard.errors import FailedPrecondition
from dockyard.oci.runtime import Mount, RlimitType, Spec

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


def build_spec(
    container: Container, image: ImageConfig, volumes: VolumeStore, *, cgroup_v2: bool
) -> Spec:
    """The spec for the container's next run (pure but for host facts)."""
    config = container.config
    binds = tuple(
        BindMount(source=str(volumes.path(v.name)), destination=v.destination, readonly=v.readonly)
        for v in config.volumes
    )
    options = dataclasses.replace(
        config.options, terminal=config.tty, binds=config.options.binds + binds
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
    if config.init:
        spec = with_init(spec, init_binary())
    return spec


def with_init(spec: Spec, binary: str) -> Spec:
    """docker-init: the reaper bind-mounted read-only at /sbin/docker-init runs as PID 1 and
    execs the command (``docker-init -- CMD``)."""
    assert spec.process is not None
    mount = Mount(
        destination=INIT_PATH, type="bind", source=binary, options=("bind", "ro", "nosuid", "nodev")
    )
    process = dataclasses.replace(spec.process, args=(INIT_PATH, "--", *spec.process.args))
    return dataclasses.replace(spec, process=process, mounts=(*spec.mounts, mount))


def write_bundle(container: Container, spec: Spec) -> Path:
    """Write ``<container>/bundle/config.json``; return the bundle directory."""
    from dockyard._util.atomic import write_atomic

    bundle = container.dir / "bundle"
    bundle.mkdir(mode=0o700, exist_ok=True)
    (container.dir / "rootfs").mkdir(mode=0o755, exist_ok=True)
    write_atomic(bundle / "config.json", spec.to_bytes(), 0o600)
    return bundle
