"""The registry's pure parts: names and targets, access decisions and token scopes, routing,
manifest checks and negotiation, the config file, and the index's schema guard."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.distribution.server import config, manifests, names, routing
from dockyard.distribution.server.access import (
    Identity,
    Permission,
    Policy,
    Scope,
    Visibility,
    grant_scope,
    parse_scope,
)
from dockyard.distribution.server.apierror import ApiError, Code
from dockyard.errors import FailedPrecondition, InvalidArgument
from dockyard.metadata.registrydb import RegistryDB
from dockyard.oci import mediatype

SHA = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("busybox", True), ("library/busybox", True), ("a/b/c-d__e.f", True), ("a--b", True),
        ("A", False), ("a/", False), ("/a", False), ("a//b", False), ("..", False),
        ("a/../b", False), ("a_", False), ("-a", False), ("a%2fb", False), ("a" * 256, False),
    ],
)  # fmt: skip
def test_repository_names(name: str, ok: bool) -> None:
    assert names.is_repository(name) is ok


def test_targets_cover_and_rank() -> None:
    assert names.covers("*", "x/y")
    assert names.covers("team/*", "team/a/b")
    assert not names.covers("team/*", "teamx/a")
    assert not names.covers("team/*", "team")
    assert names.specificity("team/app") > names.specificity("team/sub/*")
    assert names.specificity("team/sub/*") > names.specificity("team/*") > names.specificity("*")
    for bad in ("team/**", "/*", "Team/*", "team/*/x"):
        with pytest.raises(InvalidArgument):
            names.check_target(bad)


def test_policy_permissions_and_visibility() -> None:
    policy = Policy(
        grants=(("team/*", Permission.PUSH), ("team/secret", Permission.ADMIN)),
        visibilities={"*": Visibility.PRIVATE, "pub/*": Visibility.PUBLIC,
                      "pub/hidden": Visibility.PRIVATE},
    )  # fmt: skip
    assert policy.permissions("team/app") == {Permission.PULL, Permission.PUSH}
    assert policy.permissions("team/secret") == set(Permission)
    assert policy.permissions("pub/app") == {Permission.PULL}
    assert policy.permissions("pub/hidden") == frozenset()
    assert policy.permissions("other") == frozenset()
    token = Identity(user="u", access=frozenset({("team/app", "pull")}))
    assert policy.allows(token, "team/app", Permission.PULL)
    assert not policy.allows(token, "team/app", Permission.PUSH)
    assert Policy(visibilities={}, open=True).permissions("x") == set(Permission)


def test_scopes_parse_and_grant() -> None:
    assert parse_scope("repository:a/b:pull,push") == Scope(
        type="repository", name="a/b", actions=("pull", "push")
    )
    assert parse_scope("repository(plugin):a:pull") == Scope(
        type="repository", name="a", actions=("pull",)
    )
    assert parse_scope("garbage") is None
    policy = Policy(grants=(("a", Permission.PULL),), visibilities={})
    wanted = Scope(type="repository", name="a", actions=("pull", "push", "bogus"))
    assert grant_scope(wanted, policy) == Scope(type="repository", name="a", actions=("pull",))
    assert grant_scope(Scope(type="repository", name="b", actions=("pull",)), policy) is None
    catalog = Scope(type="registry", name="catalog", actions=("*",))
    assert grant_scope(catalog, policy) == catalog


@pytest.mark.parametrize(
    ("path", "endpoint", "repo"),
    [
        ("/v2/", routing.Endpoint.BASE, ""),
        ("/v2/_catalog", routing.Endpoint.CATALOG, ""),
        (f"/v2/a/b/blobs/{SHA}", routing.Endpoint.BLOB, "a/b"),
        ("/v2/a/blobs/uploads/", routing.Endpoint.UPLOADS, "a"),
        ("/v2/a/blobs/uploads/" + "0" * 32, routing.Endpoint.UPLOAD, "a"),
        ("/v2/a/manifests/latest", routing.Endpoint.MANIFEST, "a"),
        (f"/v2/a/manifests/{SHA}", routing.Endpoint.MANIFEST, "a"),
        ("/v2/x/y/z/tags/list", routing.Endpoint.TAGS, "x/y/z"),
        (f"/v2/a/referrers/{SHA}", routing.Endpoint.REFERRERS, "a"),
    ],
)
def test_routes(path: str, endpoint: routing.Endpoint, repo: str) -> None:
    route = routing.parse(path)
    assert (route.endpoint, route.repo) == (endpoint, repo)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v2/a/blobs/sha256:../x", Code.DIGEST_INVALID),
        ("/v2/A/tags/list", Code.NAME_INVALID),
        ("/v2/a/manifests/-x", Code.TAG_INVALID),
        ("/v2/a/blobs/uploads/nope", Code.BLOB_UPLOAD_UNKNOWN),
        ("/v2/a/nothing", Code.NOT_FOUND),
    ],
)
def test_route_errors(path: str, code: Code) -> None:
    with pytest.raises(ApiError) as info:
        routing.parse(path)
    assert info.value.code is code


@given(st.text(max_size=80))
def test_routing_never_fails_otherwise(tail: str) -> None:
    try:
        route = routing.parse("/v2/" + tail)
    except ApiError:
        return
    if route.repo:
        assert names.is_repository(route.repo)


def test_method_permissions() -> None:
    route = routing.parse("/v2/a/manifests/x")
    assert routing.permission(route, "PUT") is Permission.PUSH
    assert routing.permission(route, "DELETE") is Permission.DELETE
    with pytest.raises(ApiError) as info:
        routing.permission(route, "PATCH")
    assert info.value.status == 405


def _manifest(**extra: object) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
           "config": {"mediaType": mediatype.OCI_CONFIG, "digest": SHA, "size": 1},
           "layers": [], **extra}  # fmt: skip
    return json.dumps(doc).encode()


def test_manifest_check() -> None:
    data = _manifest(subject={"mediaType": mediatype.OCI_MANIFEST, "digest": SHA, "size": 3})
    checked = manifests.check(data, mediatype.OCI_MANIFEST, None)
    assert str(checked.subject) == SHA
    assert checked.artifact_type == mediatype.OCI_CONFIG
    assert [r.kind for r in checked.refs] == ["config"]
    assert manifests.check(data, None, None).media_type == mediatype.OCI_MANIFEST
    for content_type in ("text/plain", mediatype.DOCKER_MANIFEST):
        with pytest.raises(ApiError) as info:
            manifests.check(data, content_type, None)
        assert info.value.code is Code.MANIFEST_INVALID
    with pytest.raises(ApiError) as info:
        manifests.check(b"x" * (4 * 1024 * 1024 + 1), None, None)
    assert info.value.status == 413


def test_negotiation() -> None:
    accepted = manifests.parse_accept([f"{mediatype.DOCKER_MANIFEST}, {mediatype.OCI_INDEX};q=0.5"])
    assert accepted == {mediatype.DOCKER_MANIFEST, mediatype.OCI_INDEX}
    assert manifests.acceptable(mediatype.OCI_INDEX, accepted)
    assert not manifests.acceptable(mediatype.OCI_MANIFEST, accepted)
    assert manifests.acceptable(mediatype.OCI_MANIFEST, frozenset())
    assert manifests.acceptable(mediatype.OCI_MANIFEST, frozenset({"application/json"}))
    assert manifests.acceptable(mediatype.OCI_MANIFEST, frozenset({"*/*", mediatype.OCI_INDEX}))


def test_config_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "registry.toml"
    path.write_text('addr = "[::1]:5001"\nauth = "basic"\nupload_ttl = "2h"\ntoken_ttl = 60\n')
    loaded = config.load(path, root=tmp_path / "r", addr=None)
    assert loaded.host_port == ("::1", 5001)
    assert loaded.auth is config.AuthMode.BASIC
    assert loaded.upload_ttl == 7200.0 and loaded.token_ttl == 60.0
    assert loaded.root == tmp_path / "r"
    for text in ('bogus = 1\n', 'auth = "magic"\n', 'addr = "nohost"\n', 'upload_ttl = "soon"\n',
                 'tls_cert = "/c"\n', "max_page = 0\n", "not toml ="):  # fmt: skip
        path.write_text(text)
        with pytest.raises(InvalidArgument):
            config.load(path)


def test_index_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(FailedPrecondition):
        RegistryDB(path).users()
