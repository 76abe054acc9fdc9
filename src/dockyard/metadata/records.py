"""Typed rows of the metadata database."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRecord:
    """An image as the engine knows it.

    ``id`` is the config digest (``sha256:…``), Docker's image ID. ``manifest_digest`` names the
    manifest stored in the content store; ``size`` is the sum of the layers' uncompressed sizes.
    """

    id: str
    manifest_digest: str
    manifest_media_type: str
    created: float
    added: float
    size: int
    last_tag_time: float | None = None
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerRecord:
    """An unpacked layer: the snapshot named ``chain_id`` holds the tree of every layer below."""

    chain_id: str
    diff_id: str
    parent: str | None
    size: int
    snapshotter: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerRef:
    """The part of a container that the image store must respect: which image it uses."""

    id: str
    name: str
    image_id: str
    running: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeRecord:
    """A volume: a directory the engine manages, mounted into containers by name.

    ``anonymous`` volumes were created without a name (``VOLUME`` in an image, ``-v /path``);
    their name is 64 random hex digits, and ``volume prune`` removes only them by default.
    """

    name: str
    driver: str
    created: float
    labels: tuple[tuple[str, str], ...] = ()
    anonymous: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkRecord:
    """A network's row (the network package converts it to and from its ``Network``).

    ``subnet``, ``gateway`` and ``ip_range`` are IPv4 text (CIDR, address, CIDR or empty);
    ``bridge`` is the host's device name; ``created`` is RFC 3339 text.
    """

    id: str
    name: str
    driver: str
    subnet: str
    gateway: str
    ip_range: str = ""
    internal: bool = False
    bridge: str
    labels: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    created: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointRecord:
    """A container's attachment to a network: its address there, unique on the network.

    ``ports`` are the published ports as a JSON array, written and read by the network
    package (its port model is not metadata's business); ``veth`` is the host end of the
    container's veth pair (empty until it exists); ``dns`` are the container's ``--dns``
    server addresses, in order (where the network's DNS forwards the names it does not know).
    """

    network_id: str
    container_id: str
    ip: str
    mac: str = ""
    names: tuple[str, ...] = ()
    ports: str = "[]"
    veth: str = ""
    dns: tuple[str, ...] = ()
