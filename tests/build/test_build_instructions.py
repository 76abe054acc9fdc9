"""Typed instructions: Node -> Instruction (BuildKit's instructions/parse.go semantics).

Nodes are built directly here so that these tests do not depend on the parser; a few cases at
the end go through the parser from Dockerfile text.
"""

from __future__ import annotations

import json

import pytest

from dockyard._util.units import parse_go_duration as go_duration
from dockyard.build.dockerfile.instruction_parse import parse_instruction, words
from dockyard.build.dockerfile.instructions import (
    Add,
    Arg,
    ArgDecl,
    Cmd,
    CommandLine,
    Copy,
    DockerfileUnsupported,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Mount,
    MountType,
    NetworkMode,
    Onbuild,
    Run,
    Sharing,
    Shell,
    SourceContent,
    Stopsignal,
    User,
    Volume,
    Workdir,
    parse_mount,
)
from dockyard.build.dockerfile.nodes import DockerfileError, Heredoc, Node, Position
from dockyard.build.dockerfile.parser import parse
from dockyard.build.dockerfile.shellwords import expand
from dockyard.oci.containerconfig import HealthConfig

SECOND = 1_000_000_000


def node(
    keyword: str,
    args: str = "",
    *flags: str,
    heredocs: tuple[Heredoc, ...] = (),
    line: int = 3,
) -> Node:
    """A node as the parser makes it; ``json`` is set when ``args`` is a JSON string array."""
    exec_form = None
    if args.startswith("["):
        try:
            value = json.loads(args)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            exec_form = tuple(value)
    source = " ".join([keyword, *flags, args]).strip()
    return Node(
        keyword=keyword,
        flags=tuple(flags),
        args=args,
        json=exec_form,
        heredocs=heredocs,
        position=Position(line=line, column=1),
        source=source,
    )


def parsed(keyword: str, args: str = "", *flags: str, **kw: object) -> Instruction:
    return parse_instruction(node(keyword, args, *flags, **kw))  # type: ignore[arg-type]


def fields(instruction: Instruction) -> dict[str, object]:
    """The instruction's fields but its node, for comparisons."""
    names = type(instruction).__dataclass_fields__
    return {name: getattr(instruction, name) for name in names if name != "node"}


# --- one case per instruction form ------------------------------------------------------

CASES: list[tuple[Node, Instruction]] = []


def case(n: Node, expected_type: type, **expected: object) -> None:
    CASES.append((n, expected_type(node=n, **expected)))


