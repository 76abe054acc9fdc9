"""A container's configuration: what ``create`` decided, kept in ``containers/<id>/config.json``.

The run state (status, pid, exit code ...) lives beside it in ``state.json``
(:mod:`dockyard.monitor.state`). The configuration changes only through ``rename`` and
``update``; both rewrite the file atomically under the container's lock.

Version 1 of the file: ``{"version": 1, "id": …, "name": …, …, "options": {RunOptions}}``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dockyard.engine import CONTAINER_CONFIG_VERSION as VERSION
from dockyard.engine.options import (
    BLKIO_FIELDS,
    BindMount,
    BlkioDevice,
    DeviceMapping,
    IpcMode,
    NetworkAttachment,
    NetworkMode,
    RunOptions,
    Ulimit,
)
from dockyard.errors import DataCorrupted
from dockyard.network.model import PortBinding, Proto
from dockyard.oci.containerconfig import HealthConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeMount:
    """A volume mounted into the container: ``name`` under ``volumes/``, at ``destination``."""

    name: str
    destination: str
    readonly: bool = False
    anonymous: bool = False
    nocopy: bool = False  # not filled from the image's content (compose's volume.nocopy)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerConfig:
    """Everything ``create`` fixed about one container.

    Attributes:
        image: the image as the user named it (docker's ``Config.Image``).
        image_id: the image's config digest.
        snapshot: the key of the container's writable snapshot.
        options: the run options for :func:`dockyard.engine.specgen.generate`; its ``binds``
            are the user's bind mounts, volumes are kept in ``volumes``.
        runtime: ``""`` for dockyard's own runtime (in-process), else the OCI runtime command.
        command: the effective argv (entrypoint + cmd) when it was created, docker's
            ``Path`` + ``Args``: ``ps`` shows it without reading the image.
        networks: with ``--network bridge`` or a user network: the networks it joins at each
            start, in order (the first gives the default route and the published ports).
        network_container: with ``--network container:X``: X's full ID.
        ports: ``-p``/``-P`` bindings (host port 0: a random one, picked at each start).
        exposed: ``EXPOSE``d and ``--expose``d ports (``80/tcp``).
    """

    id: str
    name: str
    created: str
    image: str
    image_id: str
    snapshot: str
    options: RunOptions
    tty: bool = False
    open_stdin: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    stop_timeout: int | None = None
    healthcheck: HealthConfig | None = None
    restart_policy: str = "no"
    restart_max: int = 0
    auto_remove: bool = False
    log_max_size: int = 0
    log_max_file: int = 1
    volumes: tuple[VolumeMount, ...] = ()
    init: bool = False
    runtime: str = ""
    add_hosts: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    networks: tuple[NetworkAttachment, ...] = ()
    network_container: str = ""
    ports: tuple[PortBinding, ...] = ()
    exposed: tuple[str, ...] = ()

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def to_json(self) -> dict[str, object]:
        doc = _encode(self)
        assert isinstance(doc, dict)
        doc["version"] = VERSION
        if self.healthcheck is not None:
            doc["healthcheck"] = self.healthcheck.to_json()
        return doc

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), indent=1, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes, where: str) -> ContainerConfig:
        """Parse a config file.

        Raises:
            DataCorrupted: not a config this dockyard wrote.
        """
        try:
            doc = json.loads(raw)
            if doc.pop("version") != VERSION:
                raise ValueError("unknown version")
            health = doc.pop("healthcheck", None)
            config = _decode(ContainerConfig, doc)
            if health is not None:
                config = dataclasses.replace(config, healthcheck=HealthConfig.from_json(health))
            return config  # type: ignore[no-any-return]
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise DataCorrupted(
                f"{where}: not a container config ({err})",
                hint="remove the container with `dockyard rm -f`",
            ) from err


_NESTED: dict[str, type] = {
    "options": RunOptions,
    "volumes": VolumeMount,
    "binds": BindMount,
    "devices": DeviceMapping,
    "ulimits": Ulimit,
    **dict.fromkeys(BLKIO_FIELDS, BlkioDevice),
    "networks": NetworkAttachment,
    "ports": PortBinding,
}
_ENUMS: dict[str, type[StrEnum]] = {"ipc": IpcMode, "network": NetworkMode, "proto": Proto}


def _encode(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, StrEnum):
        return str(value)
    return value


def _decode(cls: type, doc: dict[str, Any]) -> Any:
    kwargs: dict[str, object] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in doc.items():
        if key not in names:
            raise ValueError(f"unknown field {key!r}")
        kwargs[key] = _decode_field(key, value)
    return cls(**kwargs)


def _decode_field(key: str, value: object) -> object:
    if key in _ENUMS:
        return _ENUMS[key](str(value))
    nested = _NESTED.get(key)
    if nested is not None and isinstance(value, dict):
        return _decode(nested, value)
    if nested is not None and isinstance(value, list):
        return tuple(_decode(nested, v) for v in value)
    if isinstance(value, list):
        return tuple(value)
    return value
