"""The builder: a planned Dockerfile, step by step, into images, with a layer cache.

Like the classic docker builder, each step makes an image on its parent's: ``RUN`` runs in a
container of the parent (through the engine: runtime, monitor, overlay) and its upperdir
becomes the layer; ``COPY``/``ADD`` write into a created container's rootfs; the metadata
instructions change the config only (an ``empty_layer`` history entry). A step's cache key is
its parent image, its text, the build args it uses and, for ``COPY``/``ADD``, the content
digest of exactly the files it selects (:mod:`.context`); a hit reuses the image the same step
made before, so an unchanged rebuild runs nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from dockyard.build.dockerfile import instructions as ins
from dockyard.build.dockerfile.stages import BuildPlan, ImageInfo, Stage, Step
from dockyard.errors import DockyardError, FailedPrecondition, NotFound, Unsupported
from dockyard.oci.containerconfig import ContainerConfig as ImageDefaults

if TYPE_CHECKING:
    from pathlib import Path

    from dockyard.build.context import BuildContext
    from dockyard.engine.containers import Containers
    from dockyard.metadata import ImageRecord
    from dockyard.oci.platform import Platform

DEFAULT_SHELL = ("/bin/sh", "-c")


class Progress(Protocol):
    """Where the builder reports (the CLI prints; tests collect)."""

    def step(self, label: str, text: str, *, cached: bool) -> None: ...

    def output(self, data: bytes) -> None: ...


class BuildError(FailedPrecondition):
    """A step failed; the message names the step and its Dockerfile line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildOptions:
    """``build`` flags the builder needs."""

    no_cache: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str = "host"


@dataclass(slots=True)
class _State:
    """A stage as it is built: its current image (None: scratch) and config."""

    image: ImageRecord | None
    config: ImageDefaults


def resolve_base(engine: Containers) -> object:
    """The planner's view of a base image (Env and OnBuild), from the local store."""

    def resolve(ref: str, platform: Platform) -> ImageInfo:
        if ref == "scratch":
            return ImageInfo()
        image = _local_image(engine, ref)
        config = engine.images.config(image).config
        return ImageInfo(env=config.env, onbuild=config.on_build)

    return resolve


def _local_image(engine: Containers, ref: str) -> ImageRecord:
    try:
        return engine.images.resolve(ref)
    except NotFound:
        raise NotFound(
            f"base image {ref}: not found locally",
            hint="load or import it first (`dockyard load`, `dockyard import`); "
            "pulling comes with registry support",
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
    results: dict[int, ImageRecord | None] = {}
    total = sum(len(s.steps) + 1 for s in plan.stages)
    counter = [0]
    for stage in plan.stages:
        results[stage.index] = _build_stage(
            engine, stage, results, context, progress, options, (counter, total)
        )
    image = results[plan.target.index]
    if image is None:
        raise Unsupported("a build that makes an empty scratch image has nothing to tag")
    if options.labels:
        config = engine.images.config(image).config
        merged = dataclasses.replace(config, labels={**config.labels, **options.labels})
        image = _commit(engine, image, merged, "LABEL (build --label)")
    context.cache.save()
    return image


def _build_stage(
    engine: Containers,
    stage: Stage,
    results: Mapping[int, ImageRecord | None],
    context: BuildContext,
    progress: Progress,
    options: BuildOptions,
    count: tuple[list[int], int],
) -> ImageRecord | None:
    counter, total = count
    counter[0] += 1
    label = f"[{stage.name or stage.index} {counter[0]}/{total}]"
    progress.step(label, stage.from_.node.source.strip(), cached=False)
    if stage.base.stage is not None:
        image = results[stage.base.stage]
    elif stage.base.image.lower() == "scratch":
        image = None
    else:
        image = _local_image(engine, stage.base.image)
    config = engine.images.config(image).config if image is not None else ImageDefaults()
    state = _State(image=image, config=config)
    for step in stage.steps:
        counter[0] += 1
        _step(engine, state, step, results, context, progress, options,
              f"[{stage.name or stage.index} {counter[0]}/{total}]")  # fmt: skip
    return state.image


def _step(
    engine: Containers,
    state: _State,
    step: Step,
    results: Mapping[int, ImageRecord | None],
    context: BuildContext,
    progress: Progress,
    options: BuildOptions,
    label: str,
) -> None:
    instr = step.instruction
    text = instr.node.source.strip()
    if isinstance(instr, ins.Arg):
        progress.step(label, text, cached=True)
        return
    extra = _content_key(engine, step, results, context)
    key = _cache_key(state.image, text, step, extra)
    cached = None if options.no_cache else engine.images.db.cached_build(key)
    if cached is not None and engine.images.db.get_image(cached) is not None:
        progress.step(label, text, cached=True)
        state.image = engine.images.resolve(cached)
        state.config = engine.images.config(state.image).config
        return
    progress.step(label, text, cached=False)
    from dockyard.build import steps

    if isinstance(instr, ins.Run):
        image = steps.run(engine, state.image, state.config, step, progress, options.network)
    elif isinstance(instr, ins.Copy | ins.Add):
        image = steps.copy(engine, state.image, state.config, step, results, context)
    else:
        config = apply_metadata(state.config, instr)
        image = _commit(engine, state.image, config, text)
    engine.images.db.put_build_cache(key, image.id)
    state.image = image
    state.config = engine.images.config(image).config


def _commit(
    engine: Containers, parent: ImageRecord | None, config: ImageDefaults, created_by: str
) -> ImageRecord:
    from dockyard.engine.commit import child_image

    return child_image(engine, parent, config, container=None, created_by=created_by)


def _content_key(
    engine: Containers,
    step: Step,
    results: Mapping[int, ImageRecord | None],
    context: BuildContext,
) -> str:
    """What a COPY/ADD's result depends on besides its text: the selected files' content
    (from the context) or the source stage's image."""
    instr = step.instruction
    if not isinstance(instr, ins.Copy | ins.Add):
        return ""
    if isinstance(instr, ins.Copy) and instr.from_:
        from dockyard.build import steps

        image = steps.from_image(engine, step, results)
        return f"from:{image.id if image is not None else 'scratch'}"
    sources = [p for s in instr.sources for p in context.resolve(s, what=instr.node.keyword)]
    contents = [hashlib.sha256(c.data.encode()).hexdigest() for c in instr.contents]
    return context.digest(sources) + ":" + ",".join(contents)


def _cache_key(parent: ImageRecord | None, text: str, step: Step, extra: str) -> str:
    doc = [
        parent.id if parent is not None else "scratch",
        text,
        list(step.used_args),
        list(step.build_env),
        extra,
    ]
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


def read_dockerignore(context_dir: Path, dockerfile_name: str) -> object:
    """The .dockerignore matcher of a build (``<Dockerfile>.dockerignore`` first)."""
    from dockyard.build.dockerfile.dockerignore import Matcher, dockerignore_for, parse_dockerignore

    for name in dockerignore_for(dockerfile_name):
        path = context_dir / name
        if path.is_file():
            return Matcher(parse_dockerignore(path.read_text()))
    return Matcher(())


__all__ = ["BuildError", "BuildOptions", "DockyardError", "Progress", "build"]
