"""Media type helpers and platforms."""

from __future__ import annotations

import platform as host

import pytest

from dockyard.errors import InvalidArgument, Unsupported
from dockyard.oci import mediatype
from dockyard.oci.platform import Platform, compatibility, host_platform, parse_platform


@pytest.mark.parametrize(
    ("media_type", "compression"),
    [
        (mediatype.OCI_LAYER, "none"),
        (mediatype.OCI_LAYER_GZIP, "gzip"),
        (mediatype.OCI_LAYER_ZSTD, "zstd"),
        (mediatype.DOCKER_LAYER_GZIP, "gzip"),
        (mediatype.DOCKER_LAYER_FOREIGN_GZIP, "gzip"),
        ("application/vnd.oci.image.layer.v1.tar+zstd", "zstd"),
    ],
)
def test_layer_compression(media_type: str, compression: str) -> None:
    assert media_type in mediatype.LAYER_TYPES
    assert mediatype.layer_compression(media_type) == compression


@pytest.mark.parametrize("media_type", [mediatype.OCI_MANIFEST, mediatype.OCI_CONFIG, "", "x"])
def test_layer_compression_unknown(media_type: str) -> None:
    with pytest.raises(Unsupported, match="layer media type"):
        mediatype.layer_compression(media_type)


def test_type_sets_are_disjoint() -> None:
    sets = [mediatype.LAYER_TYPES, mediatype.MANIFEST_TYPES, mediatype.INDEX_TYPES]
    sets.append(mediatype.CONFIG_TYPES)
    assert sum(len(s) for s in sets) == len(frozenset().union(*sets))
    assert mediatype.DOCKER_MANIFEST == "application/vnd.docker.distribution.manifest.v2+json"
    assert mediatype.OCI_LAYOUT_VERSION == "1.0.0"


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"architecture": "amd64", "os": "linux"}, Platform("linux", "amd64")),
        (
            {"architecture": "arm", "os": "linux", "variant": "v7"},
            Platform("linux", "arm", "v7"),
        ),
        (
            {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1879"},
            Platform("windows", "amd64", os_version="10.0.17763.1879"),
        ),
    ],
)
def test_from_json_round_trip(obj: dict[str, object], expected: Platform) -> None:
    parsed = Platform.from_json(obj)
    assert parsed == expected
    assert parsed.to_json() == obj


@pytest.mark.parametrize(
    "obj",
    [
        None,
        [],
        {"os": "linux"},
        {"architecture": "amd64"},
        {"architecture": 1, "os": "linux"},
        {"architecture": "amd64", "os": "linux", "variant": 7},
        {"architecture": "amd64", "os": "linux", "os.features": "x"},
    ],
)
def test_from_json_invalid(obj: object) -> None:
    with pytest.raises(InvalidArgument):
        Platform.from_json(obj)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/x86_64", Platform("linux", "amd64")),
        ("linux/arm64", Platform("linux", "arm64", "v8")),
        ("linux/aarch64", Platform("linux", "arm64", "v8")),
        ("linux/arm/v6", Platform("linux", "arm", "v6")),
        ("linux/arm", Platform("linux", "arm", "v7")),
        ("arm64", Platform("linux", "arm64", "v8")),
        ("Linux/AMD64", Platform("linux", "amd64")),
    ],
)
def test_parse_platform(text: str, expected: Platform) -> None:
    assert parse_platform(text) == expected


@pytest.mark.parametrize("text", ["", "/", "linux/", "a/b/c/d"])
def test_parse_platform_invalid(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_platform(text)


@pytest.mark.parametrize(
    ("want", "have", "ok"),
    [
        ("linux/amd64", "linux/amd64", True),
        ("linux/amd64", "linux/x86_64", True),
        ("linux/amd64", "linux/arm64", False),
        ("linux/amd64", "windows/amd64", False),
        ("linux/arm64", "linux/arm64/v8", True),
        ("linux/arm64/v8", "linux/arm64", True),
        ("linux/arm/v7", "linux/arm/v6", False),
        ("linux/arm", "linux/arm/v7", True),
    ],
)
def test_matches(want: str, have: str, ok: bool) -> None:
    os_, arch, *variant = have.split("/")
    available = Platform(os_, arch, variant[0] if variant else None)
    assert parse_platform(want).matches(available) is ok


@pytest.mark.parametrize(
    ("want", "have", "rank"),
    [
        ("linux/amd64", Platform("linux", "x86_64"), 0),
        ("linux/arm64", Platform("linux", "arm64"), 0),  # v8 filled on both sides
        ("linux/arm/v7", Platform("linux", "arm", "v7"), 0),
        ("linux/arm/v7", Platform("linux", "arm", "v6"), 1),  # an older variant runs
        ("linux/arm/v7", Platform("linux", "arm", "v5"), 2),
        ("linux/arm/v6", Platform("linux", "arm", "v7"), None),  # a newer one does not
        ("linux/amd64", Platform("linux", "arm64", "v8"), None),
        ("linux/amd64", Platform("windows", "amd64"), None),
        ("linux/amd64", None, None),
    ],
)
def test_compatibility(want: str, have: Platform | None, rank: int | None) -> None:
    assert compatibility(parse_platform(want), have) == rank


def test_str() -> None:
    assert str(Platform("linux", "arm", "v7")) == "linux/arm/v7"
    assert str(Platform("linux", "amd64")) == "linux/amd64"


def test_host_platform() -> None:
    expected = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(host.machine())
    current = host_platform()
    assert current.os == "linux"
    if expected is not None:
        assert current.architecture == expected
    assert current.matches(current)
