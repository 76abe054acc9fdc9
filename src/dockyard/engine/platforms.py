"""The platform a container runs on: this host's, since dockyard runs native images only.

``run``/``create --platform`` and compose's ``platform:`` name a platform (``linux/amd64``).
Dockyard does not emulate other CPUs (no binfmt_misc and QEMU), so a platform this host cannot
run natively is refused before anything is pulled, with both platforms named: otherwise the
user learns it as ``exec format error`` from inside the container. A local image whose config
names another platform than the one asked for is refused the way docker refuses it.

"Natively" follows :func:`dockyard.oci.platform.compatibility`: the host's own platform, or an
older variant of it (an ``arm/v7`` host runs ``arm/v6``).
"""

from __future__ import annotations

from dockyard.errors import NotFound, Unsupported
from dockyard.oci.platform import Platform, compatibility, host_platform


def require_native(wanted: Platform, *, subject: str = "", setting: str = "--platform") -> None:
    """Refuse ``wanted`` unless this host runs its images natively.

    Args:
        subject: what asked for it, prefixed to the message (``service web: ``).
        setting: the flag or key that asked, named in the hint (``--platform``, ``platform:``).

    Raises:
        Unsupported: ``wanted`` is another OS or CPU than this host's.
    """
    host = host_platform()
    if compatibility(host, wanted) is None:
        raise Unsupported(
            f"{subject}platform {wanted} is not this host's platform ({host}): dockyard runs "
            "native images only (no emulation)",
            hint=f"use {setting} {host}, or leave {setting} out",
        )


def check_image_platform(image: str, wanted: Platform, have: Platform) -> None:
    """Refuse a local ``image`` whose config platform ``have`` does not serve ``wanted``.

    An image config without an architecture names no platform and is accepted.

    Raises:
        NotFound: the image is here for another platform only (docker's category: the image
            of the wanted platform is not here).
    """
    if not have.architecture or compatibility(wanted, have) is not None:
        return
    actual = Platform(have.os or "linux", have.architecture, have.variant)
    raise NotFound(
        f"image {image} was found but does not match the specified platform: wanted {wanted}, "
        f"actual {actual}",
        hint=f"pull the image for {wanted}: dockyard pull --platform {wanted} {image}",
    )
