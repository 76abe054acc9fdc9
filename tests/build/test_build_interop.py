"""Built images outside dockyard and at full size: a ``dockyard build`` result saved, unpacked
by umoci and run by runc; the PERFORMANCE.md W2 build on Debian (outputs, cache hits, misses).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

SMALL = """\
FROM busybox
ENV GREETING=hello
WORKDIR /app
COPY note.txt /app/note.txt
RUN echo "$GREETING from RUN in $(pwd)" > /app/made.txt
CMD ["cat", "/app/note.txt", "/app/made.txt"]
"""

W2 = """\
FROM debian:bookworm
ENV APP_HOME=/app LANG=C.UTF-8
WORKDIR /app
RUN mkdir -p gen && for i in $(seq 1 200); do echo "generated $i" > gen/g$i.txt; done
COPY files/ /app/files/
ARG FLAVOR=plain
RUN echo "$FLAVOR" > /flavor
CMD ["/bin/sh", "-c", "ls /app/files | wc -l"]
"""


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120).stdout


def _steps(output: str) -> list[tuple[str, bool]]:
    """(instruction, cached) per reported step."""
    lines = [ln for ln in output.splitlines() if ln.startswith("[")]
    return [
        (ln.split("] ", 1)[1].removesuffix("  CACHED"), ln.endswith("  CACHED")) for ln in lines
    ]


@pytest.fixture
def runc_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """runc's state root and a fresh container id; the container is force-deleted afterwards.

    The id names ``dockyard`` so that the session's leak check also sees a cgroup runc left."""
    root = tmp_path / "runc"
    container_id = f"dockyard-interop-{uuid.uuid4().hex[:12]}"
    yield root, container_id
    subprocess.run(["runc", "--root", str(root), "delete", "--force", container_id],
                   capture_output=True, timeout=60)  # fmt: skip


@pytest.mark.root
@pytest.mark.overlay
@pytest.mark.interop
def test_built_image_runs_in_runc_via_umoci(
    box: DockyardRunner, tmp_path: Path, runc_root: tuple[Path, str]
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(SMALL)
    (ctx / "note.txt").write_text("copied from the context\n")
    box("build", "-t", "app:v1", str(ctx))
    archive = tmp_path / "img.tar"
    box("save", "-o", str(archive), "app:v1")
    layout = tmp_path / "layout"
    layout.mkdir()
    _run("tar", "-xf", str(archive), "-C", str(layout))  # a docker-archive and an OCI layout
    bundle = tmp_path / "bundle"
    _run("umoci", "unpack", "--image", f"{layout}:v1", str(bundle))
    config = json.loads((bundle / "config.json").read_text())
    process = config["process"]
    assert process["args"] == ["cat", "/app/note.txt", "/app/made.txt"]  # CMD
    assert process["cwd"] == "/app"  # WORKDIR
    assert "GREETING=hello" in process["env"]  # ENV
    process["terminal"] = False
    process["args"] = ["/bin/sh", "-c", 'cat /app/note.txt /app/made.txt; pwd; echo "$GREETING"']
    (bundle / "config.json").write_text(json.dumps(config))
    root, container_id = runc_root
    proc = subprocess.run(
        ["runc", "--root", str(root), "run", "--bundle", str(bundle), container_id],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "copied from the context",
        "hello from RUN in /app",
        "/app",
        "hello",
    ]
    assert not (root / container_id).exists(), "runc left its state behind"
    cgroups = Path("/sys/fs/cgroup")
    left = [*cgroups.glob(container_id), *cgroups.glob(f"*/{container_id}")]  # v2, v1
    assert not left, f"runc left cgroups: {left}"


def _w2_context(root: Path) -> Path:
    (root / "files").mkdir(parents=True)
    for i in range(1000):
        (root / "files" / f"f{i:04}.txt").write_text(f"file {i:04} " + "x" * 190 + "\n")
    (root / "Dockerfile").write_text(W2)
    return root


@pytest.mark.root
@pytest.mark.overlay
@pytest.mark.slow
def test_debian_build_with_env_and_args(debian: DockyardRunner, tmp_path: Path) -> None:
    ctx = _w2_context(tmp_path / "ctx")
    build = ("build", "-t", "w2", "--build-arg", "FLAVOR=spicy", str(ctx))
    cold = _steps(debian(*build).stderr.decode())
    assert len(cold) == 8 and not any(cached for _, cached in cold), cold
    assert debian.out("run", "--rm", "w2") == "1000\n"
    probe = "ls /app/gen | wc -l; cat /app/gen/g200.txt /flavor; echo $LANG; echo $APP_HOME; pwd"
    assert debian.out("run", "--rm", "w2", "/bin/sh", "-c", probe).splitlines() == [
        "200", "generated 200", "spicy", "C.UTF-8", "/app", "/app",
    ]  # fmt: skip
    warm = _steps(debian(*build).stderr.decode())
    assert [text for text, cached in warm if not cached] == ["FROM debian:bookworm"], warm
    (ctx / "files" / "f0500.txt").write_text("changed\n")
    changed = _steps(debian(*build).stderr.decode())
    missed = [text for text, cached in changed if not cached]
    assert missed == [
        "FROM debian:bookworm",
        "COPY files/ /app/files/",
        "ARG FLAVOR=plain",
        'RUN echo "$FLAVOR" > /flavor',
        'CMD ["/bin/sh", "-c", "ls /app/files | wc -l"]',
    ], changed
    after = "cat /app/files/f0500.txt; ls /app/files | wc -l; cat /flavor"
    assert debian.out("run", "--rm", "w2", "/bin/sh", "-c", after).splitlines() == [
        "changed", "1000", "spicy",
    ]  # fmt: skip


@pytest.mark.root
@pytest.mark.overlay
def test_arg_is_cached_exactly_when_its_parent_is(box: DockyardRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo one > /one\nARG A=1\n")
    steps = dict(_steps(box("build", "-t", "args", str(tmp_path)).stderr.decode()))
    assert steps["RUN echo one > /one"] is False
    assert steps["ARG A=1"] is False  # nothing was cached: this build is the first
    again = dict(_steps(box("build", "-t", "args", str(tmp_path)).stderr.decode()))
    assert again["ARG A=1"] is True