case(node("FROM", "alpine:3.19"), From, image="alpine:3.19")
case(node("FROM", "golang AS Build"), From, image="golang", name="build")
case(node("FROM", "x as b-1.c_d"), From, image="x", name="b-1.c_d")
case(
    node("FROM", "$BASE AS b", "--platform=$BUILDPLATFORM"),
    From,
    image="$BASE",
    name="b",
    platform="$BUILDPLATFORM",
)
case(node("RUN", "make  all"), Run, command=CommandLine(argv=("make  all",), prepend_shell=True))
case(
    node("RUN", '["make", "all"]'),
    Run,
    command=CommandLine(argv=("make", "all"), prepend_shell=False),
)
case(
    node("RUN", "echo", "--network=none"),
    Run,
    command=CommandLine(argv=("echo",), prepend_shell=True),
    network=NetworkMode.NONE,
)
case(node("CMD", '["a", "b c"]'), Cmd, command=CommandLine(argv=("a", "b c"), prepend_shell=False))
case(node("CMD", "echo $HOME"), Cmd, command=CommandLine(argv=("echo $HOME",), prepend_shell=True))
case(node("CMD", "[]"), Cmd, command=CommandLine(argv=(), prepend_shell=False))
case(node("ENTRYPOINT", "[]"), Entrypoint, command=CommandLine(argv=(), prepend_shell=False))
case(
    node("ENTRYPOINT", "/bin/x --flag"),
    Entrypoint,
    command=CommandLine(argv=("/bin/x --flag",), prepend_shell=True),
)
case(
    node("LABEL", 'a=1 "b c"="d e" f=g\\ h'),
    Label,
    labels=(
        KeyValue(key="a", value="1"),
        KeyValue(key='"b c"', value='"d e"'),
        KeyValue(key="f", value="g\\ h"),
    ),
)
case(
    node("LABEL", "key some value"),
    Label,
    labels=(KeyValue(key="key", value="some value"),),
    legacy=True,
)
case(
    node("ENV", "A=1 B=$A"),
    Env,
    pairs=(KeyValue(key="A", value="1"), KeyValue(key="B", value="$A")),
)
case(
    node("ENV", "PATH /x:$PATH"), Env, pairs=(KeyValue(key="PATH", value="/x:$PATH"),), legacy=True
)
case(node("ENV", 'A=""'), Env, pairs=(KeyValue(key="A", value='""'),))
case(node("EXPOSE", "80  443/tcp $P"), Expose, ports=("80", "443/tcp", "$P"))
case(node("COPY", "a b /dst/"), Copy, sources=("a", "b"), dest="/dst/")
case(node("COPY", '["a b", "/d e"]'), Copy, sources=("a b",), dest="/d e")
case(
    node("COPY", "x /y", "--from=build", "--chown=1:2", "--chmod=0644", "--link", "--parents"),
    Copy,
    sources=("x",),
    dest="/y",
    from_="build",
    chown="1:2",
    chmod="0644",
    link=True,
    parents=True,
)
case(
    node("COPY", ". /src", "--exclude=*.pyc", "--exclude=.git", "--link=false"),
    Copy,
    sources=(".",),
    dest="/src",
    exclude=("*.pyc", ".git"),
)
case(
    node("ADD", "https://x/y.tgz /opt/", "--checksum=sha256:ab", "--chown=app", "--link=TRUE"),
    Add,
    sources=("https://x/y.tgz",),
    dest="/opt/",
    checksum="sha256:ab",
    chown="app",
    link=True,
)
case(node("VOLUME", "/a  /b"), Volume, paths=("/a", "/b"))
case(node("VOLUME", '["/a", " /b "]'), Volume, paths=("/a", "/b"))
case(node("USER", "app:staff"), User, user="app:staff")
case(node("WORKDIR", "/my dir"), Workdir, path="/my dir")
case(node("STOPSIGNAL", "SIGTERM"), Stopsignal, signal="SIGTERM")
case(node("MAINTAINER", "Jane <j@x>"), Maintainer, maintainer="Jane <j@x>")
case(
    node("ARG", 'A B=2 C="x y" D='),
    Arg,
    args=(
        ArgDecl(name="A"),
        ArgDecl(name="B", default="2"),
        ArgDecl(name="C", default='"x y"'),
        ArgDecl(name="D", default=""),
    ),
)
case(node("SHELL", '["/bin/bash", "-c"]'), Shell, shell=("/bin/bash", "-c"))
case(node("HEALTHCHECK", "NONE"), Healthcheck, health=HealthConfig(test=("NONE",)))
case(
    node("HEALTHCHECK", "CMD curl -f http://x/ || exit 1"),
    Healthcheck,
    health=HealthConfig(test=("CMD-SHELL", "curl -f http://x/ || exit 1")),
)
case(
    node(
        "HEALTHCHECK",
        'cmd ["curl", "-f", "x"]',
        "--interval=1m30s",
        "--timeout=1.5s",
        "--start-period=0",
        "--start-interval=500ms",
        "--retries=3",
    ),
    Healthcheck,
    health=HealthConfig(
        test=("CMD", "curl", "-f", "x"),
        interval=90 * SECOND,
        timeout=1_500_000_000,
        start_interval=500_000_000,
        retries=3,
    ),
)


@pytest.mark.parametrize(("n", "expected"), CASES, ids=[n.source for n, _ in CASES])
def test_parse_instruction(n: Node, expected: Instruction) -> None:
    got = parse_instruction(n)
    assert type(got) is type(expected)
    assert fields(got) == fields(expected)
    assert got.node is n


