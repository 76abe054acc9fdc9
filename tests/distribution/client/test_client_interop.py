"""Interop with skopeo and podman through a docker-registry: what dockyard pushes they pull,
what they push dockyard pulls; a multi-platform index pushed with skopeo selects the right
platform; a mirror serves docker.io short names."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from tests.support import registries
from tests.support.registries import Engine, load_busybox

from dockyard.oci.platform import host_platform

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo"),
]


def _run(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{argv}: {proc.stderr}"
    return proc.stdout


def test_skopeo_pulls_what_dockyard_pushed(
    engine: Engine, registry: registries.Registry, busybox_tar: Path, tmp_path: Path
) -> None:
    name = f"{registry.host}/interop/ours:1"
    load_busybox(engine, busybox_tar, name)
    engine("push", name)
    [ours] = json.loads(engine.out("inspect", name))
    config = json.loads(_run("skopeo", "inspect", "--tls-verify=false", "--config",
                             f"docker://{name}"))  # fmt: skip
    assert config["rootfs"]["diff_ids"] == ours["RootFS"]["Layers"]
    assert config["config"]["Cmd"] == ["sh"]
    _run("skopeo", "copy", "--src-tls-verify=false", f"docker://{name}",
         f"oci:{tmp_path / 'layout'}:ours")  # fmt: skip
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == ours["RepoDigests"][0].split("@")[1]


def test_dockyard_pulls_what_skopeo_pushed(
    engine: Engine, other_engine: Engine, registry: registries.Registry, busybox_tar: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    load_busybox(engine, busybox_tar, "local/bb:1")
    archive = tmp_path / "bb.tar"
    engine("save", "-o", str(archive), "local/bb:1")
    name = f"{registry.host}/interop/theirs:1"
    # docker-archive: skopeo pushes a Docker schema 2 manifest with layers it gzips itself.
    _run("skopeo", "copy", "--dest-tls-verify=false", f"docker-archive:{archive}",
         f"docker://{name}")  # fmt: skip
    out = other_engine.out("pull", name)
    assert "Pull complete" in out
    [pulled] = json.loads(other_engine.out("inspect", name))
    [local] = json.loads(engine.out("inspect", "local/bb:1"))
    assert pulled["RootFS"] == local["RootFS"]
    run = other_engine("run", "--rm", "--network", "none", name, "cat", "/etc/os-release")
    assert b'NAME="Dockyard busybox"' in run.stdout


@pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman")
def test_podman_pulls_what_dockyard_pushed_and_the_reverse(
    engine: Engine, other_engine: Engine, registry: registries.Registry, busybox_tar: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    name = f"{registry.host}/interop/forpodman:1"
    image_id = load_busybox(engine, busybox_tar, name)
    engine("push", name)
    runroot = Path(tempfile.mkdtemp(prefix="dypod-"))  # podman wants it under 50 characters
    podman = ["podman", "--root", str(tmp_path / "podman"), "--runroot", str(runroot),
              "--storage-driver", "vfs"]  # fmt: skip
    try:
        _run(*podman, "pull", "--tls-verify=false", name)
        assert _run(*podman, "image", "inspect", "--format", "{{.Id}}", name).strip() == (
            image_id.removeprefix("sha256:")
        )
        theirs = f"{registry.host}/interop/frompodman:1"
        _run(*podman, "tag", name, theirs)
        _run(*podman, "push", "--tls-verify=false", theirs)
        assert "Pull complete" in other_engine.out("pull", theirs)
        [pulled] = json.loads(other_engine.out("inspect", theirs))
        assert pulled["Id"] == image_id
    finally:
        subprocess.run([*podman, "rmi", "-a", "-f"], capture_output=True, timeout=120)
        shutil.rmtree(runroot, ignore_errors=True)


# ----- multi-platform --------------------------------------------------------------------------


def _blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest[7:]).write_bytes(data)
    return digest, len(data)


def _index_layout(engine: Engine, busybox_tar: Path, tmp_path: Path, arches: list[str]) -> Path:
    """An OCI layout whose ``multi`` tag is an index of busybox for ``arches`` (the arm64
    image is busybox with a config that says arm64: enough to test selection)."""
    load_busybox(engine, busybox_tar, "local/multi:1")
    archive = tmp_path / "multi.tar"
    engine("save", "-o", str(archive), "local/multi:1")
    layout = tmp_path / f"layout-{'-'.join(arches)}"
    layout.mkdir()
    _run("tar", "-xf", str(archive), "-C", str(layout))
    top = json.loads((layout / "index.json").read_text())["manifests"][0]
    manifest = json.loads((layout / "blobs/sha256" / top["digest"][7:]).read_bytes())
    config = json.loads((layout / "blobs/sha256" / manifest["config"]["digest"][7:]).read_bytes())
    entries = []
    for arch in arches:
        variant = {"arm64": "v8"}.get(arch)
        this = {**config, "architecture": arch, **({"variant": variant} if variant else {})}
        digest, size = _blob(layout, json.dumps(this).encode())
        doc = {**manifest, "config": {**manifest["config"], "digest": digest, "size": size}}
        mdigest, msize = _blob(layout, json.dumps(doc).encode())
        extra = {"variant": variant} if variant else {}
        platform = {"architecture": arch, "os": "linux", **extra}
        entries.append({"mediaType": manifest["mediaType"], "digest": mdigest, "size": msize,
                        "platform": platform})  # fmt: skip
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": entries}  # fmt: skip
    idigest, isize = _blob(layout, json.dumps(index).encode())
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": index["mediaType"], "digest": idigest, "size": isize,
         "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))  # fmt: skip
    (layout / "manifest.json").unlink()
    return layout


def test_multi_platform_index_selects_the_platform(
    engine: Engine, other_engine: Engine, registry: registries.Registry, busybox_tar: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    layout = _index_layout(engine, busybox_tar, tmp_path, ["arm64", "amd64"])
    name = f"{registry.host}/interop/multi:1"
    _run("skopeo", "copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:multi",
         f"docker://{name}")  # fmt: skip
    other_engine("pull", name)
    [info] = json.loads(other_engine.out("inspect", name))
    assert info["Architecture"] == "amd64"
    raw = _run("skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{name}")
    expected = "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    assert info["RepoDigests"] == [f"{registry.host}/interop/multi@{expected}"]  # the index's
    out = other_engine.out("pull", "--platform", "linux/arm64", name)
    assert "Downloaded newer image" in out
    [arm] = json.loads(other_engine.out("inspect", name))
    assert (arm["Architecture"], arm["Variant"]) == ("arm64", "v8")


def test_an_image_for_another_platform_only_is_refused_at_pull(
    engine: Engine, other_engine: Engine, registry: registries.Registry, busybox_tar: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    layout = _index_layout(engine, busybox_tar, tmp_path, ["arm64"])
    name = f"{registry.host}/interop/armonly:1"
    _run("skopeo", "copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:multi",
         f"docker://{name}")  # fmt: skip
    err = other_engine.err("pull", name)
    assert f"image {name} has linux/arm64/v8 only; this host is linux/amd64" in err
    assert other_engine.out("images", "-q") == ""


def test_run_and_create_pull_the_platform_asked_for(
    engine: Engine, other_engine: Engine, registry: registries.Registry, busybox_tar: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    """``--platform`` reaches the pull; a local image of another platform is refused until
    the wanted one is pulled (``--pull always``)."""
    host = host_platform()
    other = "amd64" if host.architecture == "arm64" else "arm64"
    layout = _index_layout(engine, busybox_tar, tmp_path, [other, host.architecture])
    name = f"{registry.host}/interop/runplatform:1"
    _run("skopeo", "copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:multi",
         f"docker://{name}")  # fmt: skip
    other_engine("pull", "--platform", f"linux/{other}", name)
    refused = other_engine("create", "--platform", str(host), "--network", "none", name, "true",
                           check=False)  # fmt: skip
    assert refused.returncode == 125
    assert (
        f"image {name} was found but does not match the specified platform: wanted {host}"
    ) in refused.stderr.decode()
    run = other_engine("run", "--rm", "--pull", "always", "--platform", host.architecture,
                       "--network", "none", name, "echo", "native")  # fmt: skip
    assert run.stdout == b"native\n"
    assert "Downloaded newer image" in run.stderr.decode()
    [info] = json.loads(other_engine.out("inspect", name))
    assert info["Architecture"] == host.architecture


# ----- mirror -----------------------------------------------------------------------------------


def test_short_name_pulls_from_the_mirror(
    engine: Engine, other_engine: Engine, registry: registries.Registry, busybox_tar: Path
) -> None:
    """``mongo`` is docker.io/library/mongo:latest; with a mirror it comes from the mirror
    (this machine cannot reach Docker Hub, so it can only come from there)."""
    load_busybox(engine, busybox_tar, f"{registry.host}/library/mongo:latest")
    engine("push", f"{registry.host}/library/mongo:latest")
    other_engine.extra["DOCKYARD_REGISTRY_MIRRORS"] = f"http://{registry.host}"
    out = other_engine.out("pull", "mongo")
    assert out.startswith("Using default tag: latest\nlatest: Pulling from library/mongo\n")
    assert out.strip().splitlines()[-1] == "docker.io/library/mongo:latest"
    assert other_engine.out("images", "--format", "{{.Repository}}:{{.Tag}}") == "mongo:latest\n"
    [info] = json.loads(other_engine.out("inspect", "mongo"))
    assert info["RepoDigests"][0].startswith("mongo@sha256:")
