"""The images a project's services run: found locally, built from ``build:``, or pulled.

A service with ``build:`` runs the image named by its ``image:`` or, without one,
``<project>-<service>`` (docker compose's name); building tags that name and every
``build.tags`` entry. ``up`` builds what is missing (always with ``--build`` or
``pull_policy: build``, never with ``--no-build``); a missing image without ``build:`` is
pulled when a puller is given. A service's ``platform:`` must be one this host runs natively
(dockyard does not emulate), and its pulls ask for that platform.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.compose.model import Project, PullPolicy, Service
from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.platform import Platform

if TYPE_CHECKING:
    from dockyard.build.builder import FindImage, Progress
    from dockyard.engine.containers import Containers


class BuildMode(StrEnum):
    """``up --build`` (always), ``--no-build`` (never), or what is missing (auto)."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


# (image name, the platform wanted or None for this host's) -> the pulled image's ID
Pull = Callable[[str, Platform | None], str]


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildFlags:
    """``compose build`` flags, and how the builder finds FROM images (None: local only; the
    CLI's finder pulls missing ones, or every one with ``--pull``)."""

    no_cache: bool = False
    args: Mapping[str, str] | None = None
    find: FindImage | None = None


def ensure(
    engine: Containers,
    project: Project,
    services: Sequence[str],
    *,
    mode: BuildMode = BuildMode.AUTO,
    progress: Callable[[Service], Progress],
    pull: Pull | None = None,
    pull_always: bool = False,
    flags: BuildFlags | None = None,
) -> dict[str, str]:
    """Service name -> the image ID its containers run, building or pulling what is needed.

    Raises:
        NotFound: an image is missing and cannot be built or pulled.
        Unsupported: a service's ``platform:`` is not this host's.
        BuildError: a build failed.
    """
    from dockyard.engine.platforms import require_native

    found: dict[str, str] = {}
    built: dict[str, str] = {}
    for name in services:
        service = project.services[name]
        if service.platform is not None:
            require_native(service.platform, subject=f"service {name}: ", setting="platform:")
        image = service.image_name(project.name)
        if image in built:
            found[name] = built[image]
            continue
        local = _local(engine, image)
        if service.build is not None and _must_build(service, mode, local is None):
            found[name] = built[image] = build(
                engine, project, service, progress(service), flags or BuildFlags()
            )
        elif (pull_always or service.pull_policy is PullPolicy.ALWAYS) and pull is not None:
            found[name] = pull(image, service.platform)
        elif local is not None:
            found[name] = local
        elif (
            service.pull_policy is not PullPolicy.NEVER
            and pull is not None
            and (service.build is None)
        ):
            found[name] = pull(image, service.platform)
        else:
            raise NotFound(f"service {name}: image {image} not found locally", hint=_hint(service))
    return found


def _must_build(service: Service, mode: BuildMode, missing: bool) -> bool:
    if mode is BuildMode.NEVER:
        return False
    return mode is BuildMode.ALWAYS or service.pull_policy is PullPolicy.BUILD or missing


def _hint(service: Service) -> str:
    if service.build is not None:
        return "build it (`compose build`, or `compose up` without --no-build)"
    return "load, import or pull it first (`dockyard load`, `dockyard pull`)"


def _local(engine: Containers, name: str) -> str | None:
    try:
        return engine.images.resolve(name).id
    except (NotFound, InvalidArgument):
        return None


def build(
    engine: Containers,
    project: Project,
    service: Service,
    progress: Progress,
    flags: BuildFlags = BuildFlags(),
) -> str:
    """Build ``service``'s image and tag it; its ID.

    Raises:
        InvalidArgument: the context or the Dockerfile is missing.
        BuildError: a step failed.
    """
    from dockyard.build import builder
    from dockyard.build.context import BuildContext, StatCache
    from dockyard.build.dockerfile.parser import parse
    from dockyard.build.dockerfile.stages import plan
    from dockyard.build.output import source_date_epoch
    from dockyard.oci.reference import parse_reference

    spec = service.build
    assert spec is not None
    context_dir = Path(spec.context)
    if not context_dir.is_dir():
        raise InvalidArgument(
            f"service {service.name}: build context {context_dir} not found",
            hint="fix build.context",
        )
    text, name = _dockerfile(service, context_dir)
    args = {**spec.args, **(flags.args or {})}
    parsed = parse(text, filename=name)
    build_plan = plan(
        parsed.nodes,
        build_args=args,
        target=spec.target or None,
        escape=parsed.directives.escape,
        resolve_image=builder.resolve_base(engine, flags.find),
    )
    for warning in (*parsed.warnings, *build_plan.warnings):
        progress.note(warning.render(name))
    state = engine.store.root / "build"
    context = BuildContext(
        context_dir,
        builder.read_dockerignore(context_dir, name),
        stat_cache=StatCache(state / "stat-cache.json"),
    )
    options = builder.BuildOptions(
        no_cache=spec.no_cache or flags.no_cache,
        labels=dict(spec.labels),
        network=spec.network if spec.network not in ("", "default") else "bridge",
        state_dir=state,
        find_image=flags.find,
        epoch=source_date_epoch(args),
        dockerfile=name,
    )
    image = builder.build(engine, build_plan, context, progress, options)
    for tag in (service.image_name(project.name), *spec.tags):
        engine.images.db.set_ref(str(parse_reference(tag).with_default_tag()), image.id)
    return image.id


def _dockerfile(service: Service, context_dir: Path) -> tuple[str, str]:
    spec = service.build
    assert spec is not None
    if spec.dockerfile_inline:
        return spec.dockerfile_inline, "Dockerfile"
    path = context_dir / spec.dockerfile
    try:
        return path.read_text(), path.name
    except OSError as err:
        raise InvalidArgument(
            f"service {service.name}: cannot read {path}: {err.strerror}",
            hint="fix build.dockerfile",
        ) from None
