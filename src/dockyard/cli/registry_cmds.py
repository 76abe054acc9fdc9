"""``dockyard registry``: run the registry server and manage it.

``serve`` runs the server; ``gc`` and ``check`` maintain its storage; ``user``, ``team``,
``grant``, ``revoke``, ``grants`` and ``repo`` manage access rights. Every command takes
``--root`` (default ``$DOCKYARD_REGISTRY_ROOT`` or ``/var/lib/dockyard-registry``) and works
while the server runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dockyard.cli.output import emit_rows

if TYPE_CHECKING:
    from dockyard.distribution.server.admin import RegistryAdmin
    from dockyard.distribution.server.config import ServerConfig

ROOT_ENV = "DOCKYARD_REGISTRY_ROOT"
DEFAULT_ROOT = "/var/lib/dockyard-registry"

root_option = click.option(
    "--root",
    envvar=ROOT_ENV,
    type=click.Path(path_type=Path),
    help=f"Registry root (default ${ROOT_ENV} or {DEFAULT_ROOT}).",
)
config_option = click.option(
    "--config", "config_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="TOML config file (see docs/registry.md).",
)  # fmt: skip


def _config(config_file: Path | None, **overrides: object) -> ServerConfig:
    from dockyard.distribution.server import config

    return config.load(config_file, **overrides)


def _admin(root: Path | None) -> RegistryAdmin:
    from dockyard.distribution.server.admin import RegistryAdmin

    return RegistryAdmin(root or Path(DEFAULT_ROOT))


@click.command("serve")
@click.option("--addr", help="Listen on HOST:PORT (default 127.0.0.1:5000; port 0: any free).")
@root_option
@click.option("--tls-cert", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--tls-key", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@config_option
@click.option(
    "--auth", type=click.Choice(["token", "basic", "none"]),
    help="Authentication: token (Docker token flow, default), basic, or none (no access "
    "control at all).",
)  # fmt: skip
def serve_cmd(
    addr: str | None,
    root: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    config_file: Path | None,
    auth: str | None,
) -> None:
    """Run the registry server until SIGTERM or SIGINT."""
    import logging

    from dockyard.distribution.server.serve import serve

    config = _config(
        config_file, addr=addr, root=root, tls_cert=tls_cert, tls_key=tls_key, auth=auth
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("dockyard.registry.access", "dockyard.registry"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False

    def ready(url: str) -> None:
        click.echo(f"dockyard registry listening on {url} (root {config.root})")
        sys.stdout.flush()

    serve(config, ready)


@click.command("gc")
@root_option
@config_option
@click.option("--dry-run", is_flag=True, help="Only show what would be removed.")
@click.option("--grace", help="Keep blobs pushed more recently than this (default 1h).")
def gc_cmd(root: Path | None, config_file: Path | None, dry_run: bool, grace: str | None) -> None:
    """Remove blobs, links and uploads that nothing references (safe while serving)."""
    from dockyard._util.units import human_size
    from dockyard.distribution.server.gc import collect
    from dockyard.distribution.server.storage import RegistryStorage

    config = _config(config_file, root=root, gc_grace=grace)
    report = collect(
        RegistryStorage(config.root), grace=config.gc_grace, upload_ttl=config.upload_ttl,
        dry_run=dry_run,
    )  # fmt: skip
    verb = "would remove" if dry_run else "removed"
    for upload in report.uploads:
        click.echo(f"{verb} upload {upload}")
    for name in report.stray_ingests:
        click.echo(f"{verb} stray ingest file {name}")
    for repo, digest in report.links:
        click.echo(f"{verb} link {repo}@{digest}")
    for digest, size in report.blobs:
        click.echo(f"{verb} blob {digest} ({human_size(size)})")
    click.echo(
        f"{len(report.blobs)} blob(s), {len(report.links)} link(s), {len(report.uploads)} "
        f"upload(s): {human_size(report.bytes_freed)} {'reclaimable' if dry_run else 'freed'}"
    )


@click.command("check")
@root_option
@click.option("--repair", is_flag=True, help="Remove corrupt blobs and dead upload sessions.")
def check_cmd(root: Path | None, repair: bool) -> None:
    """Check the storage: every blob hashes to its name and the index matches the blobs."""
    from dockyard.distribution.server.check import check
    from dockyard.distribution.server.storage import RegistryStorage

    findings = check(RegistryStorage(root or Path(DEFAULT_ROOT)), repair=repair)
    for finding in findings:
        click.echo(f"{finding.kind}: {finding.detail}")
    problems = sum(1 for f in findings if f.is_problem)
    click.echo(f"{problems} problem(s)" if problems else "storage is consistent")
    if problems:
        raise click.exceptions.Exit(1)


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.read().removesuffix("\n").removesuffix("\r")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group("user")
def user_group() -> None:
    """Manage registry users."""


@user_group.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@root_option
def user_add_cmd(name: str, password_stdin: bool, root: Path | None) -> None:
    """Create a user."""
    _admin(root).add_user(name, _password(password_stdin))


@user_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@root_option
def user_passwd_cmd(name: str, password_stdin: bool, root: Path | None) -> None:
    """Change a user's password."""
    _admin(root).set_password(name, _password(password_stdin))


