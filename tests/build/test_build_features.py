"""``dockyard build`` features end to end (busybox only): RUN and COPY heredocs, ADD of local
archives, --cache-explain, RUN --mount, SOURCE_DATE_EPOCH, --output."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

pytestmark = [pytest.mark.root, pytest.mark.overlay]


def _build(box: DockyardRunner, ctx: Path, dockerfile: str, *args: str) -> str:
    (ctx / "Dockerfile").write_text(dockerfile)
    return box("build", "-t", "feat", *args, str(ctx)).stderr.decode()


HEREDOCS = """\
FROM busybox
ARG WHO=world
RUN <<EOF
set -e
mkdir -p /out
echo "simple $WHO" > /out/simple
EOF
RUN <<EOF
#!/bin/sh
echo "shebang $0" > /out/shebang
EOF
RUN cat <<-A > /out/two && cat <<"B" >> /out/two
\tfirst
\tA
second $WHO
B
COPY <<EOF /out/copied
copied $WHO
EOF
COPY <<one <<two /out/dir/
1
one
2
two
"""


def test_run_and_copy_heredocs(box: DockyardRunner, tmp_path: Path) -> None:
    _build(box, tmp_path, HEREDOCS, "--build-arg", "WHO=you")
    out = box.out(
        "run", "--rm", "feat", "sh", "-c",
        "cat /out/simple /out/shebang /out/two /out/copied /out/dir/one /out/dir/two",
    )  # fmt: skip
    assert out.splitlines() == [
        "simple you",
        "shebang /dev/pipes/EOF",  # a #! body runs as a program
        "first",  # <<- stripped the tab
        "second $WHO",  # a quoted heredoc name: the shell does not expand
        "copied you",  # COPY heredocs are expanded with the build args
        "1",
        "2",
    ]
    created = box.out("create", "feat").strip()
    with tarfile.open(fileobj=io.BytesIO(box("export", created).stdout)) as tar:
        names = tar.getnames()
    box("rm", created)
    assert "out/two" in names
    assert not [n for n in names if "pipes" in n]  # the script's mount left nothing behind


def _tar(members: dict[str, bytes], *, uid: int = 0) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), 0o640, uid, uid
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("plain.tar", lambda b: b),
        ("g.tar.gz", gzip.compress),
        ("b.tar.bz2", bz2.compress),
        ("x.tar.xz", lzma.compress),
        ("renamed.bin", gzip.compress),  # detected by content, not by name
    ],
)
def test_add_unpacks_local_archives(
    box: DockyardRunner, tmp_path: Path, name: str, compress: object
) -> None:
    data = _tar({"top.txt": b"top\n", "sub/inner.txt": b"inner\n"}, uid=1234)
    (tmp_path / name).write_bytes(compress(data))  # type: ignore[operator]
    (tmp_path / "notes.tar.gz").write_bytes(b"not really an archive\n")
    _build(box, tmp_path, f"FROM busybox\nADD {name} /opt/app\nADD notes.tar.gz /n/\n"
                          f"ADD --chown=7:8 {name} /owned/\nRUN mkdir -p /pre/sub\n"
                          f"ADD --chown=7:8 {name} /pre/\n")  # fmt: skip
    out = box.out(
        "run", "--rm", "feat", "sh", "-c",
        "cd /opt/app; cat top.txt sub/inner.txt /n/notes.tar.gz; stat -c '%u %a' top.txt; "
        "stat -c '%u:%g' /owned/top.txt /owned/sub /owned/sub/inner.txt /pre/sub "
        "/pre/sub/inner.txt",
    )  # fmt: skip
    assert out.splitlines() == [
        "top", "inner", "not really an archive", "1234 640", "7:8", "7:8", "7:8",
        "0:0", "7:8",  # a directory that was there keeps its owner
    ]  # fmt: skip


def _evil_tar(kind: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        if kind == "dotdot":
            info = tarfile.TarInfo("../../../../escaped-dotdot")
        else:
            link = tarfile.TarInfo("lnk")
            link.type, link.linkname = tarfile.SYMTYPE, "/tmp"
            tar.addfile(link)
            info = tarfile.TarInfo("lnk/escaped-symlink")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"x\n"))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("kind", "message", "outside"),
    [
        ("dotdot", "path escapes the root", "/escaped-dotdot"),
        ("symlink", "path crosses a symlink at lnk", "/tmp/escaped-symlink"),
    ],
)
def test_add_archive_cannot_escape_the_rootfs(
    box: DockyardRunner, tmp_path: Path, kind: str, message: str, outside: str
) -> None:
    (tmp_path / "evil.tar").write_bytes(_evil_tar(kind))
    (tmp_path / "Dockerfile").write_text("FROM busybox\nADD evil.tar /x/\n")
    result = box("build", str(tmp_path), check=False)
    assert result.returncode == 1
    assert message in result.stderr.decode()
    assert not Path(outside).exists()
    assert box.out("ps", "-aq") == ""


@pytest.fixture
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a directory (for ``ADD URL``)."""
    import functools
    import http.server
    import threading

    root = tmp_path_factory.mktemp("www")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_add_url(box: DockyardRunner, tmp_path: Path, web: tuple[str, Path]) -> None:
    url, root = web
    (root / "tool.sh").write_text("echo remote\n")
    (root / "data.tar").write_bytes(_tar({"inner.txt": b"x"}, uid=0))
    digest = "sha256:" + hashlib.sha256(b"echo remote\n").hexdigest()
    dockerfile = (
        "FROM busybox\n"
        f"ADD --checksum={digest} {url}/tool.sh /opt/\n"
        f"ADD {url}/data.tar /archive/\n"
        f"ADD --chmod=755 {url}/tool.sh /bin/remote-tool\n"
    )
    first = _build(box, tmp_path, dockerfile)
    script = "stat -c '%a %n' /opt/tool.sh /bin/remote-tool; ls /archive; remote-tool"
    out = box.out("run", "--rm", "feat", "sh", "-c", script)
    # not unpacked (docker's rule for URLs); 0600 unless --chmod
    assert out.splitlines() == ["600 /opt/tool.sh", "755 /bin/remote-tool", "data.tar", "remote"]
    assert "CACHED" not in first
    assert _build(box, tmp_path, dockerfile).count("CACHED") == 3  # same content: all cached
    (root / "tool.sh").write_text("echo changed\n")
    changed = box("build", "-t", "feat", str(tmp_path), check=False)
    assert changed.returncode == 1 and b"checksum mismatch" in changed.stderr
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nADD {url}/missing /x/\n")
    missing = box("build", str(tmp_path), check=False)
    assert missing.returncode == 1 and b"the server answered 404" in missing.stderr
    (tmp_path / "Dockerfile").write_text("FROM busybox\nADD git@github.com:x/y.git /src\n")
    git = box("build", str(tmp_path), check=False)
    assert git.returncode == 1 and b"ADD from git@github.com is not supported" in git.stderr


