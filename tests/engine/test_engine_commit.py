"""``docker commit`` end to end through the real CLI, on both snapshotters: the new layer
(added, changed and deleted files; no runtime mount-point stubs), the image config taken
from the container's, ``-c`` changes, history, tags, pausing a running container, errors;
and the archive helper it writes the layer with (no root needed)."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import DockyardRunner
from tests.engine.containers_harness import Box, boxed, frozen, wait_until

from dockyard.archive.create import changed_members, write_members
from dockyard.errors import InvalidArgument

IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}\n$")
WRITER = "echo hi > /hello; rm /etc/passwd; mkdir -p /x/y; echo z > /x/y/z"
REPLACER = "rm -rf /x; mkdir /x; echo new > /x/f"


@pytest.fixture(params=["overlayfs", "native"])
def any_box(request: pytest.FixtureRequest, state_root: Path, busybox_tar: Path) -> Iterator[Box]:
    """Busybox on each snapshotter (for what reads the container's changes)."""
    yield from boxed(DockyardRunner(state_root, driver=request.param), busybox_tar)


@pytest.fixture
def box(dockyard: DockyardRunner, busybox_tar: Path) -> Iterator[Box]:
    yield from boxed(dockyard, busybox_tar)


def commit(box: Box, *args: str) -> str:
    """``commit ARGS``; the new image's ID (docker prints ``sha256:<hex>``)."""
    out = box("commit", *args).stdout.decode()
    assert IMAGE_ID.match(out), out
    return out.strip()


def image_json(box: Box, ref: str) -> dict[str, Any]:
    doc = json.loads(box.out("image", "inspect", ref))
    assert isinstance(doc, list) and len(doc) == 1
    assert isinstance(doc[0], dict)
    return doc[0]


def top_layer(box: Box, ref: str, tmp_path: Path) -> dict[str, tarfile.TarInfo]:
    """The members of the image's last layer, read from a ``save`` archive."""
    archive = tmp_path / "saved.tar"
    box("save", "-o", str(archive), ref)
    with tarfile.open(archive) as outer:
        index = outer.extractfile("manifest.json")
        assert index is not None
        manifest = json.load(index)
        blob = outer.extractfile(manifest[0]["Layers"][-1])
        assert blob is not None
        with tarfile.open(fileobj=blob, mode="r:*") as layer:
            return {m.name: m for m in layer.getmembers()}


@pytest.mark.root
@pytest.mark.overlay
def test_commit_files_whiteouts_and_metadata(any_box: Box, tmp_path: Path) -> None:
    box = any_box
    box("run", "--name", "src", "-v", "/data", "busybox", "sh", "-c", WRITER)
    image = commit(box, "-a", "Ann <ann@example.com>", "-m", "first commit",
                   "-c", 'CMD ["cat","/hello"]', "src", "mine:v1")  # fmt: skip
    assert box.out("images", "-q", "--no-trunc", "mine:v1") == image
    assert box.out("run", "--rm", "mine:v1") == "hi"
    script = "test -e /etc/passwd; echo $?; cat /x/y/z"
    assert box.out("run", "--rm", "mine:v1", "sh", "-c", script) == "1\nz"
    members = top_layer(box, "mine:v1", tmp_path)
    # No etc/hosts, etc/resolv.conf or data: the runtime's mount-point stubs.
    assert sorted(members) == ["etc", "etc/.wh.passwd", "hello", "x", "x/y", "x/y/z"]
    assert members["hello"].size == 3 and members["x/y"].isdir()
    assert members["etc/.wh.passwd"].isfile() and members["etc/.wh.passwd"].size == 0
    history = box.out("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", image)
    assert history.splitlines()[0] == f"sh -c {WRITER}|first commit"
    shown = box.out("inspect", "-f", "{{.Author}}|{{.Comment}}|{{json .Config.Cmd}}", "mine:v1")
    assert shown == 'Ann <ann@example.com>|first commit|["cat","/hello"]'
    doc = image_json(box, image)
    assert doc["Config"]["Volumes"] == {"/data": {}}
    base = len(image_json(box, "busybox")["RootFS"]["Layers"])
    assert len(doc["RootFS"]["Layers"]) == base + 1


@pytest.mark.root
@pytest.mark.overlay
def test_commit_on_a_committed_image_hides_a_replaced_directory(
    any_box: Box, tmp_path: Path
) -> None:
    box = any_box
    box("run", "--name", "one", "busybox", "sh", "-c", WRITER)
    commit(box, "one", "mine:v1")
    box("run", "--name", "two", "mine:v1", "sh", "-c", REPLACER)
    commit(box, "two", "mine:v2")
    assert sorted(top_layer(box, "mine:v2", tmp_path)) == ["x", "x/.wh.y", "x/f"]
    script = "ls /x; cat /hello"
    assert box.out("run", "--rm", "mine:v2", "sh", "-c", script) == "f\nhi"
    assert box.out("run", "--rm", "mine:v1", "cat", "/x/y/z") == "z"  # the parent is intact
    history = box.out("history", "--no-trunc", "--format", "{{.CreatedBy}}", "mine:v2").splitlines()
    assert history[:2] == [f"sh -c {REPLACER}", f"sh -c {WRITER}"]


@pytest.mark.root
@pytest.mark.overlay
def test_commit_config_comes_from_the_container(box: Box, busybox_tar: Path) -> None:
    box("import", "-c", "ENV BASE=1 PATH=/bin", "-c", "LABEL from=image", "-c", "EXPOSE 8080",
        "-c", "STOPSIGNAL SIGUSR1", "-c", "ONBUILD RUN true", str(busybox_tar), "base")  # fmt: skip
    box("create", "--name", "cfg", "-e", "FOO=bar", "-e", "BASE=2", "-w", "/srv", "-u", "1:1",
        "--label", "k=v", "--entrypoint", "/bin/echo", "--stop-signal", "SIGTERM",
        "base", "hello", "world")  # fmt: skip
    image = commit(box, "-c", "ENV EXTRA=x", "cfg")
    config = image_json(box, image)["Config"]
    assert isinstance(config, dict)
    assert config["Env"] == ["FOO=bar", "BASE=2", "PATH=/bin", "EXTRA=x"]
    assert config["Entrypoint"] == ["/bin/echo"]
    assert config["Cmd"] == ["hello", "world"]
    assert (config["WorkingDir"], config["User"]) == ("/srv", "1:1")
    assert config["Labels"] == {"from": "image", "k": "v"}
    assert config["ExposedPorts"] == {"8080/tcp": {}}
    assert config["StopSignal"] == "SIGTERM"
    assert config["OnBuild"] is None  # moby's merge drops the image's triggers
    assert box.out("images", "--filter", "dangling=true", "-q", "--no-trunc") == image
    # Never started: nothing changed, so no new layer (classic docker's empty_layer).
    layers = image_json(box, image)["RootFS"]["Layers"]
    assert layers == image_json(box, "base")["RootFS"]["Layers"]
    assert box.out("run", "--rm", image) == "hello world"


@pytest.mark.root
@pytest.mark.overlay
def test_commit_pauses_a_running_container_and_resumes_it(box: Box) -> None:
    cid = box.run_d("busybox", "sh", "-c", "echo a > /a; echo up; while :; do sleep 0.1; done")
    wait_until(lambda: "up" in box.out("logs", cid), "the container to start its loop")
    started = box.inspect(cid, "{{.State.StartedAt}}")
    image = commit(box, cid, "live")
    assert box.status(cid) == "running" and not frozen(cid)
    assert box.inspect(cid, "{{.State.StartedAt}}") == started
    assert box.out("run", "--rm", "live", "cat", "/a") == "a"
    assert commit(box, "--pause=false", cid) != image  # a newer created time
    assert box.status(cid) == "running"
    box("pause", cid)
    commit(box, "-p", cid, "live:paused")
    assert box.status(cid) == "paused" and frozen(cid)  # the user's pause is left alone
    box("unpause", cid)


ERRORS = [
    (("nope", "x"), 1, "Error response from daemon: No such container: nope"),
    (("src", "Bad:Ref"), 1, "invalid reference format: repository name (library/Bad) must be"),
    (("src", "repo@sha256:" + "0" * 64), 1, "refusing to create a tag with a digest reference"),
    (("-c", "BOGUS x", "src"), 1, "BOGUS is not a valid change command"),
    (("--pause=maybe", "src"), 125, 'invalid argument "maybe" for "--pause" flag'),
]


@pytest.mark.root
@pytest.mark.overlay
def test_commit_errors_and_flags_like_docker(box: Box) -> None:
    box("create", "--name", "src", "busybox", "true")
    before = box.out("images", "-a", "-q", "--no-trunc")
    for args, code, message in ERRORS:
        proc = box("commit", *args, check=False)
        assert (proc.returncode, proc.stdout) == (code, b""), (args, proc.stderr)
        assert message in proc.stderr.decode(), args
    assert box.out("images", "-a", "-q", "--no-trunc") == before  # nothing left behind
    image = commit(box, "-p=0", "src", "plain")  # docker's default tag
    assert box.out("images", "--format", "{{.Repository}}:{{.Tag}}", "plain") == "plain:latest"
    assert box.out("images", "-q", "--no-trunc", "plain:latest") == image


def test_changed_members_lists_entries_alone_and_whiteouts(tmp_path: Path) -> None:
    """The layer writer under commit: only the listed entries, in order, each directory alone,
    deletions as ``.wh.`` markers, vanished entries skipped, hardlinks and symlinks kept."""
    (tmp_path / "a/sub").mkdir(parents=True)
    (tmp_path / "a/sub/unlisted").write_text("no")
    (tmp_path / "a/f").write_text("data")
    os.link(tmp_path / "a/f", tmp_path / "a/h")
    (tmp_path / "a/l").symlink_to("/etc/passwd")
    listed = [(b"a/l", False), (b"a/h", False), (b"a", False), (b"a/gone", True),
              (b"a/f", False), (b"a/sub", False), (b"missing", False)]  # fmt: skip
    out = io.BytesIO()
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        result = write_members(changed_members(fd, listed), out)
    finally:
        os.close(fd)
    assert result.size == len(out.getvalue())
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), mode="r:gz") as tar:
        got = {m.name: m for m in tar.getmembers()}
        names = tar.getnames()
        data = tar.extractfile("a/f")
        assert data is not None and data.read() == b"data"
    assert names == ["a", "a/f", "a/.wh.gone", "a/h", "a/l", "a/sub"]
    assert got["a/h"].islnk() and got["a/h"].linkname == "a/f"
    assert got["a/l"].issym() and got["a/l"].linkname == "/etc/passwd"
    assert got["a/.wh.gone"].isfile() and got["a/.wh.gone"].mode == 0


@pytest.mark.parametrize("path", [b"/etc", b"a//b", b"a/../b", b"./a", b""])
def test_changed_members_refuses_unclean_paths(tmp_path: Path, path: bytes) -> None:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(InvalidArgument, match="not a clean relative path"):
            list(changed_members(fd, [(path, False)]))
    finally:
        os.close(fd)
