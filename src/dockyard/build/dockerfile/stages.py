"""The stage graph: nodes -> :class:`BuildPlan` (the stages a target needs, in dependency order,
with every instruction's variables expanded and the build args it used recorded).

Semantics follow the Dockerfile reference and BuildKit's ``dockerfile2llb/convert.go``:

- A stage starts at each FROM. Its name (``AS name``) is case-insensitive; COPY ``--from`` and
  ``RUN --mount from=`` name a stage by name or index (``0``, ``1``...), or else an image.
  FROM naming an earlier stage builds on it (and runs that stage's ONBUILD triggers).
- ARG scoping. ARGs before the first FROM (the *global* scope, which also holds the platform
  ARGs) are visible only to FROM lines, unless a stage redeclares them (``ARG NAME`` without a
  value). An ARG inside a stage is visible from its declaration to the end of the stage and in
  stages built FROM it. ``--build-arg`` values override defaults. ARG and ENV of the same name:
  the later one wins. The proxy ARGs (``HTTP_PROXY`` ...) reach RUN without a declaration but
  are not recorded unless declared.
- Expansion applies to ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR
  and RUN's mount options, never to shell-form RUN/CMD/ENTRYPOINT (the shell does that) nor to
  ONBUILD (expanded when it triggers). ENV values are visible to later instructions of the stage
  and of stages built on it; a base image's Env is visible when ``resolve_image`` supplies it.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from dockyard.build.dockerfile.instruction_parse import parse_instruction
from dockyard.build.dockerfile.instructions import (
    Add,
    Arg,
    ArgDecl,
    Copy,
    Env,
    From,
    Instruction,
    Label,
    Maintainer,
    Mount,
    Onbuild,
    Run,
    diagnostic,
    error_at,
    expand,
    parse_mount,
)
from dockyard.build.dockerfile.nodes import Diagnostic, DockerfileError, Node, Position
from dockyard.build.dockerfile.parser import parse
from dockyard.build.dockerfile.shellwords import Lexer, ShellWordError
from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.platform import Platform, host_platform, parse_platform

__all__ = [
    "PLATFORM_ARGS",
    "PROXY_ARGS",
    "BuildPlan",
    "ImageInfo",
    "Source",
    "Stage",
    "Step",
    "plan",
]

PROXY_ARGS = tuple(
    name
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
    for name in (base, base.lower())
)
"""The predefined ARGs: usable in RUN without a declaration, kept out of cache keys unless
declared."""

PLATFORM_ARGS = (
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
)
"""The automatic platform ARGs of the global scope."""

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageInfo:
    """What the planner needs of a base image config: ``Env`` (``K=V`` strings) and the
    ``OnBuild`` triggers (instruction texts, run first in a stage built FROM the image)."""

    env: tuple[str, ...] = ()
    onbuild: tuple[str, ...] = ()


ResolveImage = Callable[[str, Platform], ImageInfo]


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """What a FROM, COPY ``--from`` or mount ``from=`` names: a stage or an image.

    Attributes:
        name: as written.
        stage: the stage's index when it names one, else None.
        image: the image reference otherwise (``scratch`` included).
    """

    name: str
    stage: int | None = None
    image: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One instruction of a stage, ready for the builder.

    Attributes:
        instruction: with the fields Docker expands expanded (for ARG: each ``default`` is the
            value the ARG has in this build, None when it has none).
        used_args: the build args (name, value) the instruction depends on, for its cache
            key: those its words referenced; for RUN every ARG in scope with a value.
        build_env: for RUN, the ARG values the command sees in its environment (not persisted
            in the image) plus proxy build args.
        sources: the stages or images COPY ``--from`` or ``RUN --mount from=`` name.
        onbuild: True for a trigger inherited from the base stage.
    """

    instruction: Instruction
    used_args: Pairs = ()
    build_env: Pairs = ()
    sources: tuple[Source, ...] = ()
    onbuild: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage:
    """One stage to build.

    Attributes:
        index: its position among the Dockerfile's stages (0-based).
        name: its ``AS`` name, lower-cased ("" when unnamed).
        from_: its FROM, expanded.
        base: the stage or image it starts from.
        platform: its ``--platform`` (None: the target platform).
        used_args: the global ARGs its FROM line used (name, value).
        steps: its instructions after FROM.
        dependencies: indexes of the stages it needs (base, ``--from``, mounts), ascending.
    """

    index: int
    name: str
    from_: From
    base: Source
    platform: Platform | None
    used_args: Pairs
    steps: tuple[Step, ...]
    dependencies: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildPlan:
    """The stages a target needs, in dependency order (the target last).

    Attributes:
        stages: the needed stages, ascending index (every dependency comes first).
        stage_names: every stage's name ("" for unnamed ones), by index.
        global_args: the global scope after ``--build-arg`` (name, value).
        target_platform, build_platform: what ``TARGETPLATFORM``/``BUILDPLATFORM`` say.
        warnings: undeclared ARGs in FROM, deprecated or legacy forms, unused build args.
    """

    stages: tuple[Stage, ...]
    stage_names: tuple[str, ...]
    global_args: Pairs
    target_platform: Platform
    build_platform: Platform
    warnings: tuple[Diagnostic, ...]

    @property
    def target(self) -> Stage:
        """The stage the build produces."""
        return self.stages[-1]