EXPLAIN = """\
FROM busybox
ARG V=1
RUN echo "v=$V" > /v
COPY files/ /files/
RUN cat /files/a.txt
"""


def _explained(output: str) -> dict[str, str]:
    """Instruction -> the --cache-explain line after it (HIT or MISS: reason)."""
    lines = output.splitlines()
    found = {}
    for line, nxt in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("[") and nxt.startswith("  "):
            found[line.split("] ", 1)[1].removesuffix("  CACHED")] = nxt.strip()
    return found


def test_cache_explain_names_what_changed(box: DockyardRunner, tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_text("a\n")
    (tmp_path / "files" / "b.txt").write_text("b\n")
    first = _explained(_build(box, tmp_path, EXPLAIN, "--cache-explain"))
    assert set(first.values()) == {"MISS: no earlier build of this step is known"}
    assert len(first) == 3
    again = _explained(_build(box, tmp_path, EXPLAIN, "--cache-explain"))
    assert set(again.values()) == {"HIT"}
    (tmp_path / "files" / "b.txt").write_text("changed\n")
    changed = _explained(_build(box, tmp_path, EXPLAIN, "--cache-explain"))
    assert changed == {
        'RUN echo "v=$V" > /v': "HIT",
        "COPY files/ /files/": "MISS: file files/b.txt changed",
        "RUN cat /files/a.txt": "MISS: the previous step was rebuilt (its result changed)",
    }
    (tmp_path / "files" / "c.txt").write_text("new\n")
    arg = _explained(_build(box, tmp_path, EXPLAIN, "--cache-explain", "--build-arg", "V=2"))
    assert arg['RUN echo "v=$V" > /v'] == "MISS: build arg V changed: '1' -> '2'"
    assert arg["COPY files/ /files/"] == "MISS: file files/c.txt was added"
    text = _explained(
        _build(box, tmp_path, EXPLAIN.replace("cat /files/a.txt", "cat /files/c.txt"),
               "--cache-explain", "--build-arg", "V=2")
    )  # fmt: skip
    assert (
        text["RUN cat /files/c.txt"] == "MISS: the instruction changed (was: RUN cat /files/a.txt)"
    )
    plain = box("build", "-t", "feat", "--build-arg", "V=2", str(tmp_path)).stderr.decode()
    assert "HIT" not in plain and "MISS" not in plain  # only with --cache-explain


MOUNTS = """\
FROM busybox
RUN --mount=type=cache,target=/cache echo run >> /cache/log && wc -l < /cache/log > /count
RUN --mount=type=tmpfs,target=/scratch grep -q ' /scratch tmpfs ' /proc/mounts && touch /scratch/x
RUN --mount=type=bind,source=data,target=/data cat /data/hello > /bound && ! touch /data/x
"""


def test_run_mounts(box: DockyardRunner, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "hello").write_text("hello from the context\n")
    _build(box, tmp_path, MOUNTS, "--no-cache")
    _build(box, tmp_path, MOUNTS, "--no-cache")
    out = box.out(
        "run", "--rm", "feat", "sh", "-c",
        "cat /count /bound; ls -A /cache /scratch /data 2>/dev/null | wc -w",
    )  # fmt: skip
    assert out.split() == ["2", "hello", "from", "the", "context", "0"]  # the cache persisted
    (tmp_path / "data" / "hello").write_text("changed\n")
    steps = _build(box, tmp_path, MOUNTS)
    assert (
        "--mount=type=bind,source=data,target=/data cat /data/hello > /bound && ! touch "
        "/data/x\n" in steps
    )  # not CACHED: the bound context files changed
    assert box.out("run", "--rm", "feat", "cat", "/bound") == "changed\n"


def test_unsupported_mounts_are_named(box: DockyardRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN --mount=type=ssh true\n")
    result = box("build", str(tmp_path), check=False)
    assert result.returncode == 1
    assert "not supported" in result.stderr.decode()
    assert box.out("ps", "-aq") == ""


MOUNTS_FROM = """\
FROM busybox AS builder
ARG V=1
RUN mkdir -p /out/sub && echo "built $V" > /out/sub/file && ln -s /out/sub /out/link
RUN echo later > /out/later && chown 123:45 /out/sub/file
FROM scratch AS files
COPY data/hello /hello
FROM busybox
RUN --mount=type=bind,from=files,target=/f cat /f/hello > /from-scratch
RUN --mount=type=bind,from=builder,source=/out,target=/mnt \
    --mount=type=bind,from=builder,source=/out/link,target=/l \
    cat /mnt/sub/file /mnt/later /l/file > /from-builder && ! touch /mnt/x
RUN --mount=type=bind,from=builder,source=/out,target=/mnt,rw \
    echo scribbled > /mnt/sub/file && echo new > /mnt/new && cat /mnt/sub/file > /rw-seen
RUN --mount=type=bind,from=builder,source=/out,target=/mnt \
    cat /mnt/sub/file > /after-rw && test ! -e /mnt/new
RUN --mount=type=bind,source=data,target=/data,rw \
    echo x > /data/hello && echo y > /data/new && cat /data/hello > /ctx-rw
RUN --mount=type=cache,from=builder,source=/out/sub,target=/c \
    stat -c '%u:%g' /c/file > /cache-seed && cat /c/file >> /cache-seed && echo more >> /c/file
RUN --mount=type=bind,from=busybox,source=/bin/busybox,target=/t/busybox /t/busybox true
"""


def test_run_mounts_from_stages_images_and_rw(box: DockyardRunner, tmp_path: Path) -> None:
    from dockyard.linux.mount import mounted_under

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "hello").write_text("hello\n")
    _build(box, tmp_path, MOUNTS_FROM)
    out = box.out(
        "run", "--rm", "feat", "sh", "-c",
        "cat /from-scratch /from-builder /rw-seen /after-rw /ctx-rw /cache-seed",
    )  # fmt: skip
    assert out.splitlines() == [
        "hello",  # a scratch stage's tree
        "built 1", "later", "built 1",  # a stage's tree; a source symlink resolved in it
        "scribbled", "built 1",  # rw: writable in the step, the writes discarded
        "x",
        "123:45", "built 1",  # the seeded cache keeps owners
    ]  # fmt: skip
    assert (tmp_path / "data" / "hello").read_text() == "hello\n"  # the context untouched
    assert not (tmp_path / "data" / "new").exists()
    assert mounted_under(str(box.root)) == []  # every step's trees unmounted
    assert list((box.root / "build" / "mounts").iterdir()) == []
    assert "build-mount-" not in box.out("system", "check")

    # a changed stage re-runs the steps that mount it; the others stay cached
    steps = _build(box, tmp_path, MOUNTS_FROM, "--build-arg", "V=2").splitlines()
    uncached = [line for line in steps if "--mount=type=bind,from=builder" in line]
    assert uncached and not any(line.endswith("CACHED") for line in uncached)
    assert next(line for line in steps if "from=files" in line).endswith("CACHED")
    assert box.out("run", "--rm", "feat", "head", "-1", "/from-builder") == "built 2\n"
    # the cache seeded from the changed stage is a new one
    assert box.out("run", "--rm", "feat", "cat", "/cache-seed").splitlines()[-1] == "built 2"


def test_missing_mount_source_is_named(box: DockyardRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox AS a\nFROM busybox\nRUN --mount=from=a,source=/nope,target=/x true\n"
    )
    result = box("build", str(tmp_path), check=False)
    assert result.returncode == 1
    assert "/nope in the mounted stage or image" in result.stderr.decode()
    assert box.out("ps", "-aq") == ""


EPOCH = """\
FROM busybox
RUN mkdir /made && echo made > /made/file && touch /made/now
COPY input.txt /in/
ENV X=1
"""


def test_source_date_epoch_makes_builds_reproducible(box: DockyardRunner, tmp_path: Path) -> None:
    (tmp_path / "input.txt").write_text("input\n")
    (tmp_path / "Dockerfile").write_text(EPOCH)
    args = ("build", "-q", "--no-cache", "--build-arg", "SOURCE_DATE_EPOCH=1700000000")
    first = box.out(*args, str(tmp_path)).strip()
    (tmp_path / "input.txt").touch()  # a new mtime: clamped away
    second = box.out(*args, str(tmp_path)).strip()
    assert first == second
    doc = json.loads(box.out("image", "inspect", first))[0]
    assert doc["Created"].startswith("2023-11-14T22:13:20")
    history = box.out("history", "-H", "false", "--format", "{{.CreatedAt}}", first).split()
    assert history[:3] == ["2023-11-14T22:13:20Z"] * 3  # the build's steps (busybox's: older)
    unpinned = box.out("build", "-q", "--no-cache", str(tmp_path)).strip()
    assert unpinned != first
    stat = box.out("run", "--rm", first, "stat", "-c", "%Y", "/made/now", "/in/input.txt")
    assert stat.split() == ["1700000000", "1700000000"]


def test_output_local_and_tar(box: DockyardRunner, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    dockerfile = "FROM busybox AS build\nRUN echo artifact > /artifact\n"
    local, tar_file = tmp_path / "out", tmp_path / "out.tar"
    _build(box, ctx, dockerfile, "--output", f"type=local,dest={local}",
           "--output", f"type=tar,dest={tar_file}")  # fmt: skip
    assert (local / "artifact").read_text() == "artifact\n"
    assert (local / "bin" / "busybox").is_file()
    with tarfile.open(tar_file) as tar:
        names = tar.getnames()
        member = tar.extractfile("artifact")
        assert member is not None and member.read() == b"artifact\n"
    assert "bin/busybox" in names
    assert not list(tmp_path.glob(".*.tar*"))
    assert box.out("ps", "-aq") == ""
    bad = box("build", "--output", "type=registry,dest=x", str(ctx), check=False)
    assert bad.returncode == 1 and "exporter is not supported" in bad.stderr.decode()


@pytest.mark.netns
def test_run_networks(box: DockyardRunner, tmp_path: Path) -> None:
    """RUN joins the default bridge network (an address and a route out, through NAT), a
    user network by name with ``--network NAME`` and none with ``RUN --network=none``."""
    box("network", "create", "buildnet")
    dockerfile = (
        "FROM busybox\n"
        "RUN ip -4 -o addr show eth0 | awk '{print $4}' > /addr && ip route > /routes\n"
        "RUN --network=none sh -c 'ip -o link | grep -c eth0 > /none || true'\n"
    )
    _build(box, tmp_path, dockerfile)
    out = box.out("run", "--rm", "feat", "sh", "-c", "cat /addr /routes /none")
    assert out.splitlines()[0].startswith(box.pools.split(":")[0].rsplit(".", 1)[0])
    assert "default via" in out and out.splitlines()[-1] == "0"
    _build(box, tmp_path, "FROM busybox\nRUN ip -4 -o addr show eth0 > /addr\n",
           "--network", "buildnet")  # fmt: skip
    subnet = json.loads(box.out("network", "inspect", "buildnet"))[0]["IPAM"]["Config"][0]
    prefix = subnet["Subnet"].rsplit(".", 1)[0]
    assert f"inet {prefix}." in box.out("run", "--rm", "feat", "cat", "/addr")


def test_copy_exclude_parents_and_link(box: DockyardRunner, tmp_path: Path) -> None:
    for rel in ("app/main.py", "app/cache/x.pyc", "app/lib/util.py", "app/lib/util.pyc",
                "docs/a/readme.md", "docs/b/notes.md"):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel + "\n")
    dockerfile = (
        "FROM busybox\n"
        "COPY --exclude=**/*.pyc --exclude=cache app /app/\n"
        "COPY --parents docs/*/*.md /tree/\n"
        "COPY --parents ./docs/./a/readme.md /pivot/\n"
        "COPY --link app/main.py /linked.py\n"
    )
    first = _build(box, tmp_path, dockerfile)
    listing = box.out("run", "--rm", "feat", "sh", "-c",
                      "cd / && find app tree pivot -type f | sort && cat linked.py")  # fmt: skip
    assert listing.splitlines() == [
        "app/lib/util.py", "app/main.py", "pivot/a/readme.md", "tree/docs/a/readme.md",
        "tree/docs/b/notes.md", "app/main.py",
    ]  # fmt: skip
    assert "CACHED" not in first
    (tmp_path / "app/lib/util.pyc").write_text("changed\n")  # excluded: no cache miss
    again = _build(box, tmp_path, dockerfile)
    assert again.count("CACHED") >= 4, again


def test_copy_from_a_stage_with_exclude_and_parents(box: DockyardRunner, tmp_path: Path) -> None:
    dockerfile = (
        "FROM busybox AS src\n"
        "RUN mkdir -p /out/a /out/b /out/c && echo 1 > /out/a/x.txt && echo 2 > /out/a/x.log \\\n"
        " && echo 3 > /out/b/y.txt && chown 5:6 /out/b/y.txt && mknod /out/c/fifo p\n"
        "FROM busybox\n"
        "COPY --from=src --exclude=**/*.log /out /kept/\n"
        "COPY --from=src --parents /out/./*/*.txt /tree/\n"
        "COPY --from=busybox --exclude=* /bin /nothing/\n"
    )
    (tmp_path / "Dockerfile").write_text(dockerfile)
    result = box("build", "-t", "feat", str(tmp_path), check=False)
    assert result.returncode == 1
    assert "--exclude left nothing to copy" in result.stderr.decode()
    _build(box, tmp_path, dockerfile.rsplit("COPY --from=busybox", 1)[0])
    script = "cd / && find kept tree ! -type d | sort && stat -c %u:%g /tree/b/y.txt"
    listing = box.out("run", "--rm", "feat", "sh", "-c", script)
    assert listing.splitlines() == [
        "kept/a/x.txt", "kept/b/y.txt", "kept/c/fifo", "tree/a/x.txt", "tree/b/y.txt", "5:6",
    ]  # fmt: skip


def test_secrets_are_mounted_but_never_kept(box: DockyardRunner, tmp_path: Path) -> None:
    secret = tmp_path.parent / "token.txt"
    secret.write_text("s3cr3t\n")
    dockerfile = (
        "FROM busybox\n"
        "RUN --mount=type=secret,id=token cat /run/secrets/token > /seen && "
        "stat -c '%a %u' /run/secrets/token >> /seen\n"
        "RUN --mount=type=secret,id=api,target=/etc/api,mode=0440,uid=7,required "
        "stat -c '%a %u' /etc/api > /api && test ! -e /run/secrets/token\n"
        "RUN --mount=type=secret,id=absent ls /run/secrets 2>/dev/null | wc -l > /absent\n"
    )
    (tmp_path / "Dockerfile").write_text(dockerfile)
    env = {**box.env(), "API_KEY": "k"}
    proc = subprocess.run(box.argv("build", "-t", "feat", "--secret", f"id=token,src={secret}",
                                   "--secret", "id=api,env=API_KEY", str(tmp_path)),
                          env=env, capture_output=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    out = box.out("run", "--rm", "feat", "sh", "-c", "cat /seen /api /absent")
    assert out.splitlines() == ["s3cr3t", "400 0", "440 7", "0"]
    image_fs = box.out("run", "--rm", "feat", "sh", "-c", "ls /run/secrets /etc/api 2>&1; true")
    assert "s3cr3t" not in image_fs and "No such file" in image_fs
    secret.write_text("changed\n")  # a new secret value does not invalidate the cache
    again = subprocess.run(box.argv("build", "-t", "feat", "--secret", f"id=token,src={secret}",
                                    "--secret", "id=api,env=API_KEY", str(tmp_path)),
                           env=env, capture_output=True, check=True).stderr.decode()  # fmt: skip
    assert again.count("CACHED") == 3, again
    missing = box("build", str(tmp_path), check=False)
    assert missing.returncode == 1 and b"secret api is required but was not given" in missing.stderr


def test_copy_keeps_kinds_modes_links_and_times(box: DockyardRunner, tmp_path: Path) -> None:
    """COPY of symlinks, a hardlinked pair, modes and an old mtime; ``--chmod`` and
    ``--chown`` (numeric) change every copied entry but a symlink's mode."""
    ctx = tmp_path / "ctx"
    (ctx / "src" / "sub").mkdir(parents=True)
    (ctx / "src" / "run.sh").write_text("#!/bin/sh\n")
    (ctx / "src" / "run.sh").chmod(0o755)
    (ctx / "src" / "sub").chmod(0o711)
    (ctx / "src" / "a").write_text("a\n")
    os.link(ctx / "src" / "a", ctx / "src" / "b")
    (ctx / "src" / "lnk").symlink_to("a")
    os.utime(ctx / "src" / "a", (1_000_000_000, 1_000_000_000))
    fmt = "%n %F %a %u:%g %h %Y"
    _build(
        box, ctx, "FROM busybox\nCOPY src/ /plain/\nCOPY --chown=12:34 --chmod=600 src/ /owned/\n"
    )
    show = box.out("run", "--rm", "feat", "sh", "-c",
                   f"cd /plain && stat -c '{fmt}' a b lnk run.sh sub; readlink lnk; "
                   f"cd /owned && stat -c '%n %a %u:%g' a lnk run.sh sub").splitlines()  # fmt: skip
    assert show[:6] == [
        "a regular file 644 0:0 2 1000000000",
        "b regular file 644 0:0 2 1000000000",
        f"lnk symbolic link 777 0:0 1 {show[2].split()[-1]}",
        f"run.sh regular file 755 0:0 1 {show[3].split()[-1]}",
        f"sub directory 711 0:0 2 {show[4].split()[-1]}",
        "a",
    ]
    assert show[6:] == ["a 600 12:34", "lnk 777 12:34", "run.sh 600 12:34", "sub 600 12:34"]


def test_system_check_repairs_what_a_killed_build_left(box: DockyardRunner) -> None:
    """A build killed mid-step leaves a snapshot of its own (a direct COPY's, a from= view)
    and step mounts: ``system check`` names them, ``--repair`` removes them; a live build's
    are left alone."""
    from dockyard.engine.check import BUILD_OWNER, build_owner
    from dockyard.image.store import ImageStore
    from dockyard.linux.mount import mount, mounted_under, unmount_all_under

    store = ImageStore(box.root)
    dead = "1:1"  # pid 1 did not start at tick 1: a process that is gone
    store.snapshots.prepare("build-copy-dead", None, labels={BUILD_OWNER: dead})
    store.snapshots.prepare("build-copy-live", None, labels={BUILD_OWNER: build_owner()})
    mounts = box.root / "build" / "mounts"
    (mounts / "1.1.dead" / "tree1").mkdir(parents=True)
    mount("tmpfs", str(mounts / "1.1.dead" / "tree1"), "tmpfs")
    try:
        checked = box("system", "check", check=False)
        found = checked.stdout.decode()
        assert checked.returncode != 0 and "build-copy-dead" in found and "1.1.dead" in found
        assert "build-copy-live" not in found
        box("system", "check", "--repair")
    finally:
        unmount_all_under(str(mounts))  # a no-op when the repair did it
    assert not store.snapshots.exists("build-copy-dead")
    assert store.snapshots.exists("build-copy-live")
    assert not (mounts / "1.1.dead").exists() and mounted_under(str(mounts)) == []
    store.snapshots.remove("build-copy-live")
