"""Access rights: every endpoint x {anonymous, reader, writer, admin, other user} x {public,
private repository}, in the token mode (with Basic credentials and with bearer tokens) and the
Basic mode: the endpoint's own status where allowed (writers really push, admins really
delete), 401 UNAUTHORIZED or 403 DENIED where not; refusals never tell a private repository
from one that does not exist; teams, namespaces and live changes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import jwt
import pytest
from aiohttp import ClientResponse
from tests.distribution.server.conftest import (
    PASSWORD,
    Client,
    Harness,
    basic,
    digest_of,
    errors_of,
    image,
    page_row,
    page_time,
    push_blob,
    push_image,
)

from dockyard._util.units import human_size
from dockyard.distribution.server.config import AuthMode
from dockyard.oci import mediatype

ROLES = ("anonymous", "reader", "writer", "admin", "other")
PULL, PUSH, DELETE = "pull", "push", "delete"
LOGIN, ANYONE = "login", "anyone"  # /v2/: any authenticated caller; the rest: everyone
ALLOWED = {
    ("public", PULL): {"anonymous", "reader", "writer", "admin", "other"},
    ("public", PUSH): {"writer", "admin"},
    ("public", DELETE): {"admin"},
    ("private", PULL): {"reader", "writer", "admin"},
    ("private", PUSH): {"writer", "admin"},
    ("private", DELETE): {"admin"},
}
REPOS = {"public": "pub/app", "private": "priv/app"}
# (auth mode, how callers present themselves): Basic credentials, or bearer tokens from /token
MODES = [("token", "basic"), ("token", "bearer"), ("basic", "basic")]
LAYER = b"layer-v1"

Fields = dict[str, str]
Prepare = Callable[[Client, str, dict[str, str], int], Awaitable[Fields]]


async def _fresh_blob(client: Client, repo: str, admin: dict[str, str], serial: int) -> Fields:
    """A blob only this cell uses, not yet pushed: ``{m}`` its digest, ``body`` its bytes."""
    data = f"blob for cell {serial}".encode()
    return {"m": digest_of(data), "body": data.decode()}


async def _pushed_blob(client: Client, repo: str, admin: dict[str, str], serial: int) -> Fields:
    """A blob only this cell uses, pushed: ``{m}`` its digest."""
    data = f"pushed blob for cell {serial}".encode()
    return {"m": await push_blob(client, repo, data, admin)}


async def _session(client: Client, repo: str, admin: dict[str, str], serial: int) -> Fields:
    """An upload session holding one chunk: ``{u}`` its ID, ``{m}`` the chunk's digest."""
    resp = await client.post(f"/v2/{repo}/blobs/uploads/", headers=admin)
    assert resp.status == 202
    chunk = f"chunk for cell {serial}".encode()
    assert (await client.patch(resp.headers["Location"], data=chunk, headers=admin)).status == 202
    return {"u": resp.headers["Docker-Upload-UUID"], "m": digest_of(chunk)}


async def _tag(client: Client, repo: str, admin: dict[str, str], serial: int) -> Fields:
    """A tag of the v1 manifest, ``{t}``, for this cell to delete."""
    body = await (await client.get(f"/v2/{repo}/manifests/v1", headers=admin)).read()
    oci = {"Content-Type": mediatype.OCI_MANIFEST, **admin}
    tag = f"doomed{serial}"
    assert (await client.put(f"/v2/{repo}/manifests/{tag}", data=body, headers=oci)).status == 201
    return {"t": tag}


async def _manifest(client: Client, repo: str, admin: dict[str, str], serial: int) -> Fields:
    """The v1 manifest's bytes, to push again under another tag."""
    body = await (await client.get(f"/v2/{repo}/manifests/v1", headers=admin)).read()
    return {"body": body.decode()}


@dataclass(frozen=True)
class Case:
    """One endpoint: the permission it needs, the request (a template: ``{r}`` the repository,
    ``{d}`` a layer it holds, and what ``prepare`` adds) and the status when it is allowed."""

    name: str
    permission: str
    method: str
    path: str
    ok: int
    prepare: Prepare | None = None
    content_type: str | None = None


