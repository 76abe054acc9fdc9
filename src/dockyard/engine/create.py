"""``create``: from an image and run options to a container in state ``created``.

The script::

    resolve the image ("Unable to find image …" otherwise); check it against --platform
    merge the image's defaults (healthcheck, stop signal, VOLUMEs -> anonymous volumes)
    claim the name in the database (UNIQUE: one winner when parallel runs race for a name)
    prepare the writable snapshot on the image's top layer
    create and attach the volumes; write hostname, hosts, resolv.conf, config.json, state.json

A failure undoes every step already taken, in reverse order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard._util.numbers import is_uint
from dockyard._util.rfc3339 import format_nano
from dockyard.engine import hostfiles
from dockyard.engine.container import ContainerConfig, VolumeMount
from dockyard.engine.options import NetworkMode, NetworkRequest, RunOptions
from dockyard.engine.store import ContainerStore, ensure_dir, random_name, validate_name
from dockyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from dockyard.metadata import ContainerRef
from dockyard.monitor import state as run_state
from dockyard.oci.containerconfig import HealthConfig
from dockyard.oci.image import ImageConfig

if TYPE_CHECKING:
    from dockyard.engine.volumes import VolumeStore
    from dockyard.image import ImageStore
    from dockyard.network.model import PortBinding
    from dockyard.network.store import NetworkStore
    from dockyard.oci.platform import Platform


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeRequest:
    """``-v NAME:/path``, ``-v /path`` (anonymous: ``name`` empty) or ``--mount type=volume``."""

    name: str
    destination: str
    readonly: bool = False
    nocopy: bool = False  # compose's volume.nocopy: never fill it from the image


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateRequest:
    """What ``docker create``/``run`` flags ask for (the CLI parses, the engine decides)."""

    image: str
    options: RunOptions
    name: str = ""
    volumes: tuple[VolumeRequest, ...] = ()
    tty: bool = False
    open_stdin: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    stop_timeout: int | None = None
    health: HealthConfig | None = None
    no_healthcheck: bool = False
    restart: str = "no"
    auto_remove: bool = False
    log_opts: Mapping[str, str] = field(default_factory=dict)
    init: bool = False
    runtime: str = ""
    add_hosts: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    network: NetworkRequest = field(default_factory=NetworkRequest)
    ports: tuple[PortBinding, ...] = ()
    publish_all: bool = False
    expose: tuple[str, ...] = ()
    platform: Platform | None = None  # --platform: checked against the host and the image


def snapshot_key(container_id: str) -> str:
    return f"container-{container_id}"


def create(
    store: ContainerStore,
    images: ImageStore,
    volumes: VolumeStore,
    req: CreateRequest,
    networks: NetworkStore | None = None,
) -> ContainerConfig:
    """Create a container (see the module docstring).

    Args:
        networks: the network store (needed unless ``--network`` is host or none).

    Raises:
        NotFound: the image (or a network, or the ``container:`` container) is not here; the
            image is here for another platform than ``req.platform`` only.
        Conflict: the name is taken.
        InvalidArgument: conflicting or malformed options.
        Unsupported: ``req.platform`` is not this host's.
    """
    image_id, image_config = _image(images, req)
    config = _config(store, req, image_id, image_config)
    config = _networks(store, networks, config, req, image_config)
    with contextlib.ExitStack() as undo:
        _claim_name(images, config, undo)
        chain = image_config.rootfs.chain_ids()
        images.snapshots.prepare(config.snapshot, str(chain[-1]) if chain else None)
        undo.callback(images.snapshots.remove, config.snapshot)
        directory = ensure_dir(store.container_dir(config.id))
        undo.callback(shutil.rmtree, directory, True)
        config = _attach_volumes(volumes, config, req, image_config, undo)
        _write_host_files(directory, config, _resolver(networks, config))
        store.write_config(config)
        run_state.save(str(directory), run_state.RunState())
        undo.pop_all()
    return config


def _image(images: ImageStore, req: CreateRequest) -> tuple[str, ImageConfig]:
    """The ID and config of ``req.image``, checked against ``req.platform`` when one is asked."""
    if req.platform is not None:
        from dockyard.engine.platforms import require_native

        require_native(req.platform)
    try:
        image = images.resolve(req.image)
    except NotFound:
        raise NotFound(
            f"Unable to find image '{req.image}' locally",
            hint="pull it (`dockyard pull`, or run with --pull missing), or load or import it",
        ) from None
    image_config = images.config(image)
    if req.platform is not None:
        from dockyard.engine.platforms import check_image_platform

        check_image_platform(req.image, req.platform, image_config.platform)
    return image.id, image_config


def _config(
    store: ContainerStore, req: CreateRequest, image_id: str, image: ImageConfig
) -> ContainerConfig:
    from dockyard.monitor.logfile import parse_size
    from dockyard.monitor.restart import parse_policy

    policy, max_retries = parse_policy(req.restart)
    if req.auto_remove and policy != "no":
        raise InvalidArgument("Conflicting options: --restart and --rm")
    log_size, log_files = _log_opts(req.log_opts, parse_size)
    cid = store.new_id()
    return ContainerConfig(
        id=cid,
        name=validate_name(req.name) if req.name else "",
        created=format_nano(time.time()),
        image=req.image,
        image_id=image_id,
        snapshot=snapshot_key(cid),
        options=req.options,
        tty=req.tty,
        open_stdin=req.open_stdin,
        labels={**image.config.labels, **req.labels},
        stop_signal=req.stop_signal or image.config.stop_signal,
        stop_timeout=req.stop_timeout,
        healthcheck=_health(image.config.healthcheck, req),
        restart_policy=policy,
        restart_max=max_retries,
        auto_remove=req.auto_remove,
        log_max_size=log_size,
        log_max_file=log_files,
        init=req.init,
        runtime=req.runtime,
        add_hosts=req.add_hosts,
        dns=req.dns,
        dns_search=req.dns_search,
        dns_options=req.dns_options,
        command=_command(req.options, image),
    )


def _networks(
    store: ContainerStore,
    networks: NetworkStore | None,
    config: ContainerConfig,
    req: CreateRequest,
    image: ImageConfig,
) -> ContainerConfig:
    """``--network``, ``-p``, ``-P`` and ``--expose`` decided (see :mod:`.networking`)."""
    from dockyard.engine import networking
    from dockyard.network import ports as port_specs

    exposed = tuple(dict.fromkeys((*image.config.exposed_ports, *_expose(req.expose))))
    mode, attachments, share = networking.choose(networks, req.network)
    if share:
        share = store.find(share).id
    if mode is not NetworkMode.BRIDGE and any(
        hostfiles.parse_add_host(h)[1] == hostfiles.HOST_GATEWAY for h in req.add_hosts
    ):
        raise InvalidArgument(
            f"--add-host NAME:host-gateway needs a bridge network (not --network {mode})",
            hint="with --network host, the host is 127.0.0.1",
        )
    bindings: tuple[PortBinding, ...] = ()
    if req.ports or req.publish_all:
        if mode is not NetworkMode.BRIDGE:
            raise InvalidArgument(
                f"conflicting options: port publishing and --network {mode}",
                hint="published ports need a bridge network; with --network host the "
                "container's ports are the host's already",
            )
        extra = port_specs.publish_all(
            p for e in exposed for p in port_specs.parse_expose(e)
        ) if req.publish_all else []  # fmt: skip
        bindings = tuple(port_specs.merge(req.ports, extra))
    return dataclasses.replace(
        config,
        options=dataclasses.replace(config.options, network=mode),
        networks=attachments,
        network_container=share,
        ports=bindings,
        exposed=exposed,
    )


def _expose(specs: tuple[str, ...]) -> list[str]:
    from dockyard.network import ports as port_specs

    return [f"{p}/{proto}" for spec in specs for p, proto in port_specs.parse_expose(spec)]


def _command(options: RunOptions, image: ImageConfig) -> tuple[str, ...]:
    """Docker's merge of ``--entrypoint`` and the command with the image's: an explicit
    entrypoint (even empty) drops the image's entrypoint and Cmd."""
    if options.entrypoint is not None:
        return (*options.entrypoint, *options.cmd)
    return (*(image.config.entrypoint or ()), *(options.cmd or image.config.cmd or ()))


