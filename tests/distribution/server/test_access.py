"""Access rights: every endpoint x {anonymous, reader, writer, admin, other user} x {public,
private repository}, with Basic credentials and with bearer tokens; refusals never tell a
private repository from one that does not exist; teams, namespaces and live changes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.distribution.server.conftest import (
    PASSWORD,
    Client,
    Harness,
    basic,
    digest_of,
    errors_of,
    push_image,
)

from dockyard.oci import mediatype

ROLES = ("anonymous", "reader", "writer", "admin", "other")
PULL, PUSH, DELETE = "pull", "push", "delete"
ALLOWED = {
    ("public", PULL): {"anonymous", "reader", "writer", "admin", "other"},
    ("public", PUSH): {"writer", "admin"},
    ("public", DELETE): {"admin"},
    ("private", PULL): {"reader", "writer", "admin"},
    ("private", PUSH): {"writer", "admin"},
    ("private", DELETE): {"admin"},
}
UNKNOWN = digest_of(b"unknown blob")

# (name, permission, method, path template); {r} is the repository, {d} a digest it holds
ENDPOINTS: tuple[tuple[str, str, str, str], ...] = (
    ("manifest GET", PULL, "GET", "/v2/{r}/manifests/v1"),
    ("manifest HEAD", PULL, "HEAD", "/v2/{r}/manifests/v1"),
    ("blob GET", PULL, "GET", "/v2/{r}/blobs/{d}"),
    ("blob HEAD", PULL, "HEAD", "/v2/{r}/blobs/{d}"),
    ("tags", PULL, "GET", "/v2/{r}/tags/list"),
    ("referrers", PULL, "GET", "/v2/{r}/referrers/{d}"),
    ("upload POST", PUSH, "POST", "/v2/{r}/blobs/uploads/"),
    ("manifest PUT", PUSH, "PUT", "/v2/{r}/manifests/v2"),
    ("upload PATCH", PUSH, "PATCH", "/v2/{r}/blobs/uploads/" + "0" * 32),
    ("manifest DELETE", DELETE, "DELETE", "/v2/{r}/manifests/no-such-tag"),
    ("blob DELETE", DELETE, "DELETE", "/v2/{r}/blobs/" + UNKNOWN),
)


def _setup(secured: Harness) -> dict[str, str]:
    """Users and grants; return each role's Basic header ('' for anonymous)."""
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


@pytest.mark.parametrize("scheme", ["basic", "token"])
def test_access_matrix(secured: Harness, scheme: str) -> None:
    creds = _setup(secured)

    async def scenario(client: Client) -> None:
        blobs = {}
        for repo in ("pub/app", "priv/app"):
            await push_image(client, repo, "v1", headers={"Authorization": creds["admin"]})
            blobs[repo] = digest_of(b"layer-v1")
        failures = []
        for visibility, repo in (("public", "pub/app"), ("private", "priv/app")):
            for role in ROLES:
                auth = creds[role]
                if scheme == "token":
                    auth = await _token(client, auth, repo)
                for name, permission, method, template in ENDPOINTS:
                    path = template.format(r=repo, d=blobs[repo])
                    headers = {"Authorization": auth} if auth else {}
                    resp = await client.request(method, path, headers=headers)
                    allowed = role in ALLOWED[(visibility, permission)]
                    want = _expected(allowed, role)
                    if not want(resp.status):
                        failures.append(f"{visibility} {role} {name}: {resp.status}")
        assert failures == []

    secured.run(scenario)


def _expected(allowed: bool, role: str) -> Callable[[int], bool]:
    if allowed:
        return lambda status: status not in (401, 403) and status < 500
    if role == "anonymous":
        return lambda status: status == 401
    return lambda status: status == 403


def test_refusals_do_not_reveal_private_repositories(secured: Harness) -> None:
    creds = _setup(secured)

    async def scenario(client: Client) -> None:
        await push_image(client, "priv/app", "v1", headers={"Authorization": creds["admin"]})
        for role in ("anonymous", "other"):
            headers = {"Authorization": creds[role]} if creds[role] else {}
            for _, _, method, template in ENDPOINTS:
                seen = []
                for repo in ("priv/app", "priv/ghost"):
                    path = template.format(r=repo, d=digest_of(b"layer-v1"))
                    resp = await client.request(method, path, headers=headers)
                    body = await resp.read()
                    challenge = resp.headers.get("WWW-Authenticate", "").replace(repo, "R")
                    seen.append((resp.status, body, challenge))
                assert seen[0] == seen[1], (role, method, template)
            resp = await client.get("/v2/_catalog", headers=headers)
            assert (await resp.json())["repositories"] == []
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
        for repo in ("pub/app", "priv/app"):
            await push_image(client, repo, "v1", headers={"Authorization": creds["admin"]})
        page = await (await client.get("/")).text()
        assert "pub/app" in page
        assert "priv/app" not in page
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
        assert (await client.get("/login", allow_redirects=False)).status == 401
        resp = await client.get(
            "/login", headers={"Authorization": creds["reader"]}, allow_redirects=False
        )
        assert resp.status == 303
        assert mediatype.OCI_MANIFEST not in page  # no raw JSON on the page

    secured.run(scenario)
