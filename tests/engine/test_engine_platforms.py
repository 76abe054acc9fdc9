"""``--platform`` and compose's ``platform:`` against this host and a local image: native
platforms pass, others are refused naming both platforms; an image of another platform than
the one asked for is refused like docker refuses it."""

from __future__ import annotations

import pytest

from dockyard.engine.platforms import check_image_platform, require_native
from dockyard.errors import NotFound, Unsupported
from dockyard.oci.platform import Platform, host_platform, parse_platform

HOST = host_platform()
# A platform this host is not: arm64 on anything but arm64, amd64 there.
FOREIGN = parse_platform("linux/amd64" if HOST.architecture == "arm64" else "linux/arm64")


@pytest.mark.parametrize(
    "text",
    [str(HOST), HOST.architecture, f"{HOST.os}/{HOST.architecture}", str(HOST).upper()],
)
def test_the_host_platform_is_native_however_written(text: str) -> None:
    require_native(parse_platform(text))


def test_another_platform_is_refused_naming_both() -> None:
    with pytest.raises(Unsupported) as caught:
        require_native(FOREIGN)
    assert caught.value.message == (
        f"platform {FOREIGN} is not this host's platform ({HOST}): dockyard runs native "
        "images only (no emulation)"
    )
    assert caught.value.hint == f"use --platform {HOST}, or leave --platform out"


def test_compose_names_the_service_and_its_key() -> None:
    with pytest.raises(Unsupported) as caught:
        require_native(parse_platform("windows/amd64"), subject="service web: ",
                       setting="platform:")  # fmt: skip
    assert caught.value.message.startswith("service web: platform windows/amd64 is not")
    assert caught.value.hint == f"use platform: {HOST}, or leave platform: out"


def test_an_image_of_the_platform_asked_for_passes() -> None:
    check_image_platform("busybox", HOST, Platform(HOST.os, HOST.architecture, HOST.variant))
    check_image_platform("busybox", parse_platform("linux/arm64"), Platform("linux", "arm64"))
    check_image_platform("busybox", FOREIGN, Platform("linux", ""))  # no platform named


def test_an_image_of_another_platform_is_refused_like_docker() -> None:
    with pytest.raises(NotFound) as caught:
        check_image_platform("busybox", parse_platform("linux/amd64"), Platform("linux", "arm64"))
    assert caught.value.message == (
        "image busybox was found but does not match the specified platform: "
        "wanted linux/amd64, actual linux/arm64"
    )
    assert caught.value.hint is not None
    assert "dockyard pull --platform linux/amd64 busybox" in caught.value.hint