# --- errors: each names the instruction, and points at the node ---------------------------

ERRORS: list[tuple[Node, str]] = [
    (node("FROM", "a b"), "FROM requires either one or three arguments"),
    (node("FROM", "a AS 1st"), "invalid name for build stage: '1st'"),
    (node("FROM", "a AS b", "--plat=x"), "FROM: unknown flag --plat"),
    (node("RUN", ""), "RUN requires at least one argument"),
    (node("RUN", "[]"), "RUN requires at least one argument"),
    (node("RUN", "x", "--network=bridge"), "unsupported network mode 'bridge'"),
    (node("RUN", "x", "--network"), "missing a value on flag --network"),
    (
        node("RUN", "x", "--mount=type=cache,target=/a", "--network=none", "--network=host"),
        "duplicate flag",
    ),
    (node("RUN", "x", "-mount=type=cache"), "should start with --"),
    (node("CMD", ""), "CMD requires at least one argument"),
    (node("ENV", ""), "ENV requires at least one argument"),
    (node("ENV", "A"), "ENV must have two arguments"),
    (node("ENV", "A=1 B"), "can't find = in 'B'"),
    (node("ENV", "=1"), "ENV names can not be blank"),
    (node("ENV", "A=1", "--x=1"), "ENV: unknown flag --x"),
    (node("LABEL", "a=1 b"), "LABEL: syntax error"),
    (node("EXPOSE", ""), "EXPOSE requires at least one argument"),
    (node("COPY", "a"), "COPY requires at least two arguments"),
    (node("COPY", "a b", "--from=x", "--from=y"), "duplicate flag specified: --from"),
    (node("COPY", "a b", "--link=yes"), "expecting boolean value for flag --link"),
    (node("COPY", "a b", "--from"), "missing a value on flag --from"),
    (node("COPY", "a b", "--checksum=x"), "COPY: unknown flag --checksum"),
    (node("ADD", "a b", "--from=x"), "ADD: unknown flag --from"),
    (node("VOLUME", '["/a", ""]'), "VOLUME specified can not be an empty string"),
    (node("VOLUME", ""), "VOLUME requires at least one argument"),
    (node("USER", ""), "USER requires exactly one argument"),
    (node("WORKDIR", ""), "WORKDIR requires exactly one argument"),
    (node("STOPSIGNAL", ""), "STOPSIGNAL requires exactly one argument"),
    (node("ARG", ""), "ARG requires at least one argument"),
    (node("ARG", "=x"), "ARG names can not be blank"),
    (node("SHELL", "/bin/sh -c"), "SHELL requires the arguments to be in JSON form"),
    (node("SHELL", "[]"), "SHELL requires at least one argument"),
    (node("ONBUILD", ""), "ONBUILD requires at least one argument"),
    (node("ONBUILD", "ONBUILD RUN x"), "chaining ONBUILD"),
    (node("ONBUILD", "from alpine"), "FROM isn't allowed as an ONBUILD trigger"),
    (node("ONBUILD", "MAINTAINER me"), "MAINTAINER isn't allowed as an ONBUILD trigger"),
    (node("ONBUILD", "COPY a"), "COPY requires at least two arguments"),
    (node("HEALTHCHECK", ""), "HEALTHCHECK requires at least one argument"),
    (node("HEALTHCHECK", "NONE x"), "HEALTHCHECK NONE takes no arguments"),
    (node("HEALTHCHECK", "RUN x"), "unknown type 'RUN' in HEALTHCHECK"),
    (node("HEALTHCHECK", "CMD"), "missing command after HEALTHCHECK CMD"),
    (node("HEALTHCHECK", "CMD x", "--interval=5"), "invalid duration '5' for --interval"),
    (node("HEALTHCHECK", "CMD x", "--timeout=10us"), "--timeout cannot be less than 1ms"),
    (node("HEALTHCHECK", "CMD x", "--interval=-1s"), "--interval cannot be less than 1ms"),
    (node("HEALTHCHECK", "CMD x", "--retries=-1"), "--retries cannot be negative"),
    (node("HEALTHCHECK", "CMD x", "--retries=three"), "invalid --retries value"),
    (node("HEALTHCHECK", "CMD x", "--intervall=1s"), "HEALTHCHECK: unknown flag --intervall"),
    (node("RUNN", "make"), "unknown instruction: RUNN"),
]


