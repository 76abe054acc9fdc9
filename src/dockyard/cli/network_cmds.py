"""Network commands: ``network create``, ``ls``, ``inspect``, ``rm`` and ``prune``, like docker's.

``host`` and ``none`` are network modes, not stored networks; ``ls`` and ``inspect`` show
them as docker does (drivers ``host`` and ``null``, stable IDs). The default network
``bridge`` is created on first use (``ls`` makes it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from dockyard.cli.context import AppContext
from dockyard.cli.output import emit_inspected, emit_rows, fail_with
from dockyard.errors import (
    Conflict,
    DockyardError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unsupported,
)

if TYPE_CHECKING:
    from dockyard.network.model import Network

NETWORK_HEADERS = {
    "CreatedAt": "CREATED AT", "Driver": "DRIVER", "ID": "NETWORK ID", "IPv6": "IPV6",
    "Internal": "INTERNAL", "Labels": "LABELS", "Name": "NAME", "Scope": "SCOPE",
}  # fmt: skip
FILTERS = ("driver", "id", "label", "name", "scope", "type")
BUILTIN = ("bridge", "host", "none")

pass_app = click.make_pass_decorator(AppContext)


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkRow:
    """One line of ``network ls``; attribute names are docker's ``--format`` fields.
    ``{{.Label "key"}}`` reads one label."""

    CreatedAt: str
    Driver: str
    ID: str
    IPv6: str
    Internal: str
    Labels: str
    Name: str
    Scope: str
    full_id: str = ""
    label_pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, network: Network, *, trunc: bool) -> NetworkRow:
        from dockyard._util import rfc3339

        pairs = tuple(sorted(network.labels.items()))
        return cls(
            CreatedAt=rfc3339.format_docker(rfc3339.parse(network.created)),
            Driver=network.driver, ID=network.id[:12] if trunc else network.id,
            IPv6="false", Internal=str(network.internal).lower(),
            Labels=",".join(f"{k}={v}" for k, v in pairs), Name=network.name, Scope="local",
            full_id=network.id, label_pairs=pairs,
        )  # fmt: skip

    @classmethod
    def mode(cls, mode: str, *, trunc: bool) -> NetworkRow:
        from dockyard.network.inspect import MODE_DRIVERS, MODE_IDS

        full = MODE_IDS[mode]
        return cls(CreatedAt="0001-01-01 00:00:00 +0000 UTC", Driver=MODE_DRIVERS[mode],
                   ID=full[:12] if trunc else full, IPv6="false", Internal="false", Labels="",
                   Name=mode, Scope="local", full_id=full)  # fmt: skip

    def Label(self, name: str) -> str:  # docker's template method name
        return dict(self.label_pairs).get(name, "")

    def to_json(self) -> dict[str, str]:
        """``{{json .}}``: docker's keys, in its (sorted) order."""
        return {key: getattr(self, key) for key in NETWORK_HEADERS}


@click.command("create")
@click.argument("name")
@click.option("-d", "--driver", default="bridge", show_default=True, help="Network driver.")
@click.option("--subnet", "subnets", multiple=True, help="Subnet in CIDR format.")
@click.option("--gateway", "gateways", multiple=True, help="Gateway address of the subnet.")
@click.option("--ip-range", "ip_ranges", multiple=True, help="Allocate container IPs from it.")
@click.option("--internal", is_flag=True, help="Restrict external access to the network.")
@click.option("--label", "labels", multiple=True, help="Set metadata on a network (KEY=VALUE).")
@click.option("-o", "--opt", "opts", multiple=True, help="Driver options (KEY=VALUE).")
@click.option("--ipv6", is_flag=True, help="Enable IPv6 (not supported).")
@pass_app
def create_cmd(
    app: AppContext,
    /,
    name: str,
    driver: str,
    subnets: tuple[str, ...],
    gateways: tuple[str, ...],
    ip_ranges: tuple[str, ...],
    internal: bool,
    labels: tuple[str, ...],
    opts: tuple[str, ...],
    ipv6: bool,
) -> None:
    """Create a network; print its ID."""
    if ipv6:
        raise Unsupported("network create --ipv6: IPv6 networks are not supported")
    network = app.networks.create(
        name, subnet=_one(subnets, "--subnet"), gateway=_one(gateways, "--gateway"),
        ip_range=_one(ip_ranges, "--ip-range"), internal=internal,
        labels=_key_values(labels, "--label"), options=_key_values(opts, "-o"), driver=driver,
    )  # fmt: skip
    click.echo(network.id)


@click.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs.")
@click.option(
    "-f", "--filter", "filters", multiple=True,
    help="Filter (driver=, id=, label=KEY[=VALUE], name=, scope=local, type=custom|builtin).",
)  # fmt: skip
@click.option("--format", "fmt", help="Format with a Go template, 'table …' or 'json'.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output.")
@pass_app
def ls_cmd(
    app: AppContext, /, quiet: bool, filters: tuple[str, ...], fmt: str | None, no_trunc: bool
) -> None:
    """List networks."""
    keep = parse_filters(filters)
    app.networks.default()
    rows = [NetworkRow.of(n, trunc=not no_trunc) for n in app.networks.list()]
    rows += [NetworkRow.mode(mode, trunc=not no_trunc) for mode in ("host", "none")]
    rows = sorted((r for r in rows if keep(r)), key=lambda r: _natural(r.Name))
    if quiet:
        for row in rows:
            click.echo(row.ID)
        return
    default = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
    emit_rows(rows, fmt=fmt, default=default, headers=NETWORK_HEADERS)