@dataclass(slots=True)
class _Scope:
    """The variables of a stage as it is built.

    ``env`` is what expansion sees; ``args`` the declared ARGs (value or None);
    ``from_arg`` the names whose current value came from an ARG (not ENV or the image).
    """

    env: dict[str, str]
    args: dict[str, str | None]
    from_arg: set[str]

    def copy(self) -> _Scope:
        return _Scope(dict(self.env), dict(self.args), set(self.from_arg))

    def arg_pairs(self, names: Iterable[str]) -> Pairs:
        wanted = set(names)
        return tuple((n, self.env[n]) for n in self.args if n in wanted and n in self.from_arg)


@dataclass(slots=True)
class _Raw:
    """A stage as planning fills it in: FROM (expanded by :func:`_stage_from`), what it is
    based on, and its instructions as parsed."""

    from_: From
    body: list[Instruction]
    base: Source = dataclasses.field(default_factory=lambda: Source(name=""))
    platform: Platform | None = None
    used: Pairs = ()
    image: ImageInfo | None = None


@dataclass(slots=True)
class _Planner:
    build_args: Mapping[str, str]
    lexer: Lexer
    resolve_image: ResolveImage | None
    target_platform: Platform
    warnings: list[Diagnostic]
    consumed: set[str]
    global_args: dict[str, str] = dataclasses.field(default_factory=dict)
    declared_globals: set[str] = dataclasses.field(default_factory=set)
    names: dict[str, int] = dataclasses.field(default_factory=dict)
    raws: list[_Raw] = dataclasses.field(default_factory=list)


def plan(
    nodes: Sequence[Node],
    *,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    platform: Platform | None = None,
    build_platform: Platform | None = None,
    escape: str = "\\",
    resolve_image: ResolveImage | None = None,
) -> BuildPlan:
    """Plan the build of ``target`` from a parsed Dockerfile.

    Args:
        nodes: the parser's nodes, in file order.
        build_args: ``--build-arg`` values.
        target: the stage to build (``--target``); default the last stage.
        platform: the target platform (default: this machine's).
        build_platform: the platform the build runs on (default: this machine's).
        escape: the file's escape character (``Parsed.directives.escape``).
        resolve_image: gives a base image's config (Env, OnBuild) for an image reference and
            platform; it may pull. Without it a base image has no Env and no triggers.

    Returns:
        The plan; warnings ride along in ``BuildPlan.warnings``.

    Raises:
        DockerfileError: an invalid instruction, an instruction before the first FROM other
            than ARG, a duplicate stage name, a bad ``--from``, a failed expansion.
        DockerfileUnsupported: a feature dockyard does not support.
        NotFound: ``target`` names no stage (the hint lists the stages).
    """
    args = dict(build_args or {})
    native = host_platform()
    target_platform = platform or native
    planner = _Planner(
        build_args=args,
        lexer=Lexer(escape=escape),
        resolve_image=resolve_image,
        target_platform=target_platform,
        warnings=[],
        consumed=set(),
    )
    planner.global_args = _platform_args(build_platform or native, target_platform, args)
    meta = _split(planner, nodes)
    _global_scope(planner, meta)
    for index in range(len(planner.raws)):
        _stage_from(planner, index)
    deps = _needed(_target_index(planner, target), lambda i: _dependencies(planner, i))
    wanted = sorted(deps)
    stages: dict[int, Stage] = {}
    scopes: dict[int, _Scope] = {}
    for index in wanted:
        stages[index], scopes[index] = _build_stage(planner, index, deps[index], scopes)
    _warn_unconsumed(planner)
    return BuildPlan(
        stages=tuple(stages[i] for i in wanted),
        stage_names=tuple(raw.from_.name for raw in planner.raws),
        global_args=tuple(planner.global_args.items()),
        target_platform=target_platform,
        build_platform=build_platform or native,
        warnings=tuple(planner.warnings),
    )


