"""Pulling on behalf of other commands: ``run``/``create --pull``, ``build`` FROM, compose.

``run`` with a local image imports nothing from here beyond this module's own names: the
registry client (httpx) is imported only when a pull really happens.

Policies (docker's ``--pull``): ``missing`` pulls an image that is not here, printing
"Unable to find image 'x:latest' locally" first; ``always`` pulls every time; ``never``
never does. Pull progress goes to stderr, so the command's own output stays clean. A pull
asks for the ``--platform`` given (this host's otherwise).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from dockyard.cli.context import AppContext
from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.distribution.client.session import RegistrySession
    from dockyard.metadata import ImageRecord
    from dockyard.oci.platform import Platform

POLICIES = ("missing", "always", "never")


def session_for(app: AppContext) -> RegistrySession:
    """A registry session with the engine config's registry settings and docker's logins."""
    from dockyard.distribution.client.credentials import DockerConfig
    from dockyard.distribution.client.endpoints import DEFAULT_CERTS_DIRS, RegistryConfig
    from dockyard.distribution.client.session import RegistrySession

    settings = app.settings
    certs = tuple(Path(p) for p in settings.registry_certs_dirs) or DEFAULT_CERTS_DIRS
    config = RegistryConfig(
        mirrors=settings.registry_mirrors,
        insecure=settings.insecure_registries,
        certs_dirs=certs,
    )
    return RegistrySession(config, DockerConfig())


def pull_image(
    app: AppContext,
    name: str,
    *,
    quiet: bool = False,
    platform: Platform | None = None,
    stream: TextIO | None = None,
) -> ImageRecord:
    """Pull ``name`` with progress on ``stream`` (stderr by default); return the image."""
    from dockyard.cli.transfer_progress import close, progress_for
    from dockyard.image.pull import pull

    progress = progress_for(quiet, stream=stream or sys.stderr)
    try:
        with session_for(app) as session:
            result = pull(app.images, session, name, platform=platform, progress=progress)
    finally:
        close(progress)
    return result.image


def ensure_image(
    app: AppContext,
    name: str,
    policy: str,
    *,
    quiet: bool = False,
    platform: Platform | None = None,
) -> None:
    """Make ``name`` local according to ``policy`` (see the module docstring); a pull asks
    for ``platform`` (None: this host's). A local image is not checked against ``platform``
    here: ``create`` does that.

    Raises:
        InvalidArgument: an unknown policy.
        and what ``pull`` raises.
    """
    if policy not in POLICIES:
        raise InvalidArgument(f'invalid pull option: "{policy}"',
                              hint="use always, missing or never")  # fmt: skip
    if policy == "never" or not _pullable(name):
        return
    if policy == "missing":
        if app.images.image_or_none(name) is not None:
            return
        from dockyard.image.resolve import display_name

        click.echo(f"Unable to find image '{display_name(name)}' locally", err=True)
    pull_image(app, name, quiet=quiet, platform=platform)


def _pullable(name: str) -> bool:
    """A reference a registry can serve (an image ID or ID prefix typed as such is not)."""
    from dockyard.oci.reference import is_reference

    return not name.startswith("sha256:") and name.lower() != "scratch" and is_reference(name)


def base_image_finder(
    app: AppContext, *, always: bool, quiet: bool
) -> Callable[[str], ImageRecord]:
    """``build``'s way to get a FROM image: local, pulled when missing, or (``--pull``)
    pulled once per build whatever is local."""
    pulled: dict[str, ImageRecord] = {}

    def find(ref: str) -> ImageRecord:
        if ref in pulled:
            return pulled[ref]
        if not always:
            image = app.images.image_or_none(ref)
            if image is not None:
                return image
            if not _pullable(ref):
                return app.images.resolve(ref)  # raises NotFound
        pulled[ref] = pull_image(app, ref, quiet=quiet)
        return pulled[ref]

    return find
