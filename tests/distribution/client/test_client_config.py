"""The client's pure decisions: WWW-Authenticate parsing, token answers, endpoints (mirrors,
insecure registries, certs.d), platform selection, docker's config.json, engine settings."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from dockyard.cli.config import load_settings
from dockyard.distribution.client.challenge import Challenge, parse_challenges, parse_token_response
from dockyard.distribution.client.credentials import Credentials, DockerConfig, server_key
from dockyard.distribution.client.endpoints import (
    Endpoint,
    RegistryConfig,
    endpoints,
    is_insecure,
    tls_files,
)
from dockyard.distribution.client.platforms import select_manifest
from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci import mediatype
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.manifest import Index
from dockyard.oci.platform import Platform, parse_platform

# ----- challenges and tokens -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/busybox:pull"',
            [Challenge(scheme="bearer", params={
                "realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                "scope": "repository:library/busybox:pull"})],
        ),
        ('Basic realm="Registry Realm"',
         [Challenge(scheme="basic", params={"realm": "Registry Realm"})]),
        (
            'Bearer realm="a\\"b", error="insufficient_scope", Basic realm=x',
            [Challenge(scheme="bearer", params={"realm": 'a"b', "error": "insufficient_scope"}),
             Challenge(scheme="basic", params={"realm": "x"})],
        ),
        ("Negotiate", [Challenge(scheme="negotiate")]),
    ],
)  # fmt: skip
def test_parse_challenges(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == expected


def test_malformed_challenge() -> None:
    with pytest.raises(InvalidArgument, match="unterminated"):
        parse_challenges('Bearer realm="open')


def test_token_answers() -> None:
    token = parse_token_response(b'{"token": "t", "expires_in": 300}', now=100.0)
    assert token.value == "t" and token.expires == 100 + 300 - 5
    token = parse_token_response(b'{"access_token": "a", "refresh_token": "r"}', now=0.0)
    assert (token.value, token.refresh_token, token.expires) == ("a", "r", 60 - 5)
    with pytest.raises(InvalidArgument, match="no token"):
        parse_token_response(b'{"expires_in": 3}', now=0.0)


# ----- endpoints -------------------------------------------------------------------------------


def test_docker_io_mirrors_for_pulls_only() -> None:
    config = RegistryConfig(mirrors=("https://mirror.example", "http://10.1.2.3:5000"))
    pull = endpoints(config, "docker.io")
    assert [(e.host, e.schemes, e.mirror) for e in pull] == [
        ("mirror.example", ("https",), True),
        ("10.1.2.3:5000", ("http",), True),
        ("registry-1.docker.io", ("https",), False),
    ]
    assert [e.host for e in endpoints(config, "docker.io", push=True)] == ["registry-1.docker.io"]
    assert [e.host for e in endpoints(config, "ghcr.io")] == ["ghcr.io"]


def test_insecure_registries() -> None:
    config = RegistryConfig(insecure=("myregistry:5000", "10.0.0.0/8"))
    assert is_insecure(config, "myregistry:5000") and not is_insecure(config, "myregistry")
    assert is_insecure(config, "10.20.30.40:443") and not is_insecure(config, "11.0.0.1")
    for local in ("localhost:5000", "127.0.0.1", "127.3.2.1:80", "[::1]:5000"):
        assert is_insecure(RegistryConfig(), local)
    assert endpoints(config, "myregistry:5000") == [
        Endpoint(registry="myregistry:5000", host="myregistry:5000", schemes=("https", "http"),
                 verify=False)
    ]  # fmt: skip
    for bad in ("http://x", "10.0.0.0/99"):
        with pytest.raises(InvalidArgument):
            RegistryConfig(insecure=(bad,))
    with pytest.raises(InvalidArgument, match="not a URL of a registry"):
        RegistryConfig(mirrors=("https://mirror.example/some/path",))


def test_certs_d(tmp_path: Path) -> None:
    folder = tmp_path / "certs.d" / "reg.example:5000"
    folder.mkdir(parents=True)
    for name in ("ca.crt", "client.cert", "client.key", "README"):
        (folder / name).write_text("x")
    config = RegistryConfig(certs_dirs=(tmp_path / "certs.d", tmp_path / "missing"))
    files = tls_files(config, "reg.example:5000")
    assert files.cas == (folder / "ca.crt",)
    assert files.client_pairs == ((folder / "client.cert", folder / "client.key"),)
    assert tls_files(config, "other").cas == ()
    (folder / "client.key").unlink()
    with pytest.raises(InvalidArgument, match=r"has no client\.key"):
        tls_files(config, "reg.example:5000")


# ----- platforms -------------------------------------------------------------------------------


def _index(*platforms: Platform | None) -> Index:
    return Index(media_type=mediatype.OCI_INDEX, manifests=tuple(
        Descriptor(mediatype.OCI_MANIFEST, Digest.from_bytes(str(i).encode()), 100, platform=p)
        for i, p in enumerate(platforms)
    ))  # fmt: skip


def test_select_manifest() -> None:
    amd64 = Platform("linux", "amd64")
    index = _index(None, Platform("unknown", "unknown"), Platform("linux", "arm", "v6"),
                   Platform("linux", "arm64", "v8"), amd64)  # fmt: skip
    assert select_manifest(index, amd64, image="x", host=amd64) is index.manifests[4]
    arm64 = parse_platform("linux/arm64")
    assert select_manifest(index, arm64, image="x", host=amd64) is index.manifests[3]
    armv7 = parse_platform("linux/arm/v7")  # runs v6 when there is no v7
    assert select_manifest(index, armv7, image="x", host=armv7) is index.manifests[2]
    with pytest.raises(NotFound) as caught:
        select_manifest(_index(Platform("linux", "arm64", "v8")), amd64, image="docker.io/x:1",
                        host=amd64)  # fmt: skip
    assert caught.value.message == (
        "image docker.io/x:1 has linux/arm64/v8 only; this host is linux/amd64"
    )
    with pytest.raises(NotFound, match="asked for linux/s390x"):
        select_manifest(index, parse_platform("s390x"), image="x", host=amd64)


# ----- docker's config.json --------------------------------------------------------------------


def test_docker_config_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "docker" / "config.json"
    config = DockerConfig(path)
    assert config.get("docker.io") is None
    config.store("docker.io", Credentials(username="me", password="pw"))
    config.store("reg.example:5000", Credentials(username="u", password="p:w"))
    doc = json.loads(path.read_text())
    assert base64.b64decode(doc["auths"]["https://index.docker.io/v1/"]["auth"]) == b"me:pw"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.get("reg.example:5000") == Credentials(username="u", password="p:w")
    assert config.erase("docker.io") and not config.erase("docker.io")
    assert config.get("docker.io") is None
    assert server_key("docker.io") == "https://index.docker.io/v1/"


def test_docker_config_keys_as_urls_and_unknown_fields(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    auth = base64.b64encode(b"u:p").decode()
    path.write_text(json.dumps({"auths": {"https://reg.example/v1/": {"auth": auth},
                                          "tok.example": {"identitytoken": "refresh"}},
                                "psFormat": "table {{.ID}}"}))  # fmt: skip
    config = DockerConfig(path)
    assert config.get("reg.example") == Credentials(username="u", password="p")
    assert config.get("docker.io") is None
    doc = json.loads(path.read_text())
    doc["auths"]["docker.io"] = {"auth": auth}  # how podman writes Docker Hub's key
    path.write_text(json.dumps(doc))
    assert config.get("docker.io") == Credentials(username="u", password="p")
    assert config.get("tok.example") == Credentials(identity_token="refresh")
    config.store("new.example", Credentials(username="n", password="m"))
    assert json.loads(path.read_text())["psFormat"] == "table {{.ID}}"
    path.write_text('{"auths": {"bad.example": {"auth": "***"}}}')
    with pytest.raises(InvalidArgument, match="not base64"):
        config.get("bad.example")
    assert "pw" not in repr(Credentials(username="me", password="pw"))


def test_engine_settings_for_registries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DOCKYARD_REGISTRY_MIRRORS", "DOCKYARD_INSECURE_REGISTRIES",
                "DOCKYARD_REGISTRY_CERTS_DIRS"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    toml = tmp_path / "config.toml"
    toml.write_text('registry_mirrors = ["https://m.example"]\n'
                    'insecure_registries = ["reg:5000"]\n')  # fmt: skip
    settings = load_settings((toml,))
    assert settings.registry_mirrors == ("https://m.example",)
    assert settings.insecure_registries == ("reg:5000",)
    monkeypatch.setenv("DOCKYARD_INSECURE_REGISTRIES", "a:1, 10.0.0.0/8")
    monkeypatch.setenv("DOCKYARD_REGISTRY_CERTS_DIRS", "/x:/y")
    settings = load_settings((toml,))
    assert settings.insecure_registries == ("a:1", "10.0.0.0/8")
    assert settings.registry_certs_dirs == ("/x", "/y")
    toml.write_text('registry_mirrors = "https://m.example"\n')
    with pytest.raises(InvalidArgument, match="must be a list of strings"):
        load_settings((toml,))


def test_login_server_names() -> None:
    from dockyard.cli.transfer_cmds import registry_of

    assert registry_of(None) == "docker.io"
    assert registry_of("https://index.docker.io/v1/") == "docker.io"
    assert registry_of("registry-1.docker.io") == "docker.io"
    assert registry_of("https://reg.example:5000/v2/") == "reg.example:5000"
    assert registry_of("localhost:5000") == "localhost:5000"


def test_the_run_path_does_not_import_the_registry_client() -> None:
    """``run`` of a local image never pays for httpx (ARCHITECTURE.md: import cost)."""
    import subprocess
    import sys

    code = (
        "import sys, dockyard.cli.main, dockyard.cli.container_cmds, dockyard.engine.create, "
        "dockyard.cli.build_cmd; "
        "print(sorted(m for m in sys.modules if m.startswith(('httpx', 'h2', "
        "'dockyard.distribution'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