def _platform_args(
    build: Platform, target: Platform, overrides: Mapping[str, str]
) -> dict[str, str]:
    values = {
        "BUILDPLATFORM": str(build),
        "BUILDOS": build.os,
        "BUILDARCH": build.architecture,
        "BUILDVARIANT": build.variant or "",
        "TARGETPLATFORM": str(target),
        "TARGETOS": target.os,
        "TARGETARCH": target.architecture,
        "TARGETVARIANT": target.variant or "",
    }
    return {name: overrides.get(name, value) for name, value in values.items()}


def _split(planner: _Planner, nodes: Sequence[Node]) -> list[Arg]:
    """Parse the nodes into the global ARGs and the raw stages; check stage names."""
    meta: list[Arg] = []
    for node in nodes:
        instruction = parse_instruction(node, escape=planner.lexer.escape)
        if isinstance(instruction, From):
            _add_stage_name(planner, instruction)
            planner.raws.append(_Raw(from_=instruction, body=[]))
        elif planner.raws:
            planner.raws[-1].body.append(instruction)
        elif isinstance(instruction, Arg):
            meta.append(instruction)
        else:
            raise error_at(
                node,
                f"{node.keyword} before the first FROM: only ARG may come before FROM",
                "start the Dockerfile with FROM <image> (ARGs for FROM may precede it)",
            )
    if not planner.raws:
        message, hint = "the Dockerfile has no FROM: no stage to build", "add FROM <image>"
        if nodes:
            raise error_at(nodes[-1], message, hint)
        start = Position(line=1, column=1)
        raise DockerfileError(
            Diagnostic(severity="error", position=start, message=message, line="", hint=hint)
        )
    return meta


def _add_stage_name(planner: _Planner, instruction: From) -> None:
    name = instruction.name
    if not name:
        return
    if name in planner.names:
        first = planner.raws[planner.names[name]].from_.node.position.line
        raise error_at(instruction.node, f"duplicate stage name {name!r} (first on line {first})")
    planner.names[name] = len(planner.raws)


def _global_scope(planner: _Planner, meta: Sequence[Arg]) -> None:
    """Evaluate the ARGs before the first FROM, in order, with ``--build-arg`` overrides."""
    for instruction in meta:
        for decl in instruction.args:
            planner.declared_globals.add(decl.name)
            planner.consumed.add(decl.name)
            if decl.name in planner.build_args:
                planner.global_args[decl.name] = planner.build_args[decl.name]
            elif decl.default is not None:
                value, _ = _expand(planner, instruction.node, decl.default, planner.global_args)
                planner.global_args[decl.name] = value


def _expand(
    planner: _Planner, node: Node, word: str, env: Mapping[str, str]
) -> tuple[str, set[str]]:
    """Expand one word; returns the result and every name it referenced."""
    try:
        result = planner.lexer.process(word, env)
    except ShellWordError as err:
        raise error_at(node, f"{node.keyword}: {err.message}", err.hint or "") from None
    return result.result, set(result.matched | result.unmatched)


