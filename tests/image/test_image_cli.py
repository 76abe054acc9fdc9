"""The image commands end to end, through the real ``dockyard`` console script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

pytestmark = pytest.mark.root


@pytest.fixture(params=["overlayfs", "native"])
def engine(request: pytest.FixtureRequest, state_root: Path) -> DockyardRunner:
    if request.param == "overlayfs":
        request.applymarker(pytest.mark.overlay)
    return DockyardRunner(state_root, driver=request.param)


def _import(engine: DockyardRunner, tar: Path, name: str = "busybox", *extra: str) -> str:
    return engine.out("import", *extra, str(tar), name).strip()


def test_import_list_inspect_history(engine: DockyardRunner, busybox_tar: Path) -> None:
    image_id = _import(engine, busybox_tar, "busybox", "-c", 'CMD ["sh"]', "-m", "from tests")
    assert image_id.startswith("sha256:") and len(image_id) == 71
    lines = engine.out("images").splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split()[:3] == ["busybox", "latest", image_id[7:19]]
    [info] = json.loads(engine.out("inspect", "busybox"))
    assert info["Id"] == image_id
    assert info["RepoTags"] == ["busybox:latest"]
    assert info["Config"]["Cmd"] == ["sh"]
    assert info["Comment"] == "from tests"
    assert len(info["RootFS"]["Layers"]) == 1
    assert info["Size"] > 1_000_000
    history = engine.out("history", "busybox").splitlines()
    assert history[0].split()[0] == "IMAGE" and history[1].split()[0] == image_id[7:19]
    assert "from tests" in history[1]


def test_format_quiet_and_filters(engine: DockyardRunner, busybox_tar: Path) -> None:
    image_id = _import(engine, busybox_tar, "busybox:1.36", "-c", "LABEL tier=base")
    engine("tag", "busybox:1.36", "localhost:5000/team/bb:v2")
    assert engine.out("images", "--format", "{{.Repository}}:{{.Tag}}").splitlines() == [
        "busybox:1.36",
        "localhost:5000/team/bb:v2",
    ]
    assert engine.out("images", "-q").split() == [image_id[7:19]]
    assert engine.out("images", "--no-trunc", "-q").split() == [image_id]
    row = json.loads(engine.out("images", "--format", "{{json .}}").splitlines()[0])
    assert row["ID"] == image_id[7:19] and row["Tag"] == "1.36"
    assert (
        engine.out("images", "-f", "reference=localhost:5000/*/*", "--format", "{{.Tag}}") == "v2\n"
    )
    assert engine.out("images", "-f", "label=tier=base", "-q").strip() == image_id[7:19]
    assert engine.out("images", "-f", "label=tier=other", "-q") == ""
    assert engine.out("images", "-f", "dangling=true", "-q") == ""
    assert engine.out("images", "busybox", "--format", "{{.Tag}}") == "1.36\n"
    assert engine.out("inspect", "-f", "{{index .RepoTags 0}} {{.Os}}", image_id[7:12]) == (
        "busybox:1.36 linux\n"
    )
    table = engine.out("images", "--format", "table {{.Repository}}\t{{.Tag}}").splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG"]
    bad = engine("images", "-f", "bogus=1", check=False)
    assert bad.returncode == 1 and b"invalid filter 'bogus'" in bad.stderr


def test_tag_and_rmi_untag_then_delete(engine: DockyardRunner, busybox_tar: Path) -> None:
    image_id = _import(engine, busybox_tar)
    engine("tag", "busybox", "mybox:2.0")
    assert engine.out("rmi", "busybox") == "Untagged: busybox:latest\n"
    out = engine.out("rmi", "mybox:2.0").splitlines()
    assert out[0] == "Untagged: mybox:2.0"
    assert out[1] == f"Deleted: {image_id}"
    assert engine.out("images", "-q") == ""
    assert not list((engine.root / "content" / "blobs" / "sha256").iterdir())
    assert engine.out("system", "check").startswith("ok")


def test_rmi_errors(engine: DockyardRunner, busybox_tar: Path) -> None:
    image_id = _import(engine, busybox_tar)
    engine("tag", "busybox", "other/repo:1")
    missing = engine("rmi", "nosuch", check=False)
    assert missing.returncode == 1
    assert missing.stderr.decode().strip() == "Error: No such image: nosuch:latest"
    conflict = engine("rmi", image_id[7:19], check=False)
    assert conflict.returncode == 1
    assert b"referenced in multiple repositories" in conflict.stderr
    forced = engine.out("rmi", "-f", image_id[7:19]).splitlines()
    assert forced == ["Untagged: busybox:latest", "Untagged: other/repo:1", f"Deleted: {image_id}",
                      *forced[3:]]  # fmt: skip
    bad_ref = engine("tag", image_id, "Bad:Tag", check=False)
    assert bad_ref.returncode == 1 and b"invalid reference format" in bad_ref.stderr


def test_rmi_refuses_image_used_by_container(state_root: Path, busybox_tar: Path) -> None:
    from dockyard.metadata import ContainerRef, Database

    engine = DockyardRunner(state_root, driver="native")
    image_id = _import(engine, busybox_tar)
    Database(state_root / "metadata.db").add_container(
        ContainerRef(id="c" * 64, name="web", image_id=image_id, running=False)
    )
    refused = engine("rmi", "busybox", check=False)
    assert (
        refused.returncode == 1
        and b"being used by stopped container cccccccccccc" in refused.stderr
    )
    assert engine.out("images", "-q").strip() == image_id[7:19]
    assert "Untagged: busybox:latest" in engine.out("rmi", "-f", "busybox")


def test_save_load_round_trip(engine: DockyardRunner, busybox_tar: Path, tmp_path: Path) -> None:
    image_id = _import(engine, busybox_tar)
    rootfs = json.loads(engine.out("inspect", "busybox"))[0]["RootFS"]
    archive = tmp_path / "bb.tar"
    engine("save", "-o", str(archive), "busybox")
    again = tmp_path / "again.tar"
    engine("save", "-o", str(again), "busybox")
    assert archive.read_bytes() == again.read_bytes()  # deterministic
    engine("rmi", "busybox")
    assert engine.out("load", "-i", str(archive)) == "Loaded image: busybox:latest\n"
    [info] = json.loads(engine.out("inspect", "busybox"))
    assert info["Id"] == image_id and info["RootFS"] == rootfs
    # from stdin, over an existing image: nothing changes
    assert engine.out("load", input=archive.read_bytes()) == "Loaded image: busybox:latest\n"
    assert engine.out("system", "check").startswith("ok")


def test_import_from_stdin_gzip(engine: DockyardRunner, busybox_tar: Path) -> None:
    import gzip

    image_id = engine.out("import", "-", "piped:1", input=gzip.compress(busybox_tar.read_bytes()))
    plain = _import(engine, busybox_tar, "plain")
    info = json.loads(engine.out("inspect", image_id.strip(), plain))
    assert info[0]["RootFS"] == info[1]["RootFS"]  # the same diff_id, whatever the compression


def test_prune_and_df(engine: DockyardRunner, busybox_tar: Path) -> None:
    first = _import(engine, busybox_tar, "a", "-c", "ENV A=1")
    _import(engine, busybox_tar, "a", "-c", "ENV A=2")  # moves the tag: first is dangling
    assert engine.out("images", "-f", "dangling=true", "-q", "--no-trunc").strip() == first
    df = engine.out("system", "df").splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df[1].split()[:3] == ["Images", "2", "0"]
    out = engine.out("image", "prune", "-f")
    assert f"deleted: {first}" in out and "Total reclaimed space:" in out
    assert engine.out("images", "-q", "-a").count("\n") == 1
    engine.out("image", "prune", "-a", "-f")
    assert engine.out("images", "-q") == ""


def test_unknown_flag_is_a_usage_error(dockyard: DockyardRunner) -> None:
    proc = dockyard("images", "--bogus", check=False)
    assert proc.returncode == 125 and b"--bogus" in proc.stderr


def test_version_and_info(dockyard: DockyardRunner) -> None:
    version = dockyard.out("version")
    for field in ("Version:", "Python version:", "State root:", "Cgroup version:", "Overlayfs:",
                  "User namespaces:", "Seccomp:"):  # fmt: skip
        assert field in version
    assert str(dockyard.root) in version
    assert dockyard.out("version", "--format", "{{.Client.Version}}").strip() == "0.1.0"
    info = dockyard.out("info")
    assert " Images: 0" in info and f"Root Dir: {dockyard.root}" in info