@user_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@root_option
def user_rm_cmd(names: tuple[str, ...], root: Path | None) -> None:
    """Remove users (with their grants and team memberships)."""
    admin = _admin(root)
    for name in names:
        admin.remove_user(name)


@user_group.command("ls")
@root_option
def user_ls_cmd(root: Path | None) -> None:
    """List users."""
    for name in _admin(root).users():
        click.echo(name)


@click.group("team")
def team_group() -> None:
    """Manage teams (grants to a team apply to its members)."""


@team_group.command("add")
@click.argument("name")
@root_option
def team_add_cmd(name: str, root: Path | None) -> None:
    """Create a team."""
    _admin(root).add_team(name)


@team_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@root_option
def team_rm_cmd(names: tuple[str, ...], root: Path | None) -> None:
    """Remove teams (with their grants)."""
    admin = _admin(root)
    for name in names:
        admin.remove_team(name)


@team_group.command("member")
@click.argument("action", type=click.Choice(["add", "rm"]))
@click.argument("team")
@click.argument("users", nargs=-1, required=True)
@root_option
def team_member_cmd(action: str, team: str, users: tuple[str, ...], root: Path | None) -> None:
    """Add users to a team, or remove them: ``team member add|rm TEAM USER...``."""
    admin = _admin(root)
    for user in users:
        admin.set_member(team, user, action == "add")


@team_group.command("ls")
@root_option
def team_ls_cmd(root: Path | None) -> None:
    """List teams and their members."""
    for team, members in _admin(root).teams().items():
        click.echo(f"{team}: {' '.join(members)}".rstrip())


_PERMISSIONS = click.Choice(["pull", "push", "delete", "admin"])


@click.command("grant")
@click.argument("principal")
@click.argument("permission", type=_PERMISSIONS)
@click.argument("target")
@root_option
def grant_cmd(principal: str, permission: str, target: str, root: Path | None) -> None:
    """Give a user or team PERMISSION on a repository, a namespace (NS/*) or * (all)."""
    _admin(root).grant(principal, permission, target)


@click.command("revoke")
@click.argument("principal")
@click.argument("permission", type=_PERMISSIONS)
@click.argument("target")
@root_option
def revoke_cmd(principal: str, permission: str, target: str, root: Path | None) -> None:
    """Take back a grant."""
    if not _admin(root).revoke(principal, permission, target):
        click.echo(f"{principal} had no {permission} grant on {target}", err=True)


@click.command("grants")
@root_option
@click.option("--format", "fmt", help="Format with a Go template, 'table …' or 'json'.")
def grants_cmd(root: Path | None, fmt: str | None) -> None:
    """List every grant."""
    headers = {"principal": "PRINCIPAL", "kind": "KIND", "permission": "PERMISSION",
               "target": "TARGET"}  # fmt: skip
    default = "table {{.principal}}\t{{.kind}}\t{{.permission}}\t{{.target}}"
    emit_rows(_admin(root).grants(), fmt=fmt, default=default, headers=headers)


@click.group("repo")
def repo_group() -> None:
    """Manage repositories."""


@repo_group.command("set-visibility")
@click.argument("target")
@click.argument("visibility", type=click.Choice(["public", "private", "inherit"]))
@root_option
def set_visibility_cmd(target: str, visibility: str, root: Path | None) -> None:
    """Make a repository or namespace (NS/*, or * for all) public or private."""
    _admin(root).set_visibility(target, visibility)


@repo_group.command("ls")
@root_option
@config_option
def repo_ls_cmd(root: Path | None, config_file: Path | None) -> None:
    """List repositories and their visibility."""
    config = _config(config_file, root=root)
    rows = _admin(config.root).repositories(config.default_visibility)
    headers = {"name": "REPOSITORY", "visibility": "VISIBILITY", "source": "SET ON"}
    emit_rows(rows, fmt=None, default="table {{.name}}\t{{.visibility}}\t{{.source}}",
              headers=headers)  # fmt: skip
