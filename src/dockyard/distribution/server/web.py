"""The read-only web page: ``/`` lists the repositories the viewer may pull, ``/repo/<name>``
shows a repository's tags (digest, size, platform, push time, layers, the pull command), and
``/login`` asks the browser for Basic credentials to see private repositories.

Plain HTML and CSS, no script, no build step; every value from the index is escaped. A
repository the viewer may not pull answers exactly as one that does not exist.
"""

from __future__ import annotations

import time
from html import escape

from aiohttp import web

from dockyard._util.units import human_size
from dockyard.distribution.server import names
from dockyard.distribution.server.access import Identity, Permission
from dockyard.distribution.server.apierror import ApiError
from dockyard.distribution.server.context import REGISTRY, Registry, base_url
from dockyard.metadata.registrydb import ManifestRecord, TagRecord

MAX_LISTED = 1000
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#222}
h1{font-size:1.5rem}h1 a{color:inherit;text-decoration:none}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .6rem;
border-bottom:1px solid #ddd;vertical-align:top}th{background:#f4f4f4}
code{font-family:ui-monospace,monospace;font-size:.9em}.muted{color:#777}
details summary{cursor:pointer}ol{margin:.3rem 0;padding-left:1.4rem}
"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    html = (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f'<body><h1><a href="/">Dockyard registry</a></h1>{body}</body></html>\n'
    )
    return web.Response(text=html, content_type="text/html", status=status)


async def _viewer(request: web.Request, registry: Registry) -> Identity | web.Response:
    try:
        return await registry.auth.identify(
            request.headers.get("Authorization"), base_url(request, registry.config)
        )
    except ApiError:
        return _ask_login(registry)


def _ask_login(registry: Registry) -> web.Response:
    response = _page("Log in", "<p>Wrong user or password.</p>", status=401)
    response.headers["WWW-Authenticate"] = f'Basic realm="{registry.config.service}"'
    return response


async def login(request: web.Request) -> web.StreamResponse:
    """``/login``: a Basic challenge until the browser sends good credentials."""
    registry = request.app[REGISTRY]
    viewer = await _viewer(request, registry)
    if isinstance(viewer, web.Response):
        return viewer
    if viewer.user is None and not registry.auth.open:
        return _ask_login(registry)
    raise web.HTTPSeeOther("/")


async def index(request: web.Request) -> web.StreamResponse:
    """``/``: the repositories the viewer may pull."""
    registry = request.app[REGISTRY]
    viewer = await _viewer(request, registry)
    if isinstance(viewer, web.Response):
        return viewer
    policy = registry.auth.policy(viewer)
    db = registry.storage.db
    rows = []
    for repo in db.repositories():
        if Permission.PULL not in policy.permissions(repo):
            continue
        tags = db.tags(repo)
        latest = _when(tags[0].pushed) if tags else "-"
        rows.append(
            f'<tr><td><a href="/repo/{escape(repo)}">{escape(repo)}</a></td>'
            f"<td>{len(tags)}</td><td>{latest}</td></tr>"
        )
        if len(rows) >= MAX_LISTED:
            break
    who = (
        f"Signed in as <b>{escape(viewer.user)}</b>."
        if viewer.user
        else '<a href="/login">Log in</a> to see private repositories.'
    )
    table = (
        "<table><tr><th>Repository</th><th>Tags</th><th>Last push</th></tr>"
        + "".join(rows)
        + "</table>"
        if rows
        else '<p class="muted">No repositories to show.</p>'
    )
    return _page("Repositories", f"<p class=muted>{who}</p><h2>Repositories</h2>{table}")


async def repository(request: web.Request) -> web.StreamResponse:
    """``/repo/<name>``: a repository's tags."""
    registry = request.app[REGISTRY]
    viewer = await _viewer(request, registry)
    if isinstance(viewer, web.Response):
        return viewer
    repo = request.match_info["name"]
    policy = registry.auth.policy(viewer)
    db = registry.storage.db
    if (
        not names.is_repository(repo)
        or Permission.PULL not in policy.permissions(repo)
        or not db.repository_exists(repo)
    ):
        return _page("Not found", "<p>No such repository.</p>", status=404)
    host = escape(request.host)
    rows = [_tag_row(registry, tag, host) for tag in db.tags(repo)]
    table = (
        "<table><tr><th>Tag</th><th>Digest</th><th>Size</th><th>Platform</th><th>Pushed</th>"
        "<th>Pull</th></tr>" + "".join(rows) + "</table>"
        if rows
        else '<p class="muted">No tags.</p>'
    )
    return _page(repo, f"<h2>{escape(repo)}</h2>{table}")


def _tag_row(registry: Registry, tag: TagRecord, host: str) -> str:
    rec = registry.storage.db.get_manifest(tag.repo, tag.digest)
    if rec is None:
        return ""
    name = f"{escape(tag.repo)}:{escape(tag.name)}"
    return (
        f"<tr><td>{escape(tag.name)}</td>"
        f'<td><code title="{escape(rec.digest)}">{escape(rec.digest[:19])}…</code></td>'
        f"<td>{human_size(rec.total_size)}</td><td>{escape(rec.platform) or '-'}</td>"
        f"<td>{_when(tag.pushed)}</td>"
        f"<td><code>dockyard pull {host}/{name}</code>{_layers(registry, rec)}</td></tr>"
    )


def _layers(registry: Registry, rec: ManifestRecord) -> str:
    refs = registry.storage.db.manifest_refs(rec.repo, rec.digest)
    items = [
        f"<li>{escape(r.kind)} <code>{escape(r.digest)}</code> "
        f'<span class="muted">{human_size(r.size)}</span></li>'
        for r in refs
    ]
    children = sum(1 for r in refs if r.kind == "manifest")
    layers = sum(1 for r in refs if r.kind == "layer")
    label = f"{children} manifests" if children else f"{layers} layers"
    return f"<details><summary>{label}</summary><ol>{''.join(items)}</ol></details>"


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
