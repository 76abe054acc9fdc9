"""``dockyard build`` end to end: images that run, the cache, multi-stage, failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

pytestmark = [pytest.mark.root, pytest.mark.overlay]

DOCKERFILE = """\
FROM busybox
ENV APP_HOME=/app
WORKDIR /app
ARG GREETING=hello
RUN mkdir gen && for i in 1 2 3; do echo "gen $i" > gen/g$i; done && echo "$GREETING from RUN"
COPY files/ /app/files/
RUN echo "$GREETING" > /app/greeting
CMD ["/bin/sh", "-c", "ls /app/files | wc -l; cat /app/greeting; echo $APP_HOME"]
"""


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "files").mkdir(parents=True)
    for i in range(5):
        (root / "files" / f"f{i}.txt").write_text(f"file {i}\n")
    (root / "files" / "secret.key").write_text("do not copy\n")
    (root / ".dockerignore").write_text("files/*.key\n")
    (root / "Dockerfile").write_text(DOCKERFILE)
    return root


def _steps(output: str) -> list[tuple[str, bool]]:
    """(instruction, cached) per reported step."""
    lines = [ln for ln in output.splitlines() if ln.startswith("[")]
    return [
        (ln.split("] ", 1)[1].removesuffix("  CACHED"), ln.endswith("  CACHED")) for ln in lines
    ]


def test_build_runs_and_caches(box: DockyardRunner, ctx: Path) -> None:
    first = box("build", "-t", "app:1", "--build-arg", "GREETING=hi", str(ctx))
    assert b"hi from RUN" in first.stderr
    assert box.out("run", "--rm", "app:1").split() == ["5", "hi", "/app"]  # secret.key ignored
    again = box("build", "-t", "app:1", "--build-arg", "GREETING=hi", str(ctx))
    steps = _steps(again.stderr.decode())
    assert all(cached for text, cached in steps if not text.startswith("FROM")), steps
    (ctx / "files" / "f3.txt").write_text("changed\n")
    changed = dict(
        _steps(box("build", "-t", "app:2", "--build-arg", "GREETING=hi", str(ctx)).stderr.decode())
    )
    assert changed["COPY files/ /app/files/"] is False
    assert changed['RUN echo "$GREETING" > /app/greeting'] is False
    assert changed["ENV APP_HOME=/app"] is True
    other_arg = dict(_steps(box("build", "-t", "app:3", str(ctx)).stderr.decode()))
    assert other_arg["ENV APP_HOME=/app"] is True
    assert [v for k, v in other_arg.items() if k.startswith("RUN mkdir")] == [False]
    assert box.out("run", "--rm", "app:3").split()[1] == "hello"
    assert "<none>" not in box.out("images")
    assert "<none>" in box.out("images", "-a")


def test_multi_stage_copy_from(box: DockyardRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox AS builder\n"
        "RUN mkdir /out && echo built > /out/artifact\n"
        "FROM busybox\n"
        "COPY --from=builder /out/artifact /opt/artifact\n"
        'CMD ["cat", "/opt/artifact"]\n'
        "FROM builder AS broken\n"
        "RUN exit 1\n"
    )
    unknown = box("build", "-t", "multi", "--target", "nope", str(tmp_path), check=False)
    assert unknown.returncode == 1
    assert "builder" in unknown.stderr.decode()  # the hint lists the stages
    failed = box("build", "-t", "multi", str(tmp_path), check=False)  # the last stage fails
    assert failed.returncode == 1
    assert "RUN at line 7" in failed.stderr.decode()
    (tmp_path / "Dockerfile").write_text(
        (tmp_path / "Dockerfile")
        .read_text()
        .replace("FROM busybox\nCOPY", "FROM busybox AS final\nCOPY")
    )
    box("build", "-t", "multi", "--target", "final", str(tmp_path))
    assert box.out("run", "--rm", "multi") == "built\n"


def test_failing_run_names_the_step_and_leaves_nothing(box: DockyardRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo before-failing; exit 3\n")
    failed = box("build", "-t", "bad", str(tmp_path), check=False)
    assert failed.returncode == 1
    err = failed.stderr.decode()
    assert "before-failing" in err
    assert "RUN at line 2" in err and "returned a non-zero code: 3" in err
    assert box.out("ps", "-aq") == ""
    assert box("system", "check").returncode == 0


def test_check_reports_diagnostics_without_building(box: DockyardRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox  # the base\nRUN true\n")
    checked = box("build", "--check", str(tmp_path), check=False)
    assert checked.returncode == 1
    assert "Dockerfile:1:" in checked.stderr.decode()
    assert "comments must stand on their own line" in checked.stderr.decode()


def test_excluded_copy_source_names_the_pattern(box: DockyardRunner, ctx: Path) -> None:
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY files/secret.key /k\n")
    failed = box("build", str(ctx), check=False)
    assert failed.returncode == 1
    assert "excluded by .dockerignore (pattern 'files/*.key')" in failed.stderr.decode()


def test_image_prune_keeps_the_build_cache(box: DockyardRunner, ctx: Path) -> None:
    box("build", "-t", "app", str(ctx))
    box("image", "prune", "-f")
    again = _steps(box("build", "-t", "app", str(ctx)).stderr.decode())
    assert all(cached for text, cached in again if not text.startswith("FROM")), again


def test_context_from_stdin(box: DockyardRunner, ctx: Path) -> None:
    import subprocess

    tar = subprocess.run(["tar", "-C", str(ctx), "-c", "."], capture_output=True, check=True)
    box("build", "-t", "stdin-ctx", "-", input=tar.stdout)
    assert box.out("run", "--rm", "stdin-ctx").split()[0] == "5"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--platform", "linux/s390x"), "only this machine's platform"),
        (("--secret", "id=x,src=/no/such/secret"), "secret x: cannot read /no/such/secret"),
    ],
)
def test_unsupported_flags_are_refused(
    box: DockyardRunner, ctx: Path, flags: tuple[str, ...], message: str
) -> None:
    refused = box("build", *flags, str(ctx), check=False)
    assert refused.returncode == 1
    assert message in refused.stderr.decode()


def test_tty_progress_shows_every_step_with_its_state(box: DockyardRunner, ctx: Path) -> None:
    box("build", "-t", "app", str(ctx))
    shown = box("build", "--progress", "tty", "-t", "app", str(ctx)).stderr.decode()
    lines = [ln for ln in shown.splitlines() if ln.startswith("[")]
    assert len(lines) == 8
    assert all(ln.rstrip().endswith("CACHED") for ln in lines[1:])


def test_no_cache_filter_rebuilds_only_the_named_stage(box: DockyardRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox AS deps\nRUN echo deps > /deps\n"
        "FROM busybox AS app\nCOPY --from=deps /deps /deps\nRUN echo app > /app\n"
    )
    box("build", "-t", "filtered", str(tmp_path))
    steps = _steps(box("build", "--no-cache-filter", "app", str(tmp_path)).stderr.decode())
    assert steps[1] == ("RUN echo deps > /deps", True)
    assert steps[3:] == [("COPY --from=deps /deps /deps", False), ("RUN echo app > /app", False)]


def test_copy_to_dot_copies_into_the_workdir(box: DockyardRunner, tmp_path: Path) -> None:
    """``COPY hello.txt .`` (and ``./``, ``sub/.``, ``..``) name directories, as with Docker:
    the README tour's Dockerfile failed with "only a directory can stand for the destination"."""
    ctx = tmp_path / "dot"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hi\n")
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nWORKDIR /app/sub\nCOPY hello.txt .\nCOPY hello.txt ..\n"
        'COPY hello.txt /opt/.\nCMD ["cat", "/app/sub/hello.txt", "/app/hello.txt", '
        '"/opt/hello.txt"]\n'
    )
    box("build", "-t", "dot", str(ctx))
    assert box.out("run", "--rm", "dot") == "hi\nhi\nhi\n"


def test_copy_a_directory_without_a_slash_and_onto_scratch(
    box: DockyardRunner, tmp_path: Path
) -> None:
    """``COPY . /app`` puts the context in /app (it copied into / when /app had no trailing
    slash), and ``FROM scratch`` + ``COPY --from`` builds (it was refused): the examples'
    Dockerfiles."""
    ctx = tmp_path / "dirs"
    (ctx / "src").mkdir(parents=True)
    (ctx / "src" / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text(
        "FROM busybox AS build\nCOPY . /app\nRUN cat /app/src/a.txt > /out.txt\n"
        "FROM scratch\nCOPY --from=build /bin/busybox /bin/busybox\n"
        "COPY --from=build /out.txt /out.txt\nCOPY src /data\n"
        'CMD ["/bin/busybox", "cat", "/out.txt", "/data/a.txt"]\n'
    )
    box("build", "-t", "dirs", str(ctx))
    assert box.out("run", "--rm", "dirs") == "a\na\n"