@pytest.mark.parametrize(("n", "message"), ERRORS, ids=[n.source for n, _ in ERRORS])
def test_parse_errors(n: Node, message: str) -> None:
    with pytest.raises(DockerfileError) as info:
        parse_instruction(n)
    assert message in info.value.diagnostic.message
    assert info.value.diagnostic.position == n.position
    assert info.value.diagnostic.severity == "error"
    assert info.value.diagnostic.line == n.source
    assert str(info.value).startswith(f"Dockerfile:{n.position.line}:1: error: ")


@pytest.mark.parametrize(
    ("n", "hint"),
    [
        (node("COPY", "a b", "--fromm=x"), "did you mean --from?"),
        (node("COPY", "a b", "--fromm=x"), "COPY accepts --from, --chown, --chmod, --link"),
        (node("ENV", "A=1", "--x=1"), "ENV accepts no flags"),
        (node("RUNN", "make"), "did you mean RUN?"),
        (node("FROM", "a", "--platfrom=x"), "did you mean --platform?"),
    ],
)
def test_error_hints(n: Node, hint: str) -> None:
    with pytest.raises(DockerfileError) as info:
        parse_instruction(n)
    assert hint in info.value.diagnostic.hint


@pytest.mark.parametrize(
    ("n", "message"),
    [
        (node("RUN", "x", "--security=insecure"), "RUN --security"),
        (node("RUN", "x", "--device=nvidia.com/gpu=all"), "RUN --device"),
        (node("ADD", "https://x/r.git /src", "--keep-git-dir"), "ADD --keep-git-dir"),
        (node("RUN", "x", "--mount=type=ssh"), "type=ssh"),
    ],
)
def test_unsupported(n: Node, message: str) -> None:
    with pytest.raises(DockerfileUnsupported) as info:
        parse_instruction(n)
    assert message in info.value.diagnostic.message
    assert info.value.diagnostic.position == n.position


# --- RUN --mount ----------------------------------------------------------------------------

MOUNTS = [
    ("target=/src", Mount(target="/src", readonly=True)),
    ("type=bind,source=ctx,target=/src,rw", Mount(target="/src", source="ctx", readonly=False)),
    (
        "type=bind,from=build,src=/out,dst=/in,readwrite=true",
        Mount(target="/in", source="/out", from_="build"),
    ),
    (
        "type=cache,target=/root/.cache",
        Mount(type=MountType.CACHE, target="/root/.cache", id="/root/.cache"),
    ),
    (
        "type=cache,id=go,target=/go,sharing=locked,mode=0755,uid=1000,gid=1000,ro",
        Mount(
            type=MountType.CACHE,
            target="/go",
            id="go",
            sharing=Sharing.LOCKED,
            mode=0o755,
            uid=1000,
            gid=1000,
            readonly=True,
        ),
    ),
    (
        "type=tmpfs,target=/tmp,size=64m",
        Mount(type=MountType.TMPFS, target="/tmp", size=64 * 1024**2),
    ),
    (
        "type=secret,id=npmrc",
        Mount(type=MountType.SECRET, id="npmrc", target="/run/secrets/npmrc", readonly=True),
    ),
    (
        "type=secret,target=/root/.npmrc,required",
        Mount(
            type=MountType.SECRET, id=".npmrc", target="/root/.npmrc", required=True, readonly=True
        ),
    ),
    (
        "type=secret,src=aws,mode=0400",
        Mount(
            type=MountType.SECRET,
            source="aws",
            id="aws",
            target="/run/secrets/aws",
            mode=0o400,
            readonly=True,
        ),
    ),
]