def _log_opts(opts: Mapping[str, str], parse_size: object) -> tuple[int, int]:
    size, files = 0, 1
    for key, value in opts.items():
        if key == "max-size":
            size = parse_size(value)  # type: ignore[operator]
        elif key == "max-file":
            if not is_uint(value) or int(value) < 1:
                raise InvalidArgument(f"invalid value for max-file: {value!r}, must be >= 1")
            files = int(value)
        else:
            raise InvalidArgument(
                f"unknown log opt '{key}' for json-file log driver",
                hint="dockyard's json-file driver supports max-size and max-file",
            )
    if files > 1 and size == 0:
        raise InvalidArgument("max-file cannot be used without max-size")
    return size, files


def _health(image: HealthConfig | None, req: CreateRequest) -> HealthConfig | None:
    """Docker's merge: flags override the image's healthcheck field by field."""
    if req.no_healthcheck:
        return HealthConfig(test=("NONE",))
    if req.health is None:
        return image
    base = image or HealthConfig()
    over = req.health
    return HealthConfig(
        test=over.test or base.test,
        interval=over.interval or base.interval,
        timeout=over.timeout or base.timeout,
        start_period=over.start_period or base.start_period,
        start_interval=over.start_interval or base.start_interval,
        retries=over.retries or base.retries,
    )