CASES: tuple[Case, ...] = (
    Case("base", LOGIN, "GET", "/v2/", 200),
    Case("catalog", ANYONE, "GET", "/v2/_catalog", 200),
    Case("token", ANYONE, "GET", "/token?service=dockyard-registry&scope=repository:{r}:pull", 200),
    Case("web page", ANYONE, "GET", "/", 200),
    Case("manifest GET", PULL, "GET", "/v2/{r}/manifests/v1", 200),
    Case("manifest HEAD", PULL, "HEAD", "/v2/{r}/manifests/v1", 200),
    Case("blob GET", PULL, "GET", "/v2/{r}/blobs/{d}", 200),
    Case("blob HEAD", PULL, "HEAD", "/v2/{r}/blobs/{d}", 200),
    Case("tags", PULL, "GET", "/v2/{r}/tags/list", 200),
    Case("tags page", PULL, "GET", "/v2/{r}/tags/list?n=1&last=a", 200),
    Case("referrers", PULL, "GET", "/v2/{r}/referrers/{d}", 200),
    Case("upload POST", PUSH, "POST", "/v2/{r}/blobs/uploads/", 202),
    Case("upload POST ?digest", PUSH, "POST", "/v2/{r}/blobs/uploads/?digest={m}", 201,
         _fresh_blob),
    Case("upload GET", PUSH, "GET", "/v2/{r}/blobs/uploads/{u}", 204, _session),
    Case("upload PATCH", PUSH, "PATCH", "/v2/{r}/blobs/uploads/{u}", 202, _session),
    Case("upload PUT", PUSH, "PUT", "/v2/{r}/blobs/uploads/{u}?digest={m}", 201, _session),
    Case("upload DELETE", PUSH, "DELETE", "/v2/{r}/blobs/uploads/{u}", 204, _session),
    Case("manifest PUT", PUSH, "PUT", "/v2/{r}/manifests/v2", 201, _manifest,
         mediatype.OCI_MANIFEST),
    Case("manifest DELETE", DELETE, "DELETE", "/v2/{r}/manifests/{t}", 202, _tag),
    Case("blob DELETE", DELETE, "DELETE", "/v2/{r}/blobs/{m}", 202, _pushed_blob),
)  # fmt: skip


def _setup(secured: Harness, auth: str = "token") -> dict[str, str]:
    """Users and grants; return each role's Basic header ('' for anonymous)."""
    secured.reconfigure(auth=AuthMode(auth))
    headers = {"anonymous": ""}
    for role in ROLES[1:]:
        headers[role] = secured.user(role)
    admin = secured.admin
    for repo in ("pub/*", "priv/*"):
        admin.grant("reader", "pull", repo)
        admin.grant("writer", "push", repo)
        admin.grant("admin", "admin", repo)
    admin.grant("other", "push", "other/*")
    admin.set_visibility("pub/*", "public")
    return headers


async def _token(client: Client, basic_header: str, repo: str) -> str:
    scope = f"repository:{repo}:pull,push,delete"
    headers = {"Authorization": basic_header} if basic_header else {}
    resp = await client.get(f"/token?service=dockyard-registry&scope={scope}", headers=headers)
    assert resp.status == 200
    token: str = (await resp.json())["token"]
    return "Bearer " + token


async def _granted(client: Client, basic_header: str, repo: str) -> object:
    """The ``access`` claim of the token /token gives for pulling ``repo``."""
    token = (await _token(client, basic_header, repo)).removeprefix("Bearer ")
    return jwt.decode(token, options={"verify_signature": False})["access"]


async def _credentials(client: Client, basic_header: str, repo: str, scheme: str) -> str:
    """What a role sends for ``repo``: its Basic header, or a token for the repository."""
    return await _token(client, basic_header, repo) if scheme == "bearer" else basic_header