@pytest.mark.parametrize(("spec", "expected"), MOUNTS, ids=[spec for spec, _ in MOUNTS])
def test_mounts(spec: str, expected: Mount) -> None:
    got = parsed("RUN", "make", f"--mount={spec}")
    assert isinstance(got, Run)
    assert got.mounts == (expected.__class__(**{**fields_of(expected), "spec": spec}),)


def fields_of(mount: Mount) -> dict[str, object]:
    return {name: getattr(mount, name) for name in Mount.__dataclass_fields__}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("type=bind,target=/a,uid=1", "uid not allowed for 'bind' type mounts"),
        ("type=tmpfs,target=/a,mode=0700", "mode not allowed"),
        ("type=bind,target=/a,sharing=locked", "invalid cache sharing set for bind mount"),
        ("type=cache,target=/a,sharing=forever", "unsupported sharing value 'forever'"),
        ("type=cache,target=/a,required", "unexpected key 'required'"),
        ("type=bind,target=/a,size=1g", "unexpected key 'size'"),
        ("type=cache,target=/a,uid=me", "invalid value me for uid"),
        ("type=cache,target=/a,mode=999", "invalid value 999 for mode"),
        ("type=bind,target=/a,ro=maybe", "invalid value for readonly: maybe"),
        ("type=bind,targte=/a", "unexpected key 'targte'"),
        ("type=volume,target=/a", "unsupported mount type 'volume'"),
        ("type=bind,target", "invalid field 'target': must be a key=value pair"),
        ("type=bind,from=$STAGE,target=/a", "'from' doesn't support variable expansion"),
        ("type=cache", "a cache mount needs a target"),
        ("type=secret,from=x,id=a", "secret mount should not have a from"),
        ("type=secret,source=a,id=b", "both source and id"),
        ("type=secret", "one of id, source or target is required"),
    ],
)
def test_mount_errors(spec: str, message: str) -> None:
    with pytest.raises(DockerfileError) as info:
        parsed("RUN", "make", f"--mount={spec}")
    assert message in info.value.diagnostic.message


def test_mount_hint_suggests_key() -> None:
    with pytest.raises(DockerfileError) as info:
        parsed("RUN", "make", "--mount=type=bind,targte=/a")
    assert "did you mean target?" in info.value.diagnostic.hint


def test_mount_with_variables_waits_for_expansion() -> None:
    spec = "type=cache,target=$DIR,id=$ID,uid=$UID"
    got = parsed("RUN", "make", f"--mount={spec}")
    assert isinstance(got, Run)
    assert got.mounts[0].spec == spec  # not validated yet: uid is unknown
    env = {"DIR": "/cache", "ID": "c1", "UID": "7"}
    expanded = parse_mount(spec, node=got.node, expand=lambda word: expand(word, env))
    assert (expanded.type, expanded.target, expanded.id, expanded.uid) == (
        MountType.CACHE,
        "/cache",
        "c1",
        7,
    )


# --- heredocs, ONBUILD ------------------------------------------------------------------

HEREDOC = Heredoc(name="EOF", content="echo hi\n", expand=True, chomp=False)
QUOTED = Heredoc(name="END", content="$X\n", expand=False, chomp=True)


def test_run_heredoc_is_carried() -> None:
    got = parsed("RUN", "<<EOF", heredocs=(HEREDOC,))
    assert isinstance(got, Run)
    assert got.heredocs == (HEREDOC,)
    assert got.command == CommandLine(argv=("<<EOF",), prepend_shell=True)


def test_run_exec_form_rejects_heredoc() -> None:
    with pytest.raises(DockerfileError, match="here-documents need the shell form"):
        parsed("RUN", '["<<EOF"]', heredocs=(HEREDOC,))


def test_copy_heredoc_sources() -> None:
    got = parsed("COPY", "<<EOF <<-'END' file /dst/", "--chmod=755", heredocs=(HEREDOC, QUOTED))
    assert isinstance(got, Copy)
    assert got.sources == ("file",)
    assert got.dest == "/dst/"
    assert got.contents == (
        SourceContent(path="EOF", data="echo hi\n", expand=True),
        SourceContent(path="END", data="$X\n", expand=False),
    )


