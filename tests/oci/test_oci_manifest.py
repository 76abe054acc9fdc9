"""Descriptors, manifests and indexes: golden round trips and refused shapes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument, LimitExceeded, Unsupported
from dockyard.oci import mediatype
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.manifest import MAX_MANIFEST_SIZE, Index, Manifest, parse_manifest_or_index
from dockyard.oci.platform import Platform

D1 = "sha256:" + "1" * 64
CONFIG = {"mediaType": mediatype.OCI_CONFIG, "digest": D1, "size": 2}


def test_docker_manifest_golden(testdata: Path, golden: Callable[[str, bytes], None]) -> None:
    data = (testdata / "docker_manifest.json").read_bytes()
    manifest = Manifest.from_bytes(data)
    assert manifest.media_type == mediatype.DOCKER_MANIFEST
    assert manifest.config.media_type == mediatype.DOCKER_CONFIG
    assert manifest.config.size == 1457
    assert [layer.size for layer in manifest.layers] == [2220094, 1024]
    assert manifest.layers[1].urls == ("https://example.com/layer.tar.gz",)
    assert parse_manifest_or_index(data) == manifest
    golden("docker_manifest.out.json", manifest.to_bytes())
    assert Manifest.from_bytes(manifest.to_bytes()) == manifest
    assert json.loads(manifest.to_bytes()) == json.loads(data)


def test_oci_index_golden(testdata: Path, golden: Callable[[str, bytes], None]) -> None:
    data = (testdata / "oci_index.json").read_bytes()
    index = Index.from_bytes(data)
    assert index.media_type == mediatype.OCI_INDEX
    assert [m.platform for m in index.manifests] == [
        Platform("linux", "amd64"),
        Platform("linux", "arm", "v7"),
        Platform("unknown", "unknown"),
    ]
    assert index.annotations is not None
    assert index.annotations["org.opencontainers.image.ref.name"] == "1.36"
    assert parse_manifest_or_index(data) == index
    golden("oci_index.out.json", index.to_bytes())
    assert Index.from_bytes(index.to_bytes()) == index
    assert json.loads(index.to_bytes()) == json.loads(data)


def test_to_bytes_key_order_and_determinism() -> None:
    manifest = Manifest(
        mediatype.OCI_MANIFEST,
        Descriptor.from_json(CONFIG),
        (),
        annotations={"z": "1", "a": "<&>"},
    )
    assert manifest.to_bytes() == (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        b'"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'
        b'"digest":"sha256:' + b"1" * 64 + b'","size":2},"layers":[],'
        b'"annotations":{"a":"\\u003c\\u0026\\u003e","z":"1"}}'
    )
    desc = manifest.to_descriptor()
    assert desc.digest == Digest.from_bytes(manifest.to_bytes())
    assert desc.size == len(manifest.to_bytes())
    assert desc.media_type == mediatype.OCI_MANIFEST


def test_oci_manifest_without_media_type_is_oci() -> None:
    doc = {"schemaVersion": 2, "config": CONFIG, "layers": []}
    data = json.dumps(doc).encode()
    assert Manifest.from_bytes(data).media_type == mediatype.OCI_MANIFEST
    assert isinstance(parse_manifest_or_index(data), Manifest)
    index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    assert isinstance(parse_manifest_or_index(index), Index)


def test_oci_1_1_fields_round_trip() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": mediatype.OCI_MANIFEST,
        "artifactType": "application/vnd.example+type",
        "config": {**CONFIG, "mediaType": mediatype.OCI_EMPTY},
        "layers": [{**CONFIG, "artifactType": "x", "data": "e30="}],
        "subject": {"mediaType": mediatype.OCI_MANIFEST, "digest": D1, "size": 9},
    }
    manifest = Manifest.from_bytes(json.dumps(doc).encode())
    assert manifest.subject is not None
    assert manifest.subject.size == 9
    assert manifest.layers[0].data == "e30="
    assert json.loads(manifest.to_bytes()) == doc


def _manifest(**changes: object) -> bytes:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mediatype.OCI_MANIFEST,
        "config": CONFIG,
        "layers": [],
    }
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v != "DELETE"}).encode()


BAD_MANIFESTS = [
    (b"", "malformed JSON"),
    (b"{", "malformed JSON"),
    (b"[]", "expected a JSON object"),
    (b"\xff\xfe", "malformed JSON"),
    (b'{"schemaVersion": NaN}', "malformed JSON"),
    (_manifest(schemaVersion=1), "unsupported schemaVersion 1"),
    (_manifest(schemaVersion="2"), '"schemaVersion": expected integer'),
    (_manifest(schemaVersion=True), '"schemaVersion": expected integer'),
    (_manifest(schemaVersion="DELETE"), 'missing field "schemaVersion"'),
    (_manifest(mediaType=mediatype.OCI_INDEX), "unexpected mediaType"),
    (_manifest(mediaType=3), '"mediaType": expected string'),
    (_manifest(config="DELETE"), 'missing field "config"'),
    (_manifest(config=[]), "config: expected a JSON object"),
    (_manifest(layers="DELETE"), 'missing field "layers"'),
    (_manifest(layers={}), '"layers": expected array'),
    (_manifest(layers=[1]), "layers[0]: expected a JSON object"),
    (_manifest(layers=[{**CONFIG, "size": -1}]), "size -1 is negative"),
    (_manifest(layers=[{**CONFIG, "size": 1.5}]), '"size": expected integer'),
    (_manifest(layers=[{**CONFIG, "size": "1"}]), '"size": expected integer'),
    (_manifest(layers=[{**CONFIG, "size": None}]), 'missing field "size"'),
    (_manifest(layers=[{**CONFIG, "digest": "sha256:../x"}]), 'invalid digest "sha256:../x"'),
    (_manifest(layers=[{**CONFIG, "digest": None}]), 'missing field "digest"'),
    (_manifest(layers=[{**CONFIG, "mediaType": None}]), 'missing field "mediaType"'),
    (_manifest(layers=[{**CONFIG, "urls": "x"}]), '"urls": expected array'),
    (_manifest(layers=[{**CONFIG, "urls": [1]}]), "array of strings"),
    (_manifest(layers=[{**CONFIG, "annotations": {"a": 1}}]), "object of strings"),
    (_manifest(layers=[{**CONFIG, "platform": {"os": "linux"}}]), "architecture"),
    (_manifest(annotations=[]), '"annotations": expected object'),
]


@pytest.mark.parametrize(("data", "message"), BAD_MANIFESTS)
def test_bad_manifests(data: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^manifest") as info:
        Manifest.from_bytes(data)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"manifests": "DELETE"}, 'missing field "manifests"'),
        ({"manifests": [{"digest": D1}]}, "manifests[0]"),
        ({"mediaType": mediatype.DOCKER_MANIFEST}, "unexpected mediaType"),
        ({"schemaVersion": 3}, "unsupported schemaVersion"),
    ],
)
def test_bad_indexes(changes: dict[str, object], message: str) -> None:
    doc: dict[str, object] = {"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX}
    doc["manifests"] = []
    doc.update(changes)
    data = json.dumps({k: v for k, v in doc.items() if v != "DELETE"}).encode()
    with pytest.raises(InvalidArgument, match=r"^index") as info:
        Index.from_bytes(data)
    assert message in str(info.value)


def test_size_limit() -> None:
    data = _manifest(annotations={"pad": "x" * MAX_MANIFEST_SIZE})
    with pytest.raises(LimitExceeded):
        Manifest.from_bytes(data)
    with pytest.raises(LimitExceeded):
        parse_manifest_or_index(data)


@pytest.mark.parametrize(
    "doc",
    [
        {"schemaVersion": 1, "name": "x", "fsLayers": []},
        {"schemaVersion": 1, "mediaType": mediatype.DOCKER_MANIFEST_V1_SIGNED},
        {"schemaVersion": 2, "mediaType": "application/vnd.example"},
    ],
)
def test_dispatch_unsupported(doc: dict[str, object]) -> None:
    with pytest.raises(Unsupported):
        parse_manifest_or_index(json.dumps(doc).encode())


def test_dispatch_docker_list() -> None:
    doc = {"schemaVersion": 2, "mediaType": mediatype.DOCKER_MANIFEST_LIST, "manifests": []}
    result = parse_manifest_or_index(json.dumps(doc).encode())
    assert isinstance(result, Index)
    assert result.media_type == mediatype.DOCKER_MANIFEST_LIST


def test_descriptor_to_json_omits_empty() -> None:
    desc = Descriptor(mediatype.OCI_LAYER_GZIP, Digest.parse(D1), 5, annotations={}, urls=())
    assert desc.to_json() == {"mediaType": mediatype.OCI_LAYER_GZIP, "digest": D1, "size": 5}
    assert hash(desc) == hash(Descriptor(mediatype.OCI_LAYER_GZIP, Digest.parse(D1), 5))


@pytest.mark.parametrize("size", [-1, True, 1.0])
def test_descriptor_constructor_checks_size(size: object) -> None:
    with pytest.raises(InvalidArgument):
        Descriptor(mediatype.OCI_LAYER, Digest.parse(D1), size)  # type: ignore[arg-type]


# Hypothesis: any manifest we can build survives to_bytes/from_bytes.
_text = st.text(min_size=1, max_size=12)
_digests = st.binary(max_size=4).map(Digest.from_bytes)
_platforms = st.none() | st.builds(
    Platform, st.sampled_from(["linux", "windows"]), _text, st.none() | _text
)
_annotations = st.none() | st.dictionaries(_text, st.text(max_size=12), min_size=1, max_size=3)
_descriptors = st.builds(
    Descriptor,
    st.sampled_from(sorted(mediatype.LAYER_TYPES)),
    _digests,
    st.integers(min_value=0, max_value=2**53),
    _annotations,
    _platforms,
    st.lists(_text, max_size=2).map(tuple),
)
_manifests = st.builds(
    Manifest,
    st.sampled_from(sorted(mediatype.MANIFEST_TYPES)),
    _descriptors,
    st.lists(_descriptors, max_size=4).map(tuple),
    _annotations,
)
_indexes = st.builds(
    Index,
    st.sampled_from(sorted(mediatype.INDEX_TYPES)),
    st.lists(_descriptors, max_size=4).map(tuple),
    _annotations,
)


@given(_manifests)
def test_manifest_round_trip(manifest: Manifest) -> None:
    data = manifest.to_bytes()
    assert Manifest.from_bytes(data) == manifest
    assert parse_manifest_or_index(data) == manifest
    assert Manifest.from_bytes(data).to_bytes() == data


@given(_indexes)
def test_index_round_trip(index: Index) -> None:
    data = index.to_bytes()
    assert Index.from_bytes(data) == index
    assert parse_manifest_or_index(data) == index


@given(st.binary(max_size=200))
def test_garbage_raises_only_categories(data: bytes) -> None:
    with contextlib.suppress(InvalidArgument, Unsupported):
        parse_manifest_or_index(data)