def _allowed(case: Case, visibility: str, role: str, scheme: str) -> bool:
    if case.permission == ANYONE:
        return True
    if case.permission == LOGIN:  # an anonymous token counts as a login
        return role != "anonymous" or scheme == "bearer"
    return role in ALLOWED[(visibility, case.permission)]


async def _send(
    client: Client, case: Case, path: str, auth: str, basic_header: str, fields: Fields
) -> ClientResponse:
    # /token takes the role's own credentials (Basic or none), whatever the scheme
    header = basic_header if case.name == "token" else auth
    headers = {"Authorization": header} if header else {}
    if case.content_type:
        headers["Content-Type"] = case.content_type
    body = fields.get("body", "").encode() or None
    return await client.request(case.method, path, data=body, headers=headers)


@pytest.mark.parametrize(("auth", "scheme"), MODES)
def test_access_matrix(secured: Harness, auth: str, scheme: str) -> None:
    creds = _setup(secured, auth)

    async def scenario(client: Client) -> None:
        admin = {"Authorization": creds["admin"]}
        for repo in REPOS.values():
            await push_image(client, repo, "v1", [LAYER], headers=admin)
        failures: list[str] = []
        serial = 0
        for visibility, repo in REPOS.items():
            for role in ROLES:
                auth_header = await _credentials(client, creds[role], repo, scheme)
                for case in CASES:
                    serial += 1
                    fields = {"r": repo, "d": digest_of(LAYER)}
                    if case.prepare is not None:
                        fields |= await case.prepare(client, repo, admin, serial)
                    path = case.path.format(**fields)
                    resp = await _send(client, case, path, auth_header, creds[role], fields)
                    allowed = _allowed(case, visibility, role, scheme)
                    problem = await _judge(resp, case, allowed, role, auth)
                    if problem:
                        failures.append(f"{visibility} {role} {case.name}: {problem}")
                    if case.name == "catalog" and resp.status == 200:
                        shown = (await resp.json())["repositories"]
                        readers = ALLOWED[("private", PULL)]
                        want = ["priv/app", "pub/app"] if role in readers else ["pub/app"]
                        if shown != want:
                            failures.append(f"{role} catalog shows {shown}")
        assert failures == []

    secured.run(scenario)


async def _judge(resp: ClientResponse, case: Case, allowed: bool, role: str, auth: str) -> str:
    """What is wrong with the answer ('' when it is right): the endpoint's status when allowed;
    when not, 401 UNAUTHORIZED with a challenge for the anonymous, 403 DENIED for users."""
    if allowed:
        return "" if resp.status == case.ok else f"{resp.status}, want {case.ok}"
    want, code = (401, "UNAUTHORIZED") if role == "anonymous" else (403, "DENIED")
    if resp.status != want:
        return f"{resp.status}, want {want}"
    if case.method != "HEAD" and await errors_of(resp) != [code]:
        return f"error codes {await errors_of(resp)}, want {code}"
    challenge = resp.headers.get("WWW-Authenticate", "")
    if want == 401 and not challenge.startswith("Bearer " if auth == "token" else "Basic "):
        return f"challenge {challenge!r}"
    return ""


