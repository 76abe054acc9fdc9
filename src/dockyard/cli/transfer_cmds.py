"""Registry commands: ``pull``, ``push``, ``login``, ``logout``, ``search`` (docker's output)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

import click

from dockyard._util.numbers import is_uint
from dockyard.cli.context import AppContext
from dockyard.cli.output import emit_rows
from dockyard.cli.pulling import session_for
from dockyard.cli.transfer_progress import close, progress_for
from dockyard.errors import InvalidArgument
from dockyard.oci.reference import DEFAULT_DOMAIN, parse_reference

pass_app = click.make_pass_decorator(AppContext)
_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")


@click.command("pull")
@click.argument("name")
@click.option(
    "-a", "--all-tags", is_flag=True, help="Download all tagged images in the repository."
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.option("--platform", help="Pull the image of this platform (os/arch[/variant]).")
@click.option("--disable-content-trust", is_flag=True, default=True, hidden=True)
@pass_app
def pull_cmd(app: AppContext, name: str, all_tags: bool, quiet: bool, platform: str | None,
             disable_content_trust: bool) -> None:  # fmt: skip
    """Download an image from a registry."""
    from dockyard.image.pull import pull, pull_all_tags
    from dockyard.oci.platform import parse_platform

    wanted = parse_platform(platform) if platform else None
    ref = parse_reference(name)
    progress = progress_for(quiet)
    try:
        with session_for(app) as session:
            if all_tags:
                progress.message(f"Pulling all tags of {ref.name}")
                results = pull_all_tags(app.images, session, name, platform=wanted,
                                        progress=progress)  # fmt: skip
            else:
                if ref.tag is None and ref.digest is None:
                    progress.message("Using default tag: latest")
                results = [pull(app.images, session, name, platform=wanted, progress=progress)]
    finally:
        close(progress)
    for result in results:
        click.echo(str(result.reference))


@click.command("push")
@click.argument("name")
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of the repository.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.option("--disable-content-trust", is_flag=True, default=True, hidden=True)
@pass_app
def push_cmd(
    app: AppContext, name: str, all_tags: bool, quiet: bool, disable_content_trust: bool
) -> None:
    """Upload an image to a registry."""
    from dockyard.image.push import push

    ref = parse_reference(name)
    if ref.tag is None and ref.digest is None and not all_tags:
        click.echo("Using default tag: latest", err=quiet)
    progress = progress_for(quiet)
    try:
        with session_for(app) as session:
            results = push(app.images, session, name, all_tags=all_tags, progress=progress)
    finally:
        close(progress)
    if quiet:
        for result in results:
            click.echo(str(result.reference))


def registry_of(server: str | None) -> str:
    """The registry a ``login``/``logout`` argument names (docker.io by default).

    ``https://host:5000/v1/`` -> ``host:5000``; Docker Hub's names -> ``docker.io``.
    """
    if not server:
        return DEFAULT_DOMAIN
    host = urlsplit(server).netloc if "://" in server else server.partition("/")[0]
    if not host:
        raise InvalidArgument(f'invalid registry address "{server}"')
    return DEFAULT_DOMAIN if host in _HUB_NAMES else host


@click.command("login")
@click.argument("server", required=False)
@click.option("-u", "--username", help="Username.")
@click.option("-p", "--password", help="Password (prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@pass_app
def login_cmd(app: AppContext, server: str | None, username: str | None, password: str | None,
              password_stdin: bool) -> None:  # fmt: skip
    """Log in to a registry (docker.io by default); shared with docker through its config."""
    from dockyard.distribution.client.credentials import Credentials, DockerConfig

    registry = registry_of(server)
    store = DockerConfig()
    if password is not None:
        click.echo("WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
                   err=True)  # fmt: skip
        if password_stdin:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise InvalidArgument("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    stored = store.get(registry) if not (username or password) else None
    if stored is not None:
        creds = stored
        click.echo("Authenticating with existing credentials...")
    else:
        username = username or _prompt("Username", hide=False)
        password = password if password is not None else _prompt("Password", hide=True)
        if not username or not password:
            raise InvalidArgument("Error: Non-null Username and Password Required")
        creds = Credentials(username=username, password=password)
    with session_for(app) as session:
        session.login(registry, creds)
    if stored is None:
        store.store(registry, creds)
        if not store.helper(registry):
            click.echo(f"WARNING! Your password will be stored unencrypted in {store.path}.",
                       err=True)  # fmt: skip
    click.echo("Login Succeeded")


def _prompt(label: str, *, hide: bool) -> str:
    if not sys.stdin.isatty():
        raise InvalidArgument(
            f"Cannot perform an interactive login from a non TTY device ({label.lower()} needed)",
            hint="pass -u USER and --password-stdin",
        )
    return str(click.prompt(label, hide_input=hide, err=True))


@click.command("logout")
@click.argument("server", required=False)
@pass_app
def logout_cmd(app: AppContext, server: str | None) -> None:
    """Log out from a registry (docker.io by default)."""
    from dockyard.distribution.client.credentials import DockerConfig, server_key

    registry = registry_of(server)
    key = server_key(registry)
    if DockerConfig().erase(registry):
        click.echo(f"Removing login credentials for {key}")
    else:
        click.echo(f"Not logged in to {key}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchRow:
    """One line of ``search``; attribute names are the ``--format`` fields."""

    Name: str
    Description: str
    StarCount: int
    IsOfficial: str
    IsAutomated: str


SEARCH_HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
                  "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED"}  # fmt: skip


@click.command("search")
@click.argument("term")
@click.option("-f", "--filter", "filters", multiple=True,
              help="Filter (stars=N, is-official=BOOL, is-automated=BOOL).")  # fmt: skip
@click.option("--format", "fmt", help="Format with a Go template, 'table …' or 'json'.")
@click.option("--limit", type=int, default=25, help="Max number of search results.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@pass_app
def search_cmd(app: AppContext, term: str, filters: tuple[str, ...], fmt: str | None, limit: int,
               no_trunc: bool) -> None:  # fmt: skip
    """Search a registry for images (Docker Hub by default; ``host:port/term`` elsewhere)."""
    if not 1 <= limit <= 100:
        raise InvalidArgument(f"limit {limit} is outside the range of [1, 100]")
    first, slash, rest = term.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, words = registry_of(first), rest
    else:
        registry, words = DEFAULT_DOMAIN, term
    wanted = _search_filters(filters)
    with session_for(app) as session:
        results = session.search(registry, words, limit)
    rows = []
    for r in results:
        if r.stars < wanted.get("stars", 0) or any(
            getattr(r, key) != value for key, value in wanted.items() if key != "stars"
        ):
            continue
        description = r.description
        if not no_trunc and len(description) > 45:
            description = description[:44] + "…"
        rows.append(SearchRow(Name=r.name, Description=description, StarCount=r.stars,
                              IsOfficial="[OK]" if r.official else "",
                              IsAutomated="[OK]" if r.automated else ""))  # fmt: skip
    default = ("table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"
               "\t{{.IsAutomated}}")  # fmt: skip
    emit_rows(rows, fmt=fmt, default=default, headers=SEARCH_HEADERS)


def _search_filters(filters: tuple[str, ...]) -> dict[str, int | bool]:
    wanted: dict[str, int | bool] = {}
    for item in filters:
        key, _, value = item.partition("=")
        if key == "stars" and is_uint(value):
            wanted["stars"] = int(value)
        elif key in ("is-official", "is-automated") and value in ("true", "false"):
            wanted[key.removeprefix("is-")] = value == "true"
        else:
            raise InvalidArgument(
                f'invalid filter "{item}"',
                hint="use stars=N, is-official=BOOL or is-automated=BOOL",
            )
    return wanted