def _stage_from(planner: _Planner, index: int) -> None:
    """Expand a FROM line against the global scope and resolve what it names."""
    raw = planner.raws[index]
    instruction = raw.from_
    node, env = instruction.node, planner.global_args
    image, refs = _expand(planner, node, instruction.image, env)
    platform_text, platform_refs = "", set[str]()
    if instruction.platform:
        platform_text, platform_refs = _expand(planner, node, instruction.platform, env)
    refs |= platform_refs
    for name in sorted(refs - env.keys() - planner.declared_globals):
        hint = _did_you_mean(name, [*planner.declared_globals, *env])
        hint = hint or "declare it with ARG before the first FROM"
        message = f"FROM argument {name!r} is not declared"
        planner.warnings.append(diagnostic(node, message, hint, severity="warning"))
    if not image:
        raise error_at(node, f"base name ({instruction.image}) should not be blank")
    if instruction.platform:
        raw.platform = _platform(node, instruction.platform, platform_text)
    stage = planner.names.get(image.lower())
    if stage is not None and stage < index:
        raw.base = Source(name=image, stage=stage)
    else:
        raw.base = Source(name=image, image=image)
    raw.used = tuple((n, env[n]) for n in env if n in refs)
    raw.from_ = dataclasses.replace(instruction, image=image, platform=platform_text)


def _platform(node: Node, written: str, text: str) -> Platform:
    if not text:
        raise error_at(node, f"empty platform value from expression {written}")
    try:
        return parse_platform(text)
    except InvalidArgument as err:
        raise error_at(node, f"FROM: {err.message}", "use --platform=os/arch[/variant]") from None


def _body(planner: _Planner, index: int) -> list[tuple[Instruction, bool]]:
    """The stage's instructions after FROM, led by the ONBUILD triggers of what it is based
    on (each paired with True when it is a trigger)."""
    base = planner.raws[index].base
    if base.stage is not None:
        body = planner.raws[base.stage].body
        triggers = [(i.trigger, True) for i in body if isinstance(i, Onbuild)]
    else:
        node = planner.raws[index].from_.node
        texts = _image_info(planner, index).onbuild
        triggers = [(_trigger(planner, node, text), True) for text in texts]
    return triggers + [(i, False) for i in planner.raws[index].body]


def _trigger(planner: _Planner, node: Node, text: str) -> Instruction:
    """Parse a base image's ONBUILD trigger; diagnostics point at the stage's FROM."""
    try:
        # The parser wants a FROM first; the trigger is the node after it.
        nodes = parse(f"FROM scratch\n{text}").nodes[1:]
    except DockerfileError as err:
        message = f"ONBUILD trigger {text!r} of the base image: {err.diagnostic.message}"
        raise error_at(node, message) from None
    if len(nodes) != 1:
        raise error_at(node, f"ONBUILD trigger {text!r} of the base image is not one instruction")
    trigger_node = dataclasses.replace(nodes[0], position=node.position)
    return parse_instruction(trigger_node, escape=planner.lexer.escape)


def _image_info(planner: _Planner, index: int) -> ImageInfo:
    """The base image's config (resolved once per stage; empty for scratch or without a
    resolver)."""
    raw = planner.raws[index]
    if raw.image is None:
        image = raw.base.image
        if planner.resolve_image is None or not image or image.lower() == "scratch":
            raw.image = ImageInfo()
        else:
            raw.image = planner.resolve_image(image, raw.platform or planner.target_platform)
    return raw.image


def _named_sources(instruction: Instruction) -> list[str]:
    """The stage or image names an instruction reads from (COPY --from, mount from=)."""
    if isinstance(instruction, Copy) and instruction.from_:
        return [instruction.from_]
    if isinstance(instruction, Run):
        return [m.from_ for m in instruction.mounts if m.from_]
    return []