@pytest.mark.parametrize(("auth", "scheme"), MODES)
def test_refusals_do_not_reveal_private_repositories(
    secured: Harness, auth: str, scheme: str
) -> None:
    creds = _setup(secured, auth)

    async def scenario(client: Client) -> None:
        admin = {"Authorization": creds["admin"]}
        await push_image(client, "priv/app", "v1", [LAYER], headers=admin)
        serial = 0
        for role in ("anonymous", "other"):
            for case in CASES:
                if "{r}" not in case.path:
                    continue
                serial += 1
                if case.name == "token":  # tokens differ (jti, times): compare what they grant
                    grants = [
                        await _granted(client, creds[role], r) for r in ("priv/app", "priv/ghost")
                    ]
                    assert grants == [[], []], (role, grants)
                    continue
                # what exists in priv/app is asked of priv/ghost too (same IDs and digests)
                fields = {"r": "priv/app", "d": digest_of(LAYER)}
                if case.prepare is not None:
                    fields |= await case.prepare(client, "priv/app", admin, serial)
                seen = []
                for repo in ("priv/app", "priv/ghost"):
                    path = case.path.format(**{**fields, "r": repo})
                    auth_header = await _credentials(client, creds[role], repo, scheme)
                    resp = await _send(client, case, path, auth_header, creds[role], fields)
                    body = (await resp.read()).replace(repo.encode(), b"R")
                    challenge = resp.headers.get("WWW-Authenticate", "").replace(repo, "R")
                    seen.append((resp.status, body, challenge))
                assert seen[0] == seen[1], (role, case.name, seen)
            headers = {"Authorization": creds[role]} if creds[role] else {}
            resp = await client.get("/v2/_catalog", headers=headers)
            assert (await resp.json())["repositories"] == []
            page = await (await client.get("/", headers=headers)).text()
            assert "priv/" not in page
        resp = await client.get("/v2/_catalog", headers={"Authorization": creds["reader"]})
        assert (await resp.json())["repositories"] == ["priv/app"]

    secured.run(scenario)


def test_challenges_and_token_flow(secured: Harness) -> None:
    creds = _setup(secured)

    async def scenario(client: Client) -> None:
        resp = await client.get("/v2/")
        assert resp.status == 401
        challenge = resp.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="http://127.0.0.1:')
        assert 'service="dockyard-registry"' in challenge
        resp = await client.get("/v2/", headers={"Authorization": creds["reader"]})
        assert resp.status == 200
        resp = await client.get("/v2/", headers={"Authorization": basic("reader", "wrong")})
        assert resp.status == 401
        assert await errors_of(resp) == ["UNAUTHORIZED"]
        resp = await client.get("/v2/priv/app/tags/list")
        assert resp.status == 401
        assert 'scope="repository:priv/app:pull"' in resp.headers["WWW-Authenticate"]
        # an anonymous token: /v2/ opens, private repositories stay shut
        anonymous = await _token(client, "", "priv/app")
        assert (await client.get("/v2/", headers={"Authorization": anonymous})).status == 200
        resp = await client.get("/v2/priv/app/tags/list", headers={"Authorization": anonymous})
        assert resp.status == 401
        # a token scoped to pull cannot push, even for a user who may: 401 asks for more
        resp = await client.get(
            "/token?service=dockyard-registry&scope=repository:priv/app:pull",
            headers={"Authorization": creds["writer"]},
        )
        pull_only = "Bearer " + (await resp.json())["token"]
        resp = await client.post(
            "/v2/priv/app/blobs/uploads/", headers={"Authorization": pull_only}
        )
        assert resp.status == 401
        assert 'scope="repository:priv/app:pull,push"' in resp.headers["WWW-Authenticate"]
        # wrong password at /token
        resp = await client.get("/token", headers={"Authorization": basic("writer", "nope")})
        assert resp.status == 401
        # OAuth2 password grant (docker's POST flow)
        resp = await client.post(
            "/token",
            data={"grant_type": "password", "username": "reader", "password": PASSWORD,
                  "service": "dockyard-registry", "scope": "repository:priv/app:pull"},
        )  # fmt: skip
        assert resp.status == 200
        token = "Bearer " + (await resp.json())["access_token"]
        resp = await client.get("/v2/priv/app/tags/list", headers={"Authorization": token})
        assert resp.status in (200, 404)

    secured.run(scenario)


