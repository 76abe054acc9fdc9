"""``build``: a Dockerfile and a context directory into a tagged image."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from dockyard.cli.build_progress import progress_for
from dockyard.cli.context import AppContext
from dockyard.cli.pulling import base_image_finder
from dockyard.errors import DockyardError, InvalidArgument, Unsupported

pass_app = click.make_pass_decorator(AppContext)


def _refuse_unsupported(platform: str | None) -> None:
    """Flags docker has that dockyard cannot honour yet: a clear error, never ignored."""
    from dockyard.oci.platform import host_platform

    if platform and platform.removeprefix("linux/") != str(host_platform()).removeprefix("linux/"):
        raise Unsupported(f"--platform {platform}: only this machine's platform "
                          f"({host_platform()}) can be built")  # fmt: skip


@contextlib.contextmanager
def _context_dir(path: str, dockerfile: str | None) -> Iterator[Path]:
    """The context directory; ``-`` reads a tar of it from stdin (into a temporary directory,
    extracted with the same safe extraction as ``cp``)."""
    if path != "-":
        context_dir = Path(path)
        if not context_dir.is_dir():
            raise InvalidArgument(f"unable to prepare context: path {path!r} not found",
                                  hint="give the build context directory, e.g. `.`")  # fmt: skip
        yield context_dir
        return
    if dockerfile == "-":
        raise InvalidArgument("the context and the Dockerfile cannot both come from stdin")
    import tempfile

    from dockyard.engine.copy import copy_in

    with tempfile.TemporaryDirectory(prefix="dockyard-context-") as tmp:
        copy_in(Path(tmp), "/", sys.stdin.buffer, archive=True)
        yield Path(tmp)


def _read_dockerfile(dockerfile: str | None, context_dir: Path) -> tuple[str, str]:
    """(text, name) of the Dockerfile: ``-f -`` is stdin; ``-f`` may be outside the context."""
    if dockerfile == "-":
        return sys.stdin.read(), "Dockerfile"
    file = Path(dockerfile) if dockerfile else context_dir / "Dockerfile"
    if not file.is_file():
        raise InvalidArgument(
            f"failed to read dockerfile: open {file}: no such file",
            hint="give it with -f, or put a Dockerfile in the context",
        )
    return file.read_text(), file.name


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    import os

    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid argument {item!r} for {flag}")
        out[key] = value if sep else os.environ.get(key, "")
    return out


@click.command("build")
@click.option("-t", "--tag", "tags", multiple=True, help="Name and optionally a tag (name:tag).")
@click.option(
    "-f", "--file", "dockerfile", help="Name of the Dockerfile (default: PATH/Dockerfile)."
)
@click.option("--build-arg", "build_args", multiple=True, help="Set build-time variables.")
@click.option("--target", help="Set the target build stage to build.")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image.")
@click.option("--no-cache-filter", "no_cache_filter", multiple=True,
              help="Do not use the cache for the steps of these stages.")  # fmt: skip
@click.option("--label", "labels", multiple=True, help="Set metadata for an image.")
@click.option(
    "-q", "--quiet", is_flag=True, help="Suppress the build output and print image ID on success."
)
@click.option(
    "--network",
    default="default",
    help="Networking for the RUN instructions: default (the bridge network), NAME, host, none.",
)
@click.option("--progress", type=click.Choice(["auto", "plain", "tty"]), default="auto",
              help="Type of progress output (auto: tty on a terminal, else plain).")  # fmt: skip
@click.option("--platform", help="Target platform (this machine's only).")
@click.option("--pull", is_flag=True, help="Always pull the base images (FROM).")
@click.option(
    "--secret", "secrets", multiple=True,
    help="A secret for RUN --mount=type=secret: id=ID[,src=PATH|env=VAR].",
)  # fmt: skip
@click.option("--iidfile", help="Write the image ID to the file.")
@click.option(
    "--check", is_flag=True, help="Check the Dockerfile (parse, plan, lint) without building."
)
@click.option("--cache-explain", is_flag=True,
              help="Print for each step whether the cache was hit and, if not, why.")  # fmt: skip
@click.option("-o", "--output", "outputs", multiple=True,
              help="Export the filesystem: type=local,dest=DIR or type=tar,dest=FILE.")  # fmt: skip
@click.argument("path")
@pass_app
def build_cmd(
    app: AppContext, /, tags: tuple[str, ...], dockerfile: str | None,
    build_args: tuple[str, ...], target: str | None, no_cache: bool,
    no_cache_filter: tuple[str, ...], labels: tuple[str, ...],
    quiet: bool, network: str, progress: str, platform: str | None, pull: bool,
    secrets: tuple[str, ...], iidfile: str | None, check: bool, cache_explain: bool,
    outputs: tuple[str, ...], path: str,
) -> None:  # fmt: skip
    """Build an image from a Dockerfile."""
    from dockyard.build import builder
    from dockyard.build.context import BuildContext, StatCache
    from dockyard.build.dockerfile.parser import parse
    from dockyard.build.dockerfile.stages import plan
    from dockyard.build.output import export, parse_output, source_date_epoch
    from dockyard.build.secrets import parse_secrets
    from dockyard.oci.reference import parse_reference

    stack = contextlib.ExitStack()
    try:
        _refuse_unsupported(platform)
        context_dir = stack.enter_context(_context_dir(path, dockerfile))
        text, name = _read_dockerfile(dockerfile, context_dir)
        names = [str(parse_reference(t).with_default_tag()) for t in tags]
        exports = [parse_output(o) for o in outputs]
        parsed = parse(text, filename=name)
        engine = app.containers
        find = base_image_finder(app, always=pull, quiet=quiet)  # FROM: pulls what is missing
        args = _pairs(build_args, "--build-arg")
        build_plan = plan(
            parsed.nodes, build_args=args, target=target,
            escape=parsed.directives.escape, resolve_image=builder.resolve_base(engine, find),
        )  # fmt: skip
        for warning in (*parsed.warnings, *build_plan.warnings):
            click.echo(warning.render(name), err=True)
        if check:
            click.echo(f"{name}: {len(build_plan.stages)} stage(s) to build, no errors", err=True)
            return
        context = BuildContext(
            context_dir, builder.read_dockerignore(context_dir, name),
            stat_cache=StatCache(app.settings.root / "build" / "stat-cache.json"),
        )  # fmt: skip
        options = builder.BuildOptions(
            no_cache=no_cache, labels=_pairs(labels, "--label"),
            no_cache_stages=frozenset(n.lower() for v in no_cache_filter for n in v.split(",")),
            network="bridge" if network == "default" else network,
            state_dir=app.settings.root / "build", epoch=source_date_epoch(args),
            cache_explain=cache_explain, dockerfile=str(dockerfile or ""),
            secrets=parse_secrets(secrets, os.environ), find_image=find,
        )  # fmt: skip
        shown = stack.enter_context(contextlib.closing(progress_for(progress, quiet)))
        image = builder.build(engine, build_plan, context, shown, options)
        for out in exports:
            export(engine, image, out)
        for ref in names:
            app.images.db.set_ref(ref, image.id)
    except DockyardError as err:
        from dockyard.cli.main import no_space

        if no_space(err) is not None:
            raise  # a full disk, said as every command says it (exit 125)
        click.echo(f"Error: {err.message}", err=True)
        if err.hint:
            click.echo(f"Hint: {err.hint}", err=True)
        raise click.exceptions.Exit(1) from err
    finally:
        stack.close()
    if iidfile:
        Path(iidfile).write_text(image.id)
    if quiet:
        click.echo(image.id)
        return
    click.echo(f"Successfully built {image.id[7:19]}")
    for ref in tags:
        click.echo(f"Successfully tagged {ref}")
