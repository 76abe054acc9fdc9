"""The stage graph and ARG scoping: nodes -> BuildPlan.

Nodes are built from one-line instructions by a small splitter here (no continuations, no
heredocs), so these tests do not depend on the parser; the heredoc and end-to-end cases at the
end go through it.
"""

from __future__ import annotations

import json

import pytest

from dockyard.build.dockerfile.instructions import (
    Add,
    Arg,
    ArgDecl,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    KeyValue,
    Label,
    MountType,
    Onbuild,
    Run,
    SourceContent,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from dockyard.build.dockerfile.nodes import DockerfileError, Node, Position
from dockyard.build.dockerfile.parser import parse
from dockyard.build.dockerfile.stages import BuildPlan, ImageInfo, Source, Stage, plan
from dockyard.errors import NotFound
from dockyard.oci.platform import Platform

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64", "v8")


def nodes(*lines: str) -> list[Node]:
    """One node per line: keyword, leading ``--flags``, the rest; JSON arrays as exec form."""
    out = []
    for number, line in enumerate(lines, 1):
        keyword, _, rest = line.partition(" ")
        flags = []
        rest = rest.strip()
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            flags.append(flag)
            rest = rest.strip()
        exec_form = None
        if rest.startswith("["):
            value = json.loads(rest)
            exec_form = tuple(value)
        out.append(
            Node(
                keyword=keyword.upper(),
                flags=tuple(flags),
                args=rest,
                json=exec_form,
                heredocs=(),
                position=Position(line=number, column=1),
                source=line,
            )
        )
    return out


def build(*lines: str, **options: object) -> BuildPlan:
    options.setdefault("platform", AMD64)
    options.setdefault("build_platform", AMD64)
    return plan(nodes(*lines), **options)  # type: ignore[arg-type]


def instructions(stage: Stage, kind: type) -> list[Instruction]:
    return [s.instruction for s in stage.steps if isinstance(s.instruction, kind)]


def workdirs(result: BuildPlan) -> list[str]:
    return [w.path for w in instructions(result.target, Workdir)]  # type: ignore[attr-defined]


# --- stages and their graph -------------------------------------------------------------


def test_stages_names_and_dependencies() -> None:
    result = build(
        "FROM alpine AS Base",
        "RUN a",
        "FROM base",
        "FROM scratch AS out",
        "COPY --from=1 /a /b",
        "COPY --from=BASE /c /d",
        "COPY --from=busybox:1.36 /bin/sh /sh",
    )
    assert result.stage_names == ("base", "", "out")
    assert [s.index for s in result.stages] == [0, 1, 2]
    base, child, out = result.stages
    assert base.base == Source(name="alpine", image="alpine")
    assert child.base == Source(name="base", stage=0)
    assert child.dependencies == (0,)
    assert out.base == Source(name="scratch", image="scratch")
    assert out.dependencies == (0, 1)
    assert [step.sources for step in out.steps] == [
        (Source(name="1", stage=1),),
        (Source(name="BASE", stage=0),),
        (Source(name="busybox:1.36", image="busybox:1.36"),),
    ]
    assert result.target is out


@pytest.mark.parametrize(
    ("target", "indexes"),
    [(None, [2]), ("b", [0, 1]), ("B", [0, 1]), ("a", [0]), ("c", [2])],
)
def test_target_selects_the_stages_it_needs(target: str | None, indexes: list[int]) -> None:
    result = build(
        "FROM alpine AS a",
        "FROM alpine AS b",
        "COPY --from=a / /",
        "FROM alpine AS c",
        target=target,
    )
    assert [s.index for s in result.stages] == indexes
    assert result.target.index == indexes[-1]


def test_unknown_target_lists_the_stages() -> None:
    with pytest.raises(NotFound, match="target stage 'buld' could not be found") as info:
        build("FROM alpine AS build", "FROM alpine AS test", target="buld")
    assert info.value.hint is not None
    assert "did you mean 'build'?" in info.value.hint
    assert "the stages are: build, test" in info.value.hint


def test_unbuilt_stages_are_not_checked() -> None:
    # Stage 1 copies from a later stage, an error only when stage 1 is built (as BuildKit).
    lines = ("FROM alpine AS a", "FROM alpine AS b", "COPY --from=c / /", "FROM alpine AS c")
    assert [s.index for s in build(*lines, target="a").stages] == [0]
    with pytest.raises(DockerfileError, match="needs to be defined before the current stage"):
        build(*lines, target="b")


@pytest.mark.parametrize(
    ("lines", "message", "line"),
    [
        (("FROM a AS x", "FROM b AS X"), "duplicate stage name 'x' (first on line 1)", 2),
        (("RUN make", "FROM a"), "RUN before the first FROM", 1),
        (("ARG A=1",), "the Dockerfile has no FROM", 1),
        (("FROM a AS x", "COPY --from=x / /"), "cannot copy from stage 'x'", 2),
        (("FROM a", "COPY --from=3 / /"), "invalid stage index 3", 2),
        (("FROM a", "ARG S=x", "COPY --from=$S / /"), "variable expansion is not supported", 3),
        (("FROM a", "RUN --mount=from=0,target=/x make"), "cannot copy from stage '0'", 2),
        (("ARG B=", "FROM $B"), "base name ($B) should not be blank", 2),
        (("FROM --platform=$NOPE a",), "empty platform value from expression $NOPE", 1),
        (("FROM --platform=linux/a/b/c a",), "FROM: invalid platform", 1),
        (("FROM a", "WORKDIR ${X:?is required}"), "X: is required", 2),
        (("FROM a", "USER ${X"), "USER: failed to process", 2),
    ],
)
def test_plan_errors(lines: tuple[str, ...], message: str, line: int) -> None:
    with pytest.raises(DockerfileError) as info:
        build(*lines)
    assert message in info.value.diagnostic.message
    assert info.value.diagnostic.position.line == line


def test_no_nodes() -> None:
    with pytest.raises(DockerfileError, match="no stage to build"):
        plan([])


def test_from_a_later_stage_name_is_an_image() -> None:
    result = build("FROM later AS first", "FROM alpine AS later", target="first")
    assert result.target.base == Source(name="later", image="later")


# --- ARG scoping ------------------------------------------------------------------------

SCOPING = [
    # global ARGs reach FROM only ...
    (("ARG V=1", "FROM alpine:$V", "WORKDIR /$V"), {}, ["/"]),
    # ... unless redeclared in the stage, with the global (or --build-arg) value
    (("ARG V=1", "FROM a", "ARG V", "WORKDIR /$V"), {}, ["/1"]),
    (("ARG V=1", "FROM a", "ARG V", "WORKDIR /$V"), {"V": "2"}, ["/2"]),
    (("ARG V=1", "FROM a", "ARG V=3", "WORKDIR /$V"), {}, ["/3"]),
    # --build-arg overrides a stage default
    (("FROM a", "ARG V=1", "WORKDIR /$V"), {"V": "x"}, ["/x"]),
    # visible from the declaration on
    (("FROM a", "WORKDIR /$V", "ARG V=1", "WORKDIR /$V"), {}, ["/", "/1"]),
    # an ARG without value and without --build-arg has none
    (("FROM a", "ARG V", "WORKDIR /${V:-unset}"), {}, ["/unset"]),
    (("FROM a", "ARG V", "WORKDIR /${V-unset}"), {"V": ""}, ["/"]),
    # inherited by stages built FROM the stage, not by siblings
    (("FROM a AS one", "ARG V=1", "FROM one", "WORKDIR /$V"), {}, ["/1"]),
    (("FROM a AS one", "ARG V=1", "FROM a", "COPY --from=one / /", "WORKDIR /$V"), {}, ["/"]),
    (("FROM a AS one", "ENV E=e", "FROM one", "WORKDIR /$E"), {}, ["/e"]),
    # ENV: visible to later instructions; one ENV sees the values from before it
    (("FROM a", "ENV A=1", "ENV A=2 B=$A", "WORKDIR /$A/$B"), {}, ["/2/1"]),
    # ARG and ENV of the same name: the later one wins
    (("FROM a", "ARG X=arg", "ENV X=env", "WORKDIR /$X"), {"X": "cli"}, ["/env"]),
    (("FROM a", "ENV X=env", "ARG X=arg", "WORKDIR /$X"), {}, ["/arg"]),
    (("FROM a", "ENV X=env", "ARG X", "WORKDIR /$X"), {}, ["/env"]),
    # defaults expand the ARGs and ENVs before them
    (("FROM a", "ARG A=1", "ENV E=e", "ARG B=${A}2$E", "WORKDIR /$B"), {}, ["/12e"]),
    (("ARG A=x", "ARG B=$A-y", "FROM a", "ARG B", "WORKDIR /$B"), {"A": "z"}, ["/z-y"]),
    # quotes in ARG and ENV values are syntax
    (("FROM a", 'ARG A="a b"', "ENV B='$A'", "WORKDIR /$A/$B"), {}, ["/a b/$A"]),
]


@pytest.mark.parametrize(
    ("lines", "build_args", "expected"), SCOPING, ids=[" | ".join(c[0]) for c in SCOPING]
)
def test_arg_scoping(
    lines: tuple[str, ...], build_args: dict[str, str], expected: list[str]
) -> None:
    assert workdirs(build(*lines, build_args=build_args)) == expected


def test_global_args_in_from() -> None:
    result = build(
        "ARG REPO=docker.io/library",
        "ARG TAG=3",
        "FROM ${REPO}/alpine:$TAG AS x",
        build_args={"TAG": "4"},
    )
    assert result.target.from_.image == "docker.io/library/alpine:4"
    assert result.target.used_args == (("REPO", "docker.io/library"), ("TAG", "4"))
    assert dict(result.global_args)["TAG"] == "4"


def test_platform_args() -> None:
    result = build(
        "FROM --platform=$BUILDPLATFORM golang AS build",
        "ARG TARGETOS TARGETARCH",
        "WORKDIR /out/$TARGETOS/$TARGETARCH/$TARGETVARIANT/$BUILDARCH",
        "FROM img:$TARGETARCH",
        "COPY --from=build /out /",
        platform=ARM64,
        build_platform=AMD64,
    )
    build_stage, final = result.stages
    assert build_stage.platform == AMD64
    assert build_stage.from_.platform == "linux/amd64"
    assert workdirs(result) == []
    assert [w.path for w in instructions(build_stage, Workdir)] == ["/out/linux/arm64//"]  # type: ignore[attr-defined]
    assert final.from_.image == "img:arm64"
    assert final.platform is None
    assert dict(result.global_args)["TARGETPLATFORM"] == "linux/arm64/v8"
    assert (result.target_platform, result.build_platform) == (ARM64, AMD64)


def test_platform_args_can_be_overridden() -> None:
    result = build("FROM img:$TARGETARCH", build_args={"TARGETARCH": "riscv64"})
    assert result.target.from_.image == "img:riscv64"
    assert result.warnings == ()


def test_platform_defaults_to_this_machine() -> None:
    result = plan(nodes("FROM img:$TARGETOS"))
    assert result.target_platform == result.build_platform
    assert result.target.from_.image == f"img:{result.target_platform.os}"


# --- what each step records ------------------------------------------------------------


def test_used_args() -> None:
    result = build(
        "ARG G=g",
        "FROM a",
        "ARG A=1 B=2",
        "ENV E=$A",
        "WORKDIR /$B",
        "RUN make",
        "ENV A=override",
        "RUN make $G",
        "LABEL x=$E",
    )
    steps = result.target.steps
    arg, env, workdir, run1, _, run2, label = steps
    assert arg.instruction.args == (ArgDecl(name="A", default="1"), ArgDecl(name="B", default="2"))  # type: ignore[union-attr]
    assert arg.used_args == (("A", "1"), ("B", "2"))
    assert env.used_args == (("A", "1"),)
    assert workdir.used_args == (("B", "2"),)
    assert run1.used_args == (("A", "1"), ("B", "2"))
    assert run1.build_env == (("A", "1"), ("B", "2"))
    assert run2.used_args == (("A", "override"), ("B", "2"))  # G is not in scope
    assert run2.build_env == (("B", "2"),)  # A is an ENV now: the image has it
    assert label.used_args == ()  # E is an ENV, not a build arg


def test_proxy_args_reach_run_without_declaration() -> None:
    proxies = {"HTTP_PROXY": "http://proxy:3128", "no_proxy": "localhost"}
    result = build("FROM a", "RUN apt-get update", "ARG no_proxy", "RUN x", build_args=proxies)
    first, _, second = result.target.steps
    assert first.used_args == ()
    assert first.build_env == tuple(proxies.items())
    assert second.used_args == (("no_proxy", "localhost"),)
    assert second.build_env == (("no_proxy", "localhost"), ("HTTP_PROXY", "http://proxy:3128"))
    assert result.warnings == ()


def test_mount_options_expand_and_from_names_a_source() -> None:
    result = build(
        "FROM a AS deps",
        "FROM a",
        "ARG ID=go UID=1000",
        "RUN --mount=type=cache,target=/c,id=$ID,uid=$UID --mount=from=deps,target=/d make",
    )
    run = result.target.steps[-1]
    assert isinstance(run.instruction, Run)
    cache, bind = run.instruction.mounts
    assert (cache.type, cache.id, cache.uid) == (MountType.CACHE, "go", 1000)
    assert (bind.type, bind.from_, bind.readonly) == (MountType.BIND, "deps", True)
    assert run.sources == (Source(name="deps", stage=0),)
    assert result.target.dependencies == (0,)
    assert run.used_args == (("ID", "go"), ("UID", "1000"))


def test_expanded_and_literal_instructions() -> None:
    args = ("ARG P=80", "ARG U=app", "ARG S=SIGINT", "ARG D=/data", 'ARG PORTS="81 82/udp"')
    result = build(
        "FROM a",
        *args,
        "EXPOSE $P $PORTS",
        "LABEL port=$P $U=x",
        "VOLUME $D /logs",
        "USER $U:$U",
        "STOPSIGNAL $S",
        "COPY --chown=$U --chmod=$P --exclude=$D/* src/$U ${D}/",
        "ADD --checksum=sha256:$P https://x/$U.tgz $D",
        "RUN echo $U",
        "CMD echo $U",
        'ENTRYPOINT ["echo", "$U"]',
        "HEALTHCHECK CMD curl $U",
        "ONBUILD RUN echo $U",
    )
    got = {
        type(s.instruction): s.instruction
        for s in result.target.steps
        if not isinstance(s.instruction, Arg)
    }
    assert got[Expose].ports == ("80", "81", "82/udp")  # type: ignore[attr-defined]
    assert got[Label].labels == (KeyValue(key="port", value="80"), KeyValue(key="app", value="x"))  # type: ignore[attr-defined]
    assert got[Volume].paths == ("/data", "/logs")  # type: ignore[attr-defined]
    assert got[User].user == "app:app"  # type: ignore[attr-defined]
    assert got[Stopsignal].signal == "SIGINT"  # type: ignore[attr-defined]
    copy = got[Copy]
    assert isinstance(copy, Copy)
    assert (copy.chown, copy.chmod, copy.exclude, copy.sources, copy.dest) == (
        "app",
        "80",
        ("/data/*",),
        ("src/app",),
        "/data/",
    )
    add = got[Add]
    assert isinstance(add, Add)
    assert (add.checksum, add.sources, add.dest) == ("sha256:80", ("https://x/app.tgz",), "/data")
    # the shell expands these, at run time; ONBUILD waits for its child build
    assert got[Run].command.argv == ("echo $U",)  # type: ignore[attr-defined]
    assert got[Cmd].command.argv == ("echo $U",)  # type: ignore[attr-defined]
    assert got[Entrypoint].command.argv == ("echo", "$U")  # type: ignore[attr-defined]
    assert got[Healthcheck].health.test == ("CMD-SHELL", "curl $U")  # type: ignore[attr-defined]
    onbuild = got[Onbuild]
    assert isinstance(onbuild, Onbuild) and onbuild.expression == "RUN echo $U"


def test_onbuild_triggers_of_a_base_stage_run_first() -> None:
    result = build(
        "FROM a AS tools",
        "FROM a AS base",
        "ONBUILD COPY --from=tools /t /t",
        "ONBUILD RUN echo $V",
        "FROM base",
        "ARG V=1",
        "RUN make",
    )
    steps = result.target.steps
    assert [(type(s.instruction), s.onbuild) for s in steps] == [
        (Copy, True),
        (Run, True),
        (Arg, False),
        (Run, False),
    ]
    assert steps[0].sources == (Source(name="tools", stage=0),)
    assert result.target.dependencies == (0, 1)
    assert [s.index for s in result.stages] == [0, 1, 2]


def test_resolve_image_gives_env_and_triggers() -> None:
    calls: list[tuple[str, Platform]] = []

    def resolve(ref: str, platform: Platform) -> ImageInfo:
        calls.append((ref, platform))
        return ImageInfo(
            env=("HOME=/root", "PATH=/bin", "EMPTY"), onbuild=("COPY --from=src /a /b", "RUN x")
        )

    result = build(
        "FROM scratch AS src",
        "FROM --platform=linux/arm64 base:1",
        "WORKDIR $HOME/app",
        "ENV PATH=/opt:$PATH",
        "FROM src",
        resolve_image=resolve,
        target=None,
    )
    assert calls == []  # the last stage is built from src (scratch), nothing to resolve
    result = build(
        "FROM scratch AS src",
        "FROM --platform=linux/arm64 base:1",
        "WORKDIR $HOME/app",
        "ENV PATH=/opt:$PATH${EMPTY-x}",
        resolve_image=resolve,
    )
    assert calls == [("base:1", ARM64)]
    steps = result.target.steps
    assert [(type(s.instruction), s.onbuild) for s in steps] == [
        (Copy, True),
        (Run, True),
        (Workdir, False),
        (Env, False),
    ]
    assert steps[0].sources == (Source(name="src", stage=0),)
    assert result.target.dependencies == (0,)
    assert steps[2].instruction.path == "/root/app"  # type: ignore[union-attr]
    assert steps[3].instruction.pairs == (KeyValue(key="PATH", value="/opt:/bin"),)  # type: ignore[union-attr]


# --- warnings ------------------------------------------------------------------------------


def test_warnings() -> None:
    result = build(
        "ARG DECLARED",
        "FROM img:$TAG$DECLARED$TARGETOS AS b",
        "MAINTAINER Jane",
        "ENV A 1",
        "LABEL k v",
        "FROM a AS unused",
        "ARG ONLY_HERE",
        "FROM b",
        "ARG USED",
        build_args={"USED": "1", "ONLY_HERE": "2", "STRAY": "3", "HTTP_PROXY": "p"},
    )
    rendered = [w.render("Dockerfile") for w in result.warnings]
    assert all(w.severity == "warning" for w in result.warnings)
    assert rendered == [
        "Dockerfile:2:1: warning: FROM argument 'TAG' is not declared\n"
        "  FROM img:$TAG$DECLARED$TARGETOS AS b\n"
        "hint: declare it with ARG before the first FROM",
        "Dockerfile:3:1: warning: MAINTAINER is deprecated\n"
        "  MAINTAINER Jane\n"
        'hint: use LABEL org.opencontainers.image.authors="Jane"',
        'Dockerfile:4:1: warning: ENV uses the legacy "key value" form\n'
        "  ENV A 1\n"
        "hint: write ENV <key>=<value>",
        'Dockerfile:5:1: warning: LABEL uses the legacy "key value" form\n'
        "  LABEL k v\n"
        "hint: write LABEL <key>=<value>",
        "Dockerfile:1:1: warning: One or more build-args [ONLY_HERE STRAY] were not consumed\n"
        "hint: declare them with ARG in a stage that is built, or drop the --build-arg",
    ]


def test_undeclared_from_arg_suggests_a_declared_one() -> None:
    result = build("ARG VERSION=1", "FROM img:$VERSON")
    assert result.warnings[0].hint == "did you mean 'VERSION'?"


# --- end to end through the parser ---------------------------------------------------------


def test_from_dockerfile_text() -> None:
    text = """\
ARG GO=1.22
FROM golang:${GO} AS build
ARG NAME=app
ENV CGO_ENABLED=0
WORKDIR /src/$NAME
COPY <<EOF main.go
package main // $NAME "quoted"
EOF
COPY <<"EOF" /literal
$NAME
EOF
RUN --mount=type=cache,target=/root/.cache/go-build \\
    go build -o /out/$NAME .

FROM scratch
COPY --from=build /out/ /
ENTRYPOINT ["/app"]
"""
    parsed = parse(text)
    result = plan(parsed.nodes, build_args={"NAME": "svc"}, escape=parsed.directives.escape)
    build_stage, final = result.stages
    assert build_stage.name == "build" and build_stage.from_.image == "golang:1.22"
    steps = {type(s.instruction): s for s in build_stage.steps}
    assert steps[Workdir].instruction.path == "/src/svc"  # type: ignore[union-attr]
    copies = [s.instruction for s in build_stage.steps if isinstance(s.instruction, Copy)]
    assert copies[0].contents == (
        SourceContent(path="EOF", data='package main // svc "quoted"\n', expand=True),
    )  # type: ignore[union-attr]
    assert copies[1].contents == (SourceContent(path="EOF", data="$NAME\n", expand=False),)  # type: ignore[union-attr]
    run = steps[Run]
    assert run.used_args == (("NAME", "svc"),)
    assert run.instruction.node.position.line == 12
    assert final.dependencies == (0,)
    assert final.steps[0].sources == (Source(name="build", stage=0),)
    assert result.warnings == ()
