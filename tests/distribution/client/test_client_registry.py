"""pull, push, login against Debian's docker-registry: plain HTTP, TLS with a test CA,
htpasswd Basic auth, token auth (the Docker Hub flow); then rmi, pull, run."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import registries
from tests.support.registries import Engine, load_busybox

pytestmark = pytest.mark.root


def test_push_rmi_pull_run(
    engine: Engine, registry: registries.Registry, busybox_tar: Path
) -> None:
    name = f"{registry.host}/e2e/busybox:1"
    image_id = load_busybox(engine, busybox_tar, name)
    out = engine.out("push", name)
    assert f"The push refers to repository [{registry.host}/e2e/busybox]" in out
    assert ": Pushed" in out
    digest = out.strip().splitlines()[-1].split()[2]
    assert out.strip().endswith(f"1: digest: {digest} size: {out.split('size: ')[1].strip()}")
    again = engine.out("push", name)
    assert ": Layer already exists" in again and digest in again
    engine("rmi", name)
    out = engine.out("pull", name)
    assert "1: Pulling from e2e/busybox" in out
    assert ": Pull complete" in out
    assert f"Digest: {digest}" in out
    assert f"Status: Downloaded newer image for {name}" in out
    assert out.strip().splitlines()[-1] == name
    [info] = json.loads(engine.out("inspect", name))
    assert info["Id"] == image_id  # the same config: the same image
    assert info["RepoDigests"] == [f"{registry.host}/e2e/busybox@{digest}"]
    assert "Status: Image is up to date" in engine.out("pull", name)
    assert engine.out("pull", "-q", name) == f"{name}\n"
    engine("rmi", name)
    run = engine("run", "--rm", "--network", "none", name, "echo", "hello")
    assert run.stdout == b"hello\n"
    assert f"Unable to find image '{name}' locally" in run.stderr.decode()
    assert "Pull complete" in run.stderr.decode()


def test_pull_by_digest_and_all_tags(
    engine: Engine, other_engine: Engine, registry: registries.Registry, busybox_tar: Path
) -> None:
    repo = f"{registry.host}/e2e/tags"
    load_busybox(engine, busybox_tar, f"{repo}:a")
    engine("tag", f"{repo}:a", f"{repo}:b")
    out = engine.out("push", "-a", repo)
    assert "a: digest:" in out and "b: digest:" in out
    digest = out.split("a: digest: ")[1].split()[0]
    by_digest = f"{repo}@{digest}"
    assert other_engine.out("pull", "-q", by_digest) == f"{by_digest}\n"
    assert other_engine.out("images", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}") == (
        f"{repo} <none> {digest}\n"
    )
    other_engine("pull", "-a", repo)
    assert sorted(other_engine.out("images", "--format", "{{.Tag}}").split()) == ["a", "b"]
    assert "tag can't be used" in other_engine.err("pull", "-a", f"{repo}:a")


def test_cross_repository_mount(
    engine: Engine, registry: registries.Registry, busybox_tar: Path
) -> None:
    first = f"{registry.host}/mount/one:1"
    load_busybox(engine, busybox_tar, first)
    engine("push", first)
    second = f"{registry.host}/mount/two:1"
    engine("tag", first, second)
    assert ": Mounted from mount/one" in engine.out("push", second)


def test_run_and_create_pull_policies(
    engine: Engine, other_engine: Engine, registry: registries.Registry, busybox_tar: Path
) -> None:
    name = f"{registry.host}/e2e/policy:1"
    load_busybox(engine, busybox_tar, name)
    engine("push", name)
    never = other_engine("run", "--pull", "never", "--network", "none", name, "true", check=False)
    assert never.returncode == 125
    assert f"Unable to find image '{name}' locally" in never.stderr.decode()
    created = other_engine("create", "-q", "--network", "none", name, "true")
    assert len(created.stdout.decode().strip()) == 64  # stdout holds the ID only
    assert f"Unable to find image '{name}' locally" in created.stderr.decode()
    always = other_engine("create", "--pull", "always", "--network", "none", name, "true")
    assert "Status: Image is up to date" in always.stderr.decode()
    missing = other_engine("create", "--network", "none", name, "true")
    assert missing.stderr == b""  # local: no pull, nothing printed


def test_errors_name_what_was_refused(engine: Engine, registry: registries.Registry) -> None:
    assert f"manifest for {registry.host}/e2e/none:nope not found: manifest_unknown" in engine.err(
        "pull", f"{registry.host}/e2e/none:nope"
    )
    assert "An image does not exist locally with the tag" in engine.err(
        "push", f"{registry.host}/e2e/none:1"
    )
    closed = f"127.0.0.1:{registries.free_port()}"
    assert f"registry {closed}: ping" in engine.err("pull", f"{closed}/x:1")


# ----- TLS ------------------------------------------------------------------------------------


@pytest.fixture
def ca() -> object:
    trustme = pytest.importorskip("trustme")
    return trustme.CA()


@pytest.fixture
def tls_registry(tmp_path: Path, ca: object) -> Iterator[registries.Registry]:
    if registries.REGISTRY is None:
        pytest.skip("needs docker-registry")
    cert = ca.issue_cert("127.0.0.1")  # type: ignore[attr-defined]
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    cert.private_key_pem.write_to_path(str(key))
    reg = registries.start_registry(tmp_path / "tls-registry", tls=(chain, key))
    yield reg
    reg.stop()


def test_tls_with_a_ca_in_certs_d(
    engine: Engine, tls_registry: registries.Registry, busybox_tar: Path, tmp_path: Path,
    ca: object,
) -> None:  # fmt: skip
    import trustme

    certs = tmp_path / "certs.d"
    folder = certs / tls_registry.host
    folder.mkdir(parents=True)
    name = f"{tls_registry.host}/tls/busybox:1"
    load_busybox(engine, busybox_tar, name)
    # A CA that did not sign the registry's certificate: refused (verified, not skipped).
    trustme.CA().cert_pem.write_to_path(str(folder / "ca.crt"))
    engine.extra["DOCKYARD_REGISTRY_CERTS_DIRS"] = str(certs)
    assert "certificate" in engine.err("push", name).lower()
    ca.cert_pem.write_to_path(str(folder / "ca.crt"))  # type: ignore[attr-defined]
    assert ": Pushed" in engine.out("push", name)
    engine("rmi", name)
    assert engine.out("pull", "-q", name) == f"{name}\n"


def test_insecure_tls_without_a_ca(
    engine: Engine, tls_registry: registries.Registry, busybox_tar: Path
) -> None:
    """127.0.0.0/8 is an insecure registry (like docker): TLS without verification."""
    name = f"{tls_registry.host}/tls/insecure:1"
    load_busybox(engine, busybox_tar, name)
    assert ": Pushed" in engine.out("push", name)


# ----- Basic auth -----------------------------------------------------------------------------


@pytest.fixture
def basic_registry(tmp_path: Path) -> Iterator[registries.Registry]:
    if registries.REGISTRY is None or not registries.HTPASSWD:
        pytest.skip("needs docker-registry and htpasswd (apache2-utils)")
    users = registries.htpasswd_file(tmp_path / "htpasswd", {"alice": "s3cret"})
    reg = registries.start_registry(tmp_path / "basic-registry", htpasswd=users)
    yield reg
    reg.stop()


def test_basic_auth_login_push_pull_logout(
    engine: Engine, basic_registry: registries.Registry, busybox_tar: Path
) -> None:
    host = basic_registry.host
    name = f"{host}/basic/busybox:1"
    load_busybox(engine, busybox_tar, name)
    refused = engine.err("push", name)
    assert f"push access to {host}/basic/busybox denied" in refused
    assert f"dockyard login {host}" in refused
    bad = engine.err("login", "-u", "alice", "--password-stdin", host, input=b"wrong\n")
    assert "incorrect username or password" in bad
    assert not (engine.docker_config / "config.json").exists()
    ok = engine("login", "-u", "alice", "--password-stdin", host, input=b"s3cret\n")
    assert ok.stdout.decode().strip().endswith("Login Succeeded")
    config = engine.docker_config / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    auth = json.loads(config.read_text())["auths"][host]["auth"]
    assert base64.b64decode(auth) == b"alice:s3cret"
    assert ": Pushed" in engine.out("push", name)
    engine("rmi", name)
    assert engine.out("pull", "-q", name) == f"{name}\n"
    assert engine.out("logout", host) == f"Removing login credentials for {host}\n"
    assert engine.out("logout", host) == f"Not logged in to {host}\n"
    engine("rmi", name)
    assert "pull access denied" in engine.err("pull", name)


def test_credential_helper(
    engine: Engine, basic_registry: registries.Registry, busybox_tar: Path, tmp_path: Path
) -> None:
    """``credsStore`` names a ``docker-credential-<name>`` program; logins go through it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    store = tmp_path / "helper-store.json"
    helper = bin_dir / "docker-credential-dytest"
    helper.write_text(HELPER.replace("STORE", str(store)))
    helper.chmod(0o755)
    engine.extra["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
    engine.docker_config.mkdir(parents=True)
    (engine.docker_config / "config.json").write_text('{"credsStore": "dytest"}')
    host = basic_registry.host
    engine("login", "-u", "alice", "--password-stdin", host, input=b"s3cret\n")
    assert json.loads(store.read_text())[host] == {"Username": "alice", "Secret": "s3cret"}
    config = json.loads((engine.docker_config / "config.json").read_text())
    assert config["auths"] == {host: {}}  # docker's record: the secret is in the helper
    name = f"{host}/basic/helper:1"
    load_busybox(engine, busybox_tar, name)
    assert ": Pushed" in engine.out("push", name)
    engine("logout", host)
    assert json.loads(store.read_text()) == {}


HELPER = """#!/usr/bin/env python3
import json, sys
path = "STORE"
try:
    data = json.load(open(path))
except FileNotFoundError:
    data = {}
verb = sys.argv[1]
if verb == "store":
    item = json.load(sys.stdin)
    data[item["ServerURL"]] = {"Username": item["Username"], "Secret": item["Secret"]}
elif verb == "get":
    server = sys.stdin.read().strip()
    if server not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({"ServerURL": server, **data[server]}))
elif verb == "erase":
    data.pop(sys.stdin.read().strip(), None)
json.dump(data, open(path, "w"))
"""


# ----- token auth (the Docker Hub flow) --------------------------------------------------------


@pytest.fixture
def token_registry(
    tmp_path: Path, ca: object
) -> Iterator[tuple[registries.Registry, registries.TokenServer]]:
    if registries.REGISTRY is None:
        pytest.skip("needs docker-registry")
    pytest.importorskip("jwt")
    server = registries.TokenServer(ca, {"bob": "hunter2"})
    bundle = tmp_path / "token-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))  # type: ignore[attr-defined]
    reg = registries.start_registry(
        tmp_path / "token-registry", token=(server.realm, server.issuer, bundle)
    )
    yield reg, server
    reg.stop()
    server.stop()


def test_token_auth_docker_hub_flow(
    engine: Engine,
    other_engine: Engine,
    token_registry: tuple[registries.Registry, registries.TokenServer],
    busybox_tar: Path,
) -> None:
    reg, tokens = token_registry
    private, public = f"{reg.host}/team/app:1", f"{reg.host}/public/app:1"
    load_busybox(engine, busybox_tar, private)
    assert f"push access to {reg.host}/team/app denied" in engine.err("push", private)
    assert "the token server refused the credentials" in engine.err(
        "login", "-u", "bob", "--password-stdin", reg.host, input=b"nope\n"
    )
    engine("login", "-u", "bob", "--password-stdin", reg.host, input=b"hunter2\n")
    before = tokens.requests
    assert ": Pushed" in engine.out("push", private)
    assert tokens.requests - before == 1  # one token for the push scope, then cached
    engine("tag", private, public)
    assert ": Mounted from team/app" in engine.out("push", public)
    # Anonymous: pull is granted on public/ only.
    assert other_engine.out("pull", "-q", public) == f"{public}\n"
    assert "pull access denied" in other_engine.err("pull", private)
    assert engine.out("pull", "-q", private) == f"{private}\n"


def test_build_pulls_a_missing_base_and_pull_flag(
    engine: Engine, other_engine: Engine, registry: registries.Registry, busybox_tar: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    base = f"{registry.host}/e2e/base:1"
    load_busybox(engine, busybox_tar, base)
    engine("push", base)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {base}\nLABEL stage=built\n")
    built = other_engine("build", "-t", "app", str(ctx))
    assert "Pull complete" in built.stderr.decode()
    assert other_engine.out("images", "--format", "{{.Repository}}", base).strip() == (
        f"{registry.host}/e2e/base"
    )
    again = other_engine("build", "--pull", "-t", "app", str(ctx))
    assert "Status: Image is up to date" in again.stderr.decode()
    assert "Pull complete" not in other_engine("build", "-t", "app", str(ctx)).stderr.decode()


def test_build_pulls_images_that_copy_and_mounts_name(
    engine: Engine, other_engine: Engine, registry: registries.Registry, busybox_tar: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    tools = f"{registry.host}/e2e/tools:1"
    files = f"{registry.host}/e2e/files:1"
    load_busybox(engine, busybox_tar, tools)
    engine("tag", tools, files)
    engine("push", tools)
    engine("push", files)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM scratch\nCOPY --from={tools} /bin/busybox /bin/busybox\n"
        f'RUN --mount=from={files},source=/bin,target=/b ["/bin/busybox", "test", "-x", '
        '"/b/busybox"]\n'
    )
    built = other_engine("build", "-t", "app", str(ctx)).stderr.decode()
    assert "1: Pulling from e2e/tools" in built
    assert "1: Pulling from e2e/files" in built
    assert other_engine.out("run", "--rm", "app", "/bin/busybox", "echo", "ran") == "ran\n"
