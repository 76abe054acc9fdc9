"""The builder: a planned Dockerfile, step by step, into images, with a layer cache.

Like the classic docker builder, each step makes an image on its parent's: ``RUN`` runs in a
container of the parent (through the engine: runtime, monitor, overlay) and its upperdir
becomes the layer; ``COPY``/``ADD`` write into a created container's rootfs; the metadata
instructions change the config only (an ``empty_layer`` history entry). A step's cache key is
its parent image, its text, the build args it uses and, for ``COPY``/``ADD``, the content
digest of exactly the files it selects (:mod:`.context`); a hit reuses the image the same step
made before, so an unchanged rebuild runs nothing. With ``SOURCE_DATE_EPOCH`` (``epoch``) the
images are stamped with that time and layer mtimes clamped to it (the epoch is part of the
key); ``--cache-explain`` says why each step missed (:mod:`.explain`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from dockyard.build.dockerfile import instructions as ins
from dockyard.build.dockerfile.stages import BuildPlan, ImageInfo, ResolveImage, Stage, Step
from dockyard.errors import FailedPrecondition, NotFound, Unsupported
from dockyard.oci.containerconfig import ContainerConfig as ImageDefaults

if TYPE_CHECKING:
    from dockyard.build.context import BuildContext
    from dockyard.build.dockerfile.dockerignore import Matcher
    from dockyard.build.explain import Explainer
    from dockyard.build.remote import Download
    from dockyard.engine.containers import Containers
    from dockyard.metadata import ImageRecord
    from dockyard.oci.platform import Platform

DEFAULT_SHELL = ("/bin/sh", "-c")
FindImage = Callable[[str], "ImageRecord"]
"""Gets a base image by reference (the CLI's pulls what is missing)."""


class Progress(Protocol):
    """Where the builder reports (the CLI prints; tests collect)."""

    def step(self, label: str, text: str, *, cached: bool) -> None: ...

    def output(self, data: bytes) -> None: ...

    def note(self, text: str) -> None:
        """A line about the step just reported (``--cache-explain``)."""


class BuildError(FailedPrecondition):
    """A step failed; the message names the step and its Dockerfile line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildOptions:
    """``build`` flags the builder needs."""

    no_cache: bool = False
    no_cache_stages: frozenset[str] = frozenset()  # --no-cache-filter: stage names or indexes
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str = "bridge"  # RUN's network: bridge, a network's name, host or none
    state_dir: Path | None = None  # <state root>/build (None: the engine's)
    epoch: int | None = None  # SOURCE_DATE_EPOCH
    cache_explain: bool = False
    dockerfile: str = "Dockerfile"  # as given (``--cache-explain`` tells builds apart by it)
    find_image: FindImage | None = None  # how FROM images are found (None: local only)
    secrets: Mapping[str, bytes] = field(default_factory=dict)  # --secret id -> value


@dataclass(slots=True)
class _State:
    """A stage as it is built: its current image (None: scratch) and config."""

    image: ImageRecord | None
    config: ImageDefaults


def resolve_base(engine: Containers, find: FindImage | None = None) -> ResolveImage:
    """The planner's view of a base image (Env and OnBuild), from the local store (or from
    ``find``: the CLI's, which pulls missing images, or every one with ``--pull``)."""

    def resolve(ref: str, platform: Platform) -> ImageInfo:
        if ref == "scratch":
            return ImageInfo()
        image = _local_image(engine, ref, find)
        config = engine.images.config(image).config
        return ImageInfo(env=config.env, onbuild=config.on_build)

    return resolve


def _local_image(engine: Containers, ref: str, find: FindImage | None = None) -> ImageRecord:
    if find is not None:
        return find(ref)
    try:
        return engine.images.resolve(ref)
    except NotFound:
        raise NotFound(
            f"base image {ref}: not found locally",
            hint="pull it (`dockyard pull`), or load or import it",
        ) from None


def build(
    engine: Containers,
    plan: BuildPlan,
    context: BuildContext,
    progress: Progress,
    options: BuildOptions,
) -> ImageRecord:
    """Build every stage of ``plan``; return the target's image.

    Raises:
        BuildError: a RUN failed (its exit code and the step are named).
        NotFound: a base image is not here.
        Unsupported: a feature the builder does not have yet (named).
    """
    _check_secrets(plan, options)
    total = sum(len(s.steps) + 1 for s in plan.stages)
    run = _Build(engine=engine, context=context, progress=progress, options=options, total=total)
    if options.cache_explain:
        from dockyard.build.explain import Explainer

        identity = f"{context.root}\0{options.dockerfile}"
        run.explainer = Explainer(_state_dir(engine, options) / "explain", identity)
    try:
        for stage in plan.stages:
            run.results[stage.index] = _build_stage(run, stage)
    finally:
        from dockyard.build.remote import remove

        remove(run.downloads)
    image = run.results[plan.target.index]
    if image is None:
        raise Unsupported("a build that makes an empty scratch image has nothing to tag")
    if options.labels:
        config = engine.images.config(image).config
        merged = dataclasses.replace(config, labels={**config.labels, **options.labels})
        image = _commit(engine, image, merged, "LABEL (build --label)", options.epoch)
    context.cache.save()
    return image


def _check_secrets(plan: BuildPlan, options: BuildOptions) -> None:
    """Every ``required`` secret is given, checked before any step (a cached step would
    never look).

    Raises:
        NotFound: naming the first missing one and its RUN.
    """
    for stage in plan.stages:
        for step in stage.steps:
            instr = step.instruction
            if not isinstance(instr, ins.Run):
                continue
            for m in instr.mounts:
                if m.type is ins.MountType.SECRET and m.required and m.id not in options.secrets:
                    raise NotFound(
                        f"RUN at line {instr.node.position.line}: secret {m.id} is required "
                        "but was not given",
                        hint=f"pass it with build --secret id={m.id},src=FILE",
                    )


@contextlib.contextmanager
def _step_lock(root: Path, key: str) -> Iterator[None]:
    """Hold the lock of cache key ``key`` (one of 256 files under ``<root>/build-locks``):
    builds running the same step at once build it once, the others then find it cached."""
    locks = root / "build-locks"
    locks.mkdir(exist_ok=True)
    fd = os.open(locks / key.removeprefix("sha256:")[:2], os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                 0o600)  # fmt: skip
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _state_dir(engine: Containers, options: BuildOptions) -> Path:
    return options.state_dir or engine.store.root / "build"


@dataclass(slots=True, kw_only=True)
class _Build:
    """One build's collaborators and progress (the step counter, the stages built)."""

    engine: Containers
    context: BuildContext
    progress: Progress
    options: BuildOptions
    total: int
    counter: int = 0
    results: dict[int, ImageRecord | None] = field(default_factory=dict)
    explainer: Explainer | None = None
    downloads: dict[str, Download] = field(default_factory=dict)  # ADD URL -> its file

    def label(self, stage: Stage) -> str:
        self.counter += 1
        return f"[{stage.name or stage.index} {self.counter}/{self.total}]"


def _build_stage(run: _Build, stage: Stage) -> ImageRecord | None:
    run.progress.step(run.label(stage), stage.from_.node.source.strip(), cached=False)
    if stage.base.stage is not None:
        image = run.results[stage.base.stage]
    elif stage.base.image.lower() == "scratch":
        image = None
    else:
        image = _local_image(run.engine, stage.base.image, run.options.find_image)
    config = run.engine.images.config(image).config if image is not None else ImageDefaults()
    state = _State(image=image, config=config)
    uncached = {stage.name, str(stage.index)} & run.options.no_cache_stages
    for index, step in enumerate(stage.steps):
        _step(run, state, step, (stage.index, index), run.label(stage), use_cache=not uncached)
    return state.image


def _step(
    run: _Build,
    state: _State,
    step: Step,
    position: tuple[int, int],
    label: str,
    *,
    use_cache: bool = True,
) -> None:
    engine, options = run.engine, run.options
    instr = step.instruction
    text = instr.node.source.strip()
    extra = _content_key(run, step)
    key = _cache_key(state.image, text, step, extra, options.epoch)
    if isinstance(instr, ins.Arg):
        _arg_step(run, state, key, label, text)
        return
    use = use_cache and not options.no_cache
    with _step_lock(engine.store.root, key) if use else contextlib.nullcontext():
        _run_step(run, state, step, position, label, key, use=use)


def _run_step(
    run: _Build,
    state: _State,
    step: Step,
    position: tuple[int, int],
    label: str,
    key: str,
    *,
    use: bool,
) -> None:
    """The step from the cache, or run and recorded in it."""
    engine, options, progress = run.engine, run.options, run.progress
    instr = step.instruction
    text = instr.node.source.strip()
    cached = engine.images.db.cached_build(key) if use else None
    hit = cached is not None and engine.images.db.get_image(cached) is not None
    progress.step(label, text, cached=hit)
    if run.explainer is not None:
        _explain(run, run.explainer, state, step, position, hit=hit)
    if cached is not None and hit:
        state.image = engine.images.resolve(cached)
        state.config = engine.images.config(state.image).config
        return
    from dockyard.build import steps

    if isinstance(instr, ins.Run):
        sources = steps.source_images(engine, step, run.results, options.find_image)
        image = steps.run(engine, state.image, state.config, step, progress, options, run.context,
                          sources)  # fmt: skip
    elif isinstance(instr, ins.Copy | ins.Add):
        image = steps.copy(
            engine, state.image, state.config, step, run.results, run.context, options,
            run.downloads,
        )  # fmt: skip
    else:
        config = apply_metadata(state.config, instr)
        image = _commit(engine, state.image, config, text, options.epoch)
    engine.images.db.put_build_cache(key, image.id)
    state.image = image
    state.config = engine.images.config(image).config


def _explain(
    run: _Build,
    explainer: Explainer,
    state: _State,
    step: Step,
    position: tuple[int, int],
    *,
    hit: bool,
) -> None:
    """Print HIT, or MISS and why; remember this step's inputs for the next build."""
    from dockyard.build.explain import StepInputs, reason

    instr = step.instruction
    files: dict[str, str] = {}
    source = ""
    if step.sources:  # COPY --from, RUN --mount from=
        from dockyard.build import steps

        images = steps.source_images(run.engine, step, run.results, run.options.find_image)
        source = ",".join(i.id if i is not None else "scratch" for i in images)
    if not (isinstance(instr, ins.Copy) and instr.from_):
        files = _selected_files(instr, run.context)
    inputs = StepInputs(
        parent=state.image.id if state.image is not None else "scratch",
        text=instr.node.source.strip(),
        args=dict((*step.used_args, *step.build_env)),
        files=files,
        source=source,
    )
    old = explainer.previous(*position)
    if hit:
        run.progress.note("  HIT")
    else:
        run.progress.note("  MISS: " + reason(old, inputs, first=position[1] == 0))
    explainer.record(*position, inputs)


def _selected_files(instr: ins.Instruction, context: BuildContext) -> dict[str, str]:
    """Per-file inputs of a COPY/ADD from the context or a RUN's context bind mounts."""
    if isinstance(instr, ins.Copy | ins.Add):
        from dockyard.build import steps

        sources = steps.local_sources(instr)
        files = {f"<<{c.path}": hashlib.sha256(c.data.encode()).hexdigest() for c in instr.contents}
    elif isinstance(instr, ins.Run):
        sources = [m.source or "." for m in instr.mounts
                   if m.type is ins.MountType.BIND and not m.from_]  # fmt: skip
        files = {}
    else:
        return {}
    for source in sources:
        for path in context.resolve(source, what=instr.node.keyword):
            for entry in context.entries(path):
                files[entry.path] = f"{entry.kind}:{entry.mode:o}:{entry.digest}"
    return files


def _arg_step(run: _Build, state: _State, key: str, label: str, text: str) -> None:
    """ARG changes no image; the cache records it against its parent, so it shows as cached
    exactly when the same ARG followed the same image before."""
    db = run.engine.images.db
    parent = state.image.id if state.image is not None else None
    hit = parent is not None and db.cached_build(key) == parent and not run.options.no_cache
    run.progress.step(label, text, cached=hit)
    if parent is not None and not hit:
        db.put_build_cache(key, parent)


def _commit(
    engine: Containers,
    parent: ImageRecord | None,
    config: ImageDefaults,
    created_by: str,
    epoch: int | None = None,
) -> ImageRecord:
    from dockyard.engine.commit import child_image

    return child_image(engine, parent, config, container=None, created_by=created_by, epoch=epoch)


def _content_key(run: _Build, step: Step) -> str:
    """What a COPY/ADD's result depends on besides its text: the selected files' content
    (from the context, or downloaded for ``ADD URL``) or the source stage's image."""
    engine, results, context = run.engine, run.results, run.context
    instr = step.instruction
    from dockyard.build import steps

    ids = [i.id if i is not None else "scratch"
           for i in steps.source_images(engine, step, results, run.options.find_image)]  # fmt: skip
    if isinstance(instr, ins.Run):
        from dockyard.build.runsetup import mounts_key

        return mounts_key(instr, context, ids)
    if not isinstance(instr, ins.Copy | ins.Add):
        return ""
    steps.check_supported(instr)
    if isinstance(instr, ins.Copy) and instr.from_:
        return f"from:{ids[0]}"
    contents = [hashlib.sha256(c.data.encode()).hexdigest() for c in instr.contents]
    contents += _downloaded(run, instr)
    if instr.exclude or (isinstance(instr, ins.Copy) and instr.parents):
        return steps.selection_digest(instr, context) + ":" + ",".join(contents)
    sources = [p for s in steps.local_sources(instr)
               for p in context.resolve(s, what=instr.node.keyword)]  # fmt: skip
    return context.digest(sources) + ":" + ",".join(contents)


def _downloaded(run: _Build, instr: ins.Copy | ins.Add) -> list[str]:
    """``ADD URL``: fetch each URL once per build; the key holds their content digests."""
    if not isinstance(instr, ins.Add):
        return []
    from dockyard.build import remote

    where = f"ADD at line {instr.node.position.line}"
    for url in (s for s in instr.sources if remote.is_url(s)):
        if url not in run.downloads:
            directory = _state_dir(run.engine, run.options) / "downloads"
            run.downloads[url] = remote.fetch(url, directory, checksum=instr.checksum,
                                              where=where)  # fmt: skip
    return [f"{s}={run.downloads[s].digest}" for s in instr.sources if s in run.downloads]


def _cache_key(
    parent: ImageRecord | None, text: str, step: Step, extra: str, epoch: int | None
) -> str:
    doc: list[object] = [
        parent.id if parent is not None else "scratch",
        text,
        list(step.used_args),
        list(step.build_env),
        extra,
    ]
    if epoch is not None:
        doc.append(epoch)
    return "sha256:" + hashlib.sha256(json.dumps(doc).encode()).hexdigest()


def _command(config: ImageDefaults, command: ins.CommandLine) -> tuple[str, ...]:
    if command.prepend_shell:
        return (*(config.shell or DEFAULT_SHELL), *command.argv)
    return command.argv


def apply_metadata(config: ImageDefaults, instr: ins.Instruction) -> ImageDefaults:
    """The config after a metadata instruction (ENV, CMD, LABEL ...; pure).

    Raises:
        Unsupported: an instruction that is not a metadata instruction.
    """
    r = dataclasses.replace
    if isinstance(instr, ins.Env):
        env = list(config.env)
        for pair in instr.pairs:
            env = [e for e in env if e.partition("=")[0] != pair.key] + [f"{pair.key}={pair.value}"]
        return r(config, env=tuple(env))
    if isinstance(instr, ins.Cmd):
        return r(config, cmd=_command(config, instr.command))
    if isinstance(instr, ins.Entrypoint):
        return r(config, entrypoint=_command(config, instr.command), cmd=None)
    if isinstance(instr, ins.Label):
        return r(config, labels={**config.labels, **{p.key: p.value for p in instr.labels}})
    if isinstance(instr, ins.Expose):
        ports = [p if "/" in p else f"{p}/tcp" for p in instr.ports]
        return r(config, exposed_ports=(*config.exposed_ports, *ports))
    if isinstance(instr, ins.Volume):
        return r(config, volumes=(*config.volumes, *instr.paths))
    if isinstance(instr, ins.User):
        return r(config, user=instr.user)
    if isinstance(instr, ins.Workdir):
        import posixpath

        path = posixpath.join(config.working_dir or "/", instr.path)
        return r(config, working_dir=posixpath.normpath(path))
    return _more_metadata(config, instr)


def _more_metadata(config: ImageDefaults, instr: ins.Instruction) -> ImageDefaults:
    r = dataclasses.replace
    if isinstance(instr, ins.Stopsignal):
        return r(config, stop_signal=instr.signal)
    if isinstance(instr, ins.Healthcheck):
        return r(config, healthcheck=instr.health)
    if isinstance(instr, ins.Shell):
        return r(config, shell=instr.shell)
    if isinstance(instr, ins.Onbuild):
        return r(config, on_build=(*config.on_build, instr.expression))
    if isinstance(instr, ins.Maintainer):
        return config
    raise Unsupported(f"{instr.node.keyword}: not a metadata instruction")


def read_dockerignore(context_dir: Path, dockerfile_name: str) -> Matcher:
    """The .dockerignore matcher of a build (``<Dockerfile>.dockerignore`` first)."""
    from dockyard.build.dockerfile.dockerignore import Matcher, dockerignore_for, parse_dockerignore

    for name in dockerignore_for(dockerfile_name):
        path = context_dir / name
        if path.is_file():
            return Matcher(parse_dockerignore(path.read_text()))
    return Matcher(())