def _source(planner: _Planner, node: Node, name: str, index: int) -> Source:
    """Resolve a ``--from`` / ``from=`` name: a stage name, a stage index, else an image.

    Raises:
        DockerfileError: the name uses a variable, or names this or a later stage, or an
            index that does not exist.
    """
    if re.search(r"\$.", name):
        raise error_at(
            node,
            f"{node.keyword}: variable expansion is not supported for --from",
            "define a stage with FROM (which may use a global ARG) and name that stage instead",
        )
    if re.fullmatch(r"[+-]?\d+", name):
        stage: int | None = int(name)
        if not 0 <= int(name) < len(planner.raws):
            raise error_at(node, f"{node.keyword}: invalid stage index {name}")
    else:
        stage = planner.names.get(name.lower())
        if stage is None:
            return Source(name=name, image=name)
    if stage is not None and stage >= index:
        raise error_at(
            node,
            f"{node.keyword}: cannot copy from stage {name!r}: "
            "it needs to be defined before the current stage",
        )
    return Source(name=name, stage=stage)


def _dependencies(planner: _Planner, index: int) -> tuple[int, ...]:
    base = planner.raws[index].base
    found = {base.stage} if base.stage is not None else set()
    for instruction, _ in _body(planner, index):
        for name in _named_sources(instruction):
            source = _source(planner, instruction.node, name, index)
            if source.stage is not None:
                found.add(source.stage)
    return tuple(sorted(found))


def _target_index(planner: _Planner, target: str | None) -> int:
    if target is None:
        return len(planner.raws) - 1
    index = planner.names.get(target.lower())
    if index is None:
        known = sorted(planner.names, key=planner.names.__getitem__)
        hint = _did_you_mean(target.lower(), known)
        listing = (
            f"the stages are: {', '.join(known)}"
            if known
            else "no stage has a name (FROM ... AS <name>)"
        )
        raise NotFound(
            f"target stage {target!r} could not be found", hint=f"{hint} {listing}".strip()
        )
    return index


def _needed(
    target: int, dependencies: Callable[[int], tuple[int, ...]]
) -> dict[int, tuple[int, ...]]:
    """The target and every stage it needs, transitively, with their dependencies (only the
    stages built are checked, as BuildKit does)."""
    found = {target: dependencies(target)}
    todo = [target]
    while todo:
        for dep in found[todo.pop()]:
            if dep not in found:
                found[dep] = dependencies(dep)
                todo.append(dep)
    return found


def _build_stage(
    planner: _Planner, index: int, deps: tuple[int, ...], scopes: Mapping[int, _Scope]
) -> tuple[Stage, _Scope]:
    """Expand one stage's instructions in its scope; returns the stage and its final scope."""
    raw = planner.raws[index]
    if raw.base.stage is not None:
        scope = scopes[raw.base.stage].copy()
    else:
        env = dict(item.partition("=")[::2] for item in _image_info(planner, index).env)
        scope = _Scope(env=env, args={}, from_arg=set())
    steps = tuple(
        _step(planner, scope, item, index, onbuild) for item, onbuild in _body(planner, index)
    )
    stage = Stage(
        index=index,
        name=raw.from_.name,
        from_=raw.from_,
        base=raw.base,
        platform=raw.platform,
        used_args=raw.used,
        steps=steps,
        dependencies=deps,
    )
    return stage, scope