@click.command("inspect")
@click.argument("refs", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", help="Format with a Go template.")
@pass_app
def inspect_cmd(app: AppContext, /, refs: tuple[str, ...], fmt: str | None) -> None:
    """Display detailed information on one or more networks."""
    from dockyard.network.inspect import MODE_IDS, mode_json, network_json

    names = {c.id: c.name for c in app.images.db.list_containers()}
    found: list[object] = []
    errors: list[str] = []
    for ref in refs:
        mode = _mode(ref, MODE_IDS)
        try:
            if mode:
                found.append(mode_json(mode))
                continue
            network = app.networks.get(ref)
            endpoints = app.networks.endpoints(network_id=network.id)
            found.append(network_json(network, endpoints, names))
        except DockyardError as err:
            errors.append(str(err))
    emit_inspected(found, errors, fmt)


@click.command("rm")
@click.argument("refs", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Do not error if the network does not exist.")
@pass_app
def rm_cmd(app: AppContext, /, refs: tuple[str, ...], force: bool) -> None:
    """Remove one or more networks (never one with containers attached)."""
    from dockyard.network.inspect import MODE_IDS

    errors: list[str] = []
    for ref in refs:
        try:
            mode = _mode(ref, MODE_IDS)
            if mode:
                raise PermissionDenied(f"{mode} is a pre-defined network and cannot be removed")
            _remove(app, app.networks.get(ref))
        except NotFound as err:
            if not force:  # docker's -f: a missing network is skipped silently
                errors.append(str(err))
            continue
        except DockyardError as err:
            errors.append(str(err))
            continue
        click.echo(ref)
    fail_with(errors)


@click.command("prune")
@click.option("--filter", "filters", multiple=True, help="Filter (until=<time>, label=…).")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@pass_app
def prune_cmd(app: AppContext, /, filters: tuple[str, ...], force: bool) -> None:
    """Remove all custom networks no container uses."""
    from dockyard.cli.prunefilter import parse_prune_filters

    labels, until = parse_prune_filters(filters)
    if not force and not click.confirm(
        "WARNING! This will remove all custom networks not used by at least one container.\n"
        "Are you sure you want to continue?"
    ):
        return
    removed = prune_networks(app, labels, until)
    if removed:
        click.echo("Deleted Networks:")
        for name in removed:
            click.echo(name)


def prune_networks(app: AppContext, labels: Sequence[str], until: float | None) -> list[str]:
    """Remove every user network without endpoints (``network prune``, ``system prune``);
    return their names."""
    from dockyard._util import rfc3339
    from dockyard.image.remove import labels_match

    removed: list[str] = []
    for network in app.networks.list():
        if network.is_default or not labels_match(network.labels, labels):
            continue
        if until is not None and rfc3339.parse(network.created) >= until:
            continue
        try:
            _remove(app, network)
        except Conflict:  # containers are attached: not unused
            continue
        removed.append(network.name)
    return removed


def parse_filters(items: Sequence[str]) -> Callable[[NetworkRow], bool]:
    """``network ls --filter`` items as a predicate: values of one key are alternatives (OR),
    keys and labels must all match (AND); ``name`` and ``id`` are regular expressions searched
    in the name or full ID, as docker's are.

    Raises:
        InvalidArgument: a malformed item, an unknown key, a bad ``type`` or ``scope`` value.
    """
    from dockyard.image.remove import labels_match

    found: dict[str, list[str]] = {key: [] for key in FILTERS}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {item}")
        if key not in found:
            raise InvalidArgument(f"invalid filter '{key}'", hint="use " + ", ".join(FILTERS))
        found[key].append(value)
    for value in found["type"]:
        if value not in ("custom", "builtin"):
            raise InvalidArgument(f"invalid filter: 'type'='{value}'", hint="use custom or builtin")

    def keep(row: NetworkRow) -> bool:
        kind = "builtin" if row.Name in BUILTIN else "custom"
        return (
            _any(found["name"], row.Name, _search)
            and _any(found["id"], row.full_id, _search)
            and _any(found["driver"], row.Driver, str.__eq__)
            and _any(found["scope"], "local", str.__eq__)
            and _any(found["type"], kind, str.__eq__)
            and labels_match(dict(row.label_pairs), found["label"])
        )

    return keep


def _any(wanted: list[str], have: str, match: Callable[[str, str], bool]) -> bool:
    return not wanted or any(match(want, have) for want in wanted)


def _search(pattern: str, text: str) -> bool:
    """Docker's filter match: equal, or the pattern (a regular expression) found in the text."""
    if pattern == text:
        return True
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _remove(app: AppContext, network: Network) -> None:
    """Delete the row, then the bridge, firewall table and helper process."""
    app.networks.remove(network)
    from dockyard.network.client import teardown

    teardown(app.settings.runroot, network)


def _mode(ref: str, mode_ids: dict[str, str]) -> str:
    """``host`` or ``none`` when ``ref`` names one (by name or full ID), else ``""``."""
    for mode, mode_id in mode_ids.items():
        if ref in (mode, mode_id):
            return mode
    return ""


def _one(values: tuple[str, ...], flag: str) -> str:
    if len(values) > 1:
        raise Unsupported(
            f"network create: several {flag} values are not supported",
            hint="a network has one IPv4 subnet",
        )
    return values[0] if values else ""


def _natural(name: str) -> list[object]:
    """Docker's ``sortorder.NaturalLess`` as a sort key: ``net2`` before ``net10``."""
    parts = re.split(r"(\d+)", name)
    return [(int(p), len(p)) if i % 2 else p for i, p in enumerate(parts)]


def _key_values(items: Sequence[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` items (a bare ``KEY`` has the empty value), as docker's CLI parses them."""
    result: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {flag} '{item}': empty key")
        result[key] = value
    return result
