"""Choosing the manifest of one platform from an image index (a Docker manifest list).

containerd's rules, in short: a manifest matches when its OS and architecture equal the wanted
ones after normalisation (``aarch64`` is ``arm64``, ``arm64`` means ``arm64/v8``); an exact
variant beats a compatible older one (an ``arm/v7`` host runs ``v6`` and ``v5`` images);
among equals, the index order wins. Entries without a platform, and attestation manifests
(``unknown/unknown``), never match. When nothing matches, the error lists what the image has,
so the user learns it at pull time instead of as ``exec format error`` at run time.
"""

from __future__ import annotations

from dockyard.errors import NotFound
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.manifest import Index
from dockyard.oci.platform import Platform, compatibility


def select_manifest(index: Index, wanted: Platform, *, image: str, host: Platform) -> Descriptor:
    """The descriptor of ``wanted``'s manifest in ``index``.

    Args:
        image: names the image in the error (``docker.io/library/busybox:latest``).
        host: this machine's platform, named in the error when ``wanted`` is it.

    Raises:
        NotFound: no manifest for ``wanted``; the message lists the platforms there are.
    """
    want = wanted.normalized()
    best: tuple[int, Descriptor] | None = None
    for desc in index.manifests:
        rank = compatibility(want, desc.platform)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, desc)
    if best is not None:
        return best[1]
    raise NotFound(no_platform_message(image, available(index), want, host))


def available(index: Index) -> list[Platform]:
    """The real platforms ``index`` offers (attestations and platform-less entries left out)."""
    found: list[Platform] = []
    for desc in index.manifests:
        platform = desc.platform
        if platform is None or "unknown" in (platform.os, platform.architecture):
            continue
        if platform not in found:
            found.append(platform)
    return found


def no_platform_message(
    image: str, platforms: list[Platform], wanted: Platform, host: Platform
) -> str:
    """``image X has linux/arm64 only; this host is linux/amd64`` (or: ``… was asked for``)."""
    have = ", ".join(str(p) for p in platforms) or "no platform"
    whose = "this host is" if wanted == host.normalized() else "asked for"
    return f"image {image} has {have} only; {whose} {wanted}"


def check_config_platform(image: str, have: Platform, wanted: Platform, host: Platform) -> None:
    """Refuse a single-platform image whose config names a platform ``wanted`` cannot run.

    Raises:
        NotFound: with the same message as ``select_manifest``.
    """
    if compatibility(wanted.normalized(), have) is None:
        raise NotFound(no_platform_message(image, [have], wanted.normalized(), host))