def _step(
    planner: _Planner, scope: _Scope, instruction: Instruction, index: int, onbuild: bool
) -> Step:
    """Expand one instruction in ``scope`` and apply what it declares (ARG, ENV) to it."""
    node = instruction.node
    if isinstance(instruction, Arg):
        return _arg_step(planner, scope, instruction, onbuild)
    if isinstance(instruction, Onbuild):
        return Step(instruction=instruction, onbuild=onbuild)
    _warn_form(planner, instruction)
    refs: set[str] = set()

    def word(text: str) -> str:
        value, names = _expand(planner, node, text, scope.env)
        refs.update(names)
        return value

    def words(text: str) -> list[str]:
        word(text)
        return planner.lexer.expand_words(text, scope.env)

    def mount(m: Mount) -> Mount:
        return parse_mount(m.spec, node=node, expand=word)

    expanded = _expand_contents(expand(instruction, word, words, mount), scope, refs)
    sources = tuple(_source(planner, node, name, index) for name in _named_sources(expanded))
    if isinstance(expanded, Run):
        used = tuple((n, scope.env.get(n, v)) for n, v in scope.args.items() if v is not None)
        env = [(n, scope.env[n]) for n in scope.args if n in scope.from_arg]
        env += [
            (n, v) for n, v in planner.build_args.items() if n in PROXY_ARGS and n not in scope.args
        ]
        return Step(
            instruction=expanded,
            used_args=used,
            build_env=tuple(env),
            sources=sources,
            onbuild=onbuild,
        )
    step = Step(
        instruction=expanded, used_args=scope.arg_pairs(refs), sources=sources, onbuild=onbuild
    )
    if isinstance(expanded, Env):
        for pair in expanded.pairs:
            scope.env[pair.key] = pair.value
            scope.from_arg.discard(pair.key)
    return step


def _expand_contents(instruction: Instruction, scope: _Scope, refs: set[str]) -> Instruction:
    """Expand the bodies of ``COPY <<EOF`` sources whose name was not quoted; quotes in a
    body are text, not syntax (BuildKit's raw expansion, always with ``\\``)."""
    if not isinstance(instruction, Copy | Add) or not any(c.expand for c in instruction.contents):
        return instruction
    lexer = Lexer(skip_process_quotes=True)
    contents = []
    for content in instruction.contents:
        if content.expand:
            result = lexer.process(content.data, scope.env)
            refs.update(result.matched | result.unmatched)
            content = dataclasses.replace(content, data=result.result)
        contents.append(content)
    return dataclasses.replace(instruction, contents=tuple(contents))


def _arg_step(planner: _Planner, scope: _Scope, instruction: Arg, onbuild: bool) -> Step:
    """Declare ARGs: ``--build-arg`` value, else the default expanded, else the global value
    of the same name (a redeclared global ARG), else no value."""
    decls: list[ArgDecl] = []
    used: dict[str, str] = {}
    for decl in instruction.args:
        name = decl.name
        planner.consumed.add(name)
        value: str | None = None
        if name in planner.build_args:
            value = planner.build_args[name]
        elif decl.default is not None:
            value, names = _expand(planner, instruction.node, decl.default, scope.env)
            used.update(scope.arg_pairs(names))
        elif name in planner.global_args:
            value = planner.global_args[name]
        if value is not None:
            scope.env[name] = used[name] = scope.args[name] = value
            scope.from_arg.add(name)
        else:
            scope.args.setdefault(name, None)
        decls.append(ArgDecl(name=name, default=value))
    expanded = dataclasses.replace(instruction, args=tuple(decls))
    return Step(instruction=expanded, used_args=tuple(used.items()), onbuild=onbuild)


def _warn_form(planner: _Planner, instruction: Instruction) -> None:
    node = instruction.node
    if isinstance(instruction, Maintainer):
        hint = f'use LABEL org.opencontainers.image.authors="{instruction.maintainer}"'
        planner.warnings.append(
            diagnostic(node, "MAINTAINER is deprecated", hint, severity="warning")
        )
    elif isinstance(instruction, Env | Label) and instruction.legacy:
        kw = node.keyword
        message = f'{kw} uses the legacy "key value" form'
        planner.warnings.append(
            diagnostic(node, message, f"write {kw} <key>=<value>", severity="warning")
        )


def _warn_unconsumed(planner: _Planner) -> None:
    builtin = {*PROXY_ARGS, *PLATFORM_ARGS}
    unused = sorted(n for n in planner.build_args if n not in planner.consumed and n not in builtin)
    if unused:
        planner.warnings.append(
            Diagnostic(
                severity="warning",
                position=Position(line=1, column=1),
                message=f"One or more build-args [{' '.join(unused)}] were not consumed",
                line="",
                hint="declare them with ARG in a stage that is built, or drop the --build-arg",
            )
        )


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"did you mean {close[0]!r}?" if close else ""