def test_add_heredoc_destination_is_an_error() -> None:
    with pytest.raises(DockerfileError, match="cannot accept a heredoc as a destination"):
        parsed("ADD", "a <<EOF", heredocs=(HEREDOC,))


def test_onbuild_wraps_its_trigger() -> None:
    n = node("ONBUILD", "COPY --from=build --chown=app /a /b")
    got = parse_instruction(n)
    assert isinstance(got, Onbuild)
    assert got.expression == "COPY --from=build --chown=app /a /b"
    trigger = got.trigger
    assert isinstance(trigger, Copy)
    assert (trigger.from_, trigger.chown, trigger.sources, trigger.dest) == (
        "build",
        "app",
        ("/a",),
        "/b",
    )
    assert trigger.node.position == n.position


def test_onbuild_exec_form_and_heredoc() -> None:
    got = parsed("ONBUILD", 'CMD ["a", "b"]')
    assert isinstance(got, Onbuild)
    assert isinstance(got.trigger, Cmd)
    assert got.trigger.command == CommandLine(argv=("a", "b"), prepend_shell=False)
    got = parsed("ONBUILD", "RUN <<EOF", heredocs=(HEREDOC,))
    assert isinstance(got, Onbuild)
    assert isinstance(got.trigger, Run)
    assert got.trigger.heredocs == (HEREDOC,)


# --- helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("1s", SECOND),
        ("1m30s", 90 * SECOND),
        ("1.5h", 5400 * SECOND),
        ("300ms", 300_000_000),
        ("2us", 2000),
        ("2\u00b5s", 2000),
        ("7ns", 7),
        ("+1s", SECOND),
        ("-1s", -SECOND),
        (".5s", SECOND // 2),
        ("1.s", SECOND),
        ("1", None),
        ("", None),
        ("s", None),
        (".s", None),
        ("1x", None),
        ("1s ", None),
        ("1 s", None),
    ],
)
def test_go_duration(text: str, ns: int | None) -> None:
    assert go_duration(text) == ns


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a b  c", ["a", "b", "c"]),
        ('a="b c" d', ['a="b c"', "d"]),
        ("a='b \\' c", ["a='b \\'", "c"]),
        ('a="b \\" c" d', ['a="b \\" c"', "d"]),
        ("a\\ b c", ["a\\ b", "c"]),
        ('a ""', ["a", '""']),
        ("", []),
        ("a\\", ["a"]),
    ],
)
def test_words_keep_quotes(text: str, expected: list[str]) -> None:
    assert words(text, "\\") == expected


def test_words_with_backtick_escape() -> None:
    assert words("a` b c\\d", "`") == ["a` b", "c\\d"]


# --- end to end through the parser --------------------------------------------------------


def test_from_dockerfile_text() -> None:
    text = (
        "# escape=`\n"
        "FROM alpine AS base\n"
        "RUN --mount=type=cache,target=/var/cache/apk `\n"
        "    apk add curl\n"
        "COPY --from=base <<EOF /etc/motd\n"
        "hello\n"
        "EOF\n"
        'HEALTHCHECK --interval=5s CMD ["curl", "-f", "http://localhost/"]\n'
        "ENV A=1 `\n"
        "    B=2\n"
    )
    result = parse(text)
    got = [parse_instruction(n, escape=result.directives.escape) for n in result.nodes]
    assert [type(i) for i in got] == [From, Run, Copy, Healthcheck, Env]
    run, copy, health, env = got[1:]
    assert isinstance(run, Run) and run.mounts[0].type is MountType.CACHE
    assert run.command == CommandLine(argv=("apk add curl",), prepend_shell=True)
    assert isinstance(copy, Copy) and copy.contents == (
        SourceContent(path="EOF", data="hello\n", expand=True),
    )
    assert isinstance(health, Healthcheck) and health.health.interval == 5 * SECOND
    assert isinstance(env, Env) and [p.key for p in env.pairs] == ["A", "B"]
    assert got[1].node.position.line == 3