def _claim_name(images: ImageStore, config: ContainerConfig, undo: contextlib.ExitStack) -> None:
    """Insert the database row; a taken name is a Conflict (generated names are retried)."""
    name = config.name
    for _attempt in range(50):
        candidate = name or random_name()
        try:
            images.db.add_container(
                ContainerRef(id=config.id, name=candidate, image_id=config.image_id, running=False)
            )
        except AlreadyExists:
            if name:
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{_owner(images, name)}"',
                    hint="You have to remove (or rename) that container to be able to reuse "
                    "that name.",
                ) from None
            continue
        object.__setattr__(config, "name", candidate)
        undo.callback(images.db.delete_container, config.id)
        return
    raise Conflict("could not find a free container name", hint="pass --name")


def _owner(images: ImageStore, name: str) -> str:
    for ref in images.db.list_containers():
        if ref.name == name:
            return ref.id
    return "?"


def _attach_volumes(
    volumes: VolumeStore,
    config: ContainerConfig,
    req: CreateRequest,
    image: ImageConfig,
    undo: contextlib.ExitStack,
) -> ContainerConfig:
    """Named and anonymous volumes from the flags, plus an anonymous one for each image VOLUME
    that no flag mounts over."""
    taken = {v.destination for v in req.volumes}
    taken |= {b.destination for b in req.options.binds} | set(req.options.tmpfs)
    wanted = list(req.volumes) + [
        VolumeRequest(name="", destination=path)
        for path in image.config.volumes
        if path not in taken
    ]
    mounts: list[VolumeMount] = []
    for want in wanted:
        if not want.destination.startswith("/"):
            raise InvalidArgument(
                f"invalid mount path: '{want.destination}' mount path must be absolute"
            )
        volume = volumes.create(want.name or None)
        if not want.name:
            undo.callback(volumes.remove, volume.name, force=True)
        mounts.append(
            VolumeMount(name=volume.name, destination=want.destination, readonly=want.readonly,
                        anonymous=not want.name, nocopy=want.nocopy)
        )  # fmt: skip
    volumes.attach(config.id, [(m.name, m.destination) for m in mounts])
    undo.callback(volumes.release, config.id, remove_anonymous=True)
    return dataclasses.replace(config, volumes=tuple(mounts))


def _resolver(networks: NetworkStore | None, config: ContainerConfig) -> tuple[str, str]:
    """(resolver, fallback) for resolv.conf: a user network's DNS responder answers for
    container names; the default network's forwards only, for hosts with loopback resolvers."""
    if not config.networks or networks is None:
        return "", ""
    network = networks.get(config.networks[0].id)
    return ("" if network.is_default else network.gateway), network.gateway


def _write_host_files(
    directory: Path, config: ContainerConfig, resolver: tuple[str, str] = ("", "")
) -> None:
    hostname = config.options.hostname or config.short_id
    if config.options.network is NetworkMode.HOST:
        hostname = config.options.hostname or os.uname().nodename
        hosts_text = _read("/etc/hosts")
        resolv = _read("/etc/resolv.conf")
    else:
        hosts_text = hostfiles.hosts(config.add_hosts)
        resolv = hostfiles.resolv_conf(
            _read("/etc/resolv.conf"),
            dns=config.dns, search=config.dns_search, options=config.dns_options,
            resolver=resolver[0], fallback=resolver[1],
        )  # fmt: skip
    (directory / "hostname").write_text(hostname + "\n")
    (directory / "hosts").write_text(hosts_text)
    (directory / "resolv.conf").write_text(resolv)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""