def test_teams_namespaces_and_live_changes(secured: Harness) -> None:
    alice = secured.user("alice")
    bob = secured.user("bob")
    admin = secured.admin
    admin.add_team("devs")
    admin.set_member("devs", "bob", True)
    admin.grant("devs", "push", "team/*")
    admin.grant("alice", "admin", "*")

    async def scenario(client: Client) -> None:
        await push_image(client, "team/svc", "v1", headers={"Authorization": bob})
        resp = await client.get("/v2/team/svc/tags/list", headers={"Authorization": alice})
        assert resp.status == 200
        resp = await client.get("/v2/elsewhere/tags/list", headers={"Authorization": bob})
        assert resp.status == 403
        # changes apply to the next request: out of the team, no access
        admin.set_member("devs", "bob", False)
        resp = await client.get("/v2/team/svc/tags/list", headers={"Authorization": bob})
        assert resp.status == 403
        # a public namespace opens to anonymous pulls; the repository's own setting wins
        admin.set_visibility("team/*", "public")
        assert (await client.get("/v2/team/svc/tags/list")).status == 200
        admin.set_visibility("team/svc", "private")
        assert (await client.get("/v2/team/svc/tags/list")).status == 401
        # a new password ends the old one at once (the check cache is keyed on the hash)
        admin.set_password("alice", "another-pw", rounds=4)
        resp = await client.get("/v2/", headers={"Authorization": alice})
        assert resp.status == 401
        admin.remove_user("bob")
        assert (await client.get("/v2/", headers={"Authorization": bob})).status == 401

    secured.run(scenario)


def test_mount_needs_pull_on_the_source(secured: Harness) -> None:
    creds = _setup(secured)

    async def scenario(client: Client) -> None:
        await push_image(client, "priv/app", "v1", headers={"Authorization": creds["admin"]})
        digest = digest_of(b"layer-v1")
        other = {"Authorization": creds["other"]}
        resp = await client.post(
            f"/v2/other/copy/blobs/uploads/?mount={digest}&from=priv/app", headers=other
        )
        assert resp.status == 202  # an ordinary upload: no mount, nothing said
        resp = await client.head(f"/v2/other/copy/blobs/{digest}", headers=other)
        assert resp.status == 404
        writer = {"Authorization": creds["writer"]}
        resp = await client.post(
            f"/v2/pub/copy/blobs/uploads/?mount={digest}&from=priv/app", headers=writer
        )
        assert resp.status == 201

    secured.run(scenario)


def test_web_page_shows_only_what_the_viewer_may_pull(secured: Harness) -> None:
    creds = _setup(secured)

    async def scenario(client: Client) -> None:
        before = time.time()
        for repo in ("pub/app", "priv/app"):
            await push_image(client, repo, "v1", headers={"Authorization": creds["admin"]})
        after = time.time()
        page = await (await client.get("/")).text()
        assert "pub/app" in page
        assert "priv/app" not in page
        _, count, latest = page_row(page, "pub/app")
        assert count == "1" and int(before) <= page_time(latest) <= after
        page = await (await client.get("/", headers={"Authorization": creds["reader"]})).text()
        assert "priv/app" in page
        resp = await client.get("/repo/priv/app")
        assert resp.status == 404
        ghost = await client.get("/repo/priv/ghost")
        assert (resp.status, await resp.text()) == (ghost.status, await ghost.text())
        resp = await client.get("/repo/pub/app")
        page = await resp.text()
        assert resp.status == 200
        assert "dockyard pull" in page and "pub/app:v1" in page
        assert "linux/amd64" in page and digest_of(b"layer-v1") in page
        _, digest, size, platform, pushed, _ = page_row(page, "v1")
        config, layers = image([b"layer-v1"])
        assert size == human_size(len(config) + len(layers[0]))  # config and layers
        assert platform == "linux/amd64"
        assert int(before) <= page_time(pushed) <= after
        manifest = await client.get("/v2/pub/app/manifests/v1")
        assert manifest.headers["Docker-Content-Digest"][:19] in digest
        assert (await client.get("/login", allow_redirects=False)).status == 401
        resp = await client.get(
            "/login", headers={"Authorization": creds["reader"]}, allow_redirects=False
        )
        assert resp.status == 303
        assert mediatype.OCI_MANIFEST not in page  # no raw JSON on the page

    secured.run(scenario)
