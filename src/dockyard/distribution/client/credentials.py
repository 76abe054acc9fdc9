"""Registry credentials in docker's ``config.json``, shared with docker and podman.

The file is ``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``)::

    {"auths": {"https://index.docker.io/v1/": {"auth": "<base64 user:password>"},
               "registry.example:5000": {"auth": "…", "identitytoken": "…"}},
     "credsStore": "pass",                        # a helper for every registry
     "credHelpers": {"ghcr.io": "gh"}}            # a helper per registry (wins)

Docker Hub's key is ``https://index.docker.io/v1/``; other registries use ``host[:port]``
(a key written as a URL, ``https://host/v1/``, matches its host too). A helper is the program
``docker-credential-<name>``: ``get`` and ``erase`` read the server on stdin, ``store`` reads
``{"ServerURL", "Username", "Secret"}``; a username ``<token>`` means the secret is an
identity token. Keys dockyard does not know are kept when the file is rewritten (atomically,
mode 0600).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dockyard._util.atomic import write_atomic
from dockyard.errors import InvalidArgument, NotFound, Unavailable
from dockyard.oci.reference import DEFAULT_DOMAIN

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HELPER_TIMEOUT = 60.0
_TOKEN_USER = "<token>"
_HUB_HOSTS = frozenset({"index.docker.io", "docker.io", "registry-1.docker.io"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """What to authenticate with: a user and password, or an identity (refresh) token."""

    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:  # never print secrets
        return f"Credentials(username={self.username!r})"


def config_path() -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def server_key(registry: str) -> str:
    """The ``auths`` key docker uses for ``registry`` (a reference's domain)."""
    return DOCKER_HUB_KEY if registry in (DEFAULT_DOMAIN, "index.docker.io") else registry


def _hostname(key: str) -> str:
    """docker's ``ConvertToHostname``: ``https://host:5000/v1/`` -> ``host:5000``."""
    if "://" in key:
        return urlsplit(key).netloc
    return key.partition("/")[0]


def _hosts(key: str) -> frozenset[str]:
    """The host names an ``auths`` key may be written as (podman writes ``docker.io``)."""
    if key == DOCKER_HUB_KEY:
        return _HUB_HOSTS
    return frozenset({_hostname(key)})


class DockerConfig:
    """Read and write the credentials of ``path`` (see the module docstring).

    Args:
        path: the config.json (default: ``config_path()``).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_path()

    def _load(self) -> dict[str, object]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            doc = json.loads(raw) if raw.strip() else {}
        except ValueError as err:
            raise InvalidArgument(
                f"docker config {self.path}: malformed JSON: {err}", hint="fix or remove the file"
            ) from err
        if not isinstance(doc, dict):
            raise InvalidArgument(f"docker config {self.path}: expected a JSON object")
        return doc

    def _save(self, doc: dict[str, object]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(self.path, (json.dumps(doc, indent="\t") + "\n").encode(), 0o600)

    def helper(self, registry: str) -> str:
        """The credential helper for ``registry`` (``credHelpers``, then ``credsStore``)."""
        doc = self._load()
        helpers = doc.get("credHelpers")
        if isinstance(helpers, dict):
            name = helpers.get(_hostname(server_key(registry)))
            if isinstance(name, str) and name:
                return name
        store = doc.get("credsStore")
        return store if isinstance(store, str) else ""

    def get(self, registry: str) -> Credentials | None:
        """The credentials for ``registry``, or None when there are none.

        Raises:
            InvalidArgument: the file or its ``auth`` entry is malformed.
            Unavailable: the credential helper failed.
        """
        helper = self.helper(registry)
        if helper:
            return _helper_get(helper, server_key(registry))
        entry = self._entry(self._load(), registry)
        if entry is None:
            return None
        return _decode_entry(entry, self.path)

    def _entry(self, doc: dict[str, object], registry: str) -> dict[str, object] | None:
        auths = doc.get("auths")
        if not isinstance(auths, dict):
            return None
        key = server_key(registry)
        found = auths.get(key)
        if found is None:
            wanted = _hosts(key)
            found = next((v for k, v in auths.items() if _hostname(k) in wanted), None)
        return found if isinstance(found, dict) and found else None

    def store(self, registry: str, creds: Credentials) -> None:
        """Save ``creds`` for ``registry`` (through the helper if one is configured).

        Raises:
            Unavailable: the credential helper failed.
        """
        key = server_key(registry)
        doc = self._load()
        auths = doc.get("auths")
        auths = auths if isinstance(auths, dict) else {}
        helper = self.helper(registry)
        if helper:
            user = _TOKEN_USER if creds.identity_token else creds.username
            secret = creds.identity_token or creds.password
            payload = {"ServerURL": key, "Username": user, "Secret": secret}
            _run_helper(helper, "store", json.dumps(payload).encode())
            auths[key] = {}
        else:
            raw = f"{creds.username}:{creds.password}".encode()
            entry: dict[str, str] = {"auth": base64.b64encode(raw).decode()}
            if creds.identity_token:
                entry = {"auth": base64.b64encode(f"{creds.username}:".encode()).decode(),
                         "identitytoken": creds.identity_token}  # fmt: skip
            auths[key] = entry
        doc["auths"] = auths
        self._save(doc)

    def erase(self, registry: str) -> bool:
        """Forget the credentials for ``registry``; False when there were none.

        Raises:
            Unavailable: the credential helper failed.
        """
        key = server_key(registry)
        doc = self._load()
        auths = doc.get("auths")
        auths = auths if isinstance(auths, dict) else {}
        wanted = _hosts(key)
        keys = [k for k in auths if k == key or _hostname(k) in wanted]
        helper = self.helper(registry)
        erased = False
        if helper:
            try:
                _run_helper(helper, "erase", key.encode())
                erased = True
            except NotFound:
                pass
        for k in keys:
            del auths[k]
        if keys:
            doc["auths"] = auths
            self._save(doc)
        return erased or bool(keys)


def _decode_entry(entry: dict[str, object], path: Path) -> Credentials | None:
    token = entry.get("identitytoken")
    auth = entry.get("auth")
    username = entry.get("username")
    password = entry.get("password")
    if isinstance(auth, str) and auth:
        try:
            text = base64.b64decode(auth, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as err:
            raise InvalidArgument(f"docker config {path}: an auth entry is not base64") from err
        username, sep, password = text.partition(":")
        if not sep:
            raise InvalidArgument(f"docker config {path}: an auth entry is not user:password")
    if not isinstance(username, str) or not isinstance(password, str):
        username, password = "", ""
    identity = token if isinstance(token, str) else ""
    if not (username or password or identity):
        return None
    return Credentials(username=username, password=password, identity_token=identity)


def _helper_get(helper: str, key: str) -> Credentials | None:
    try:
        out = _run_helper(helper, "get", key.encode())
    except NotFound:
        return None
    try:
        doc = json.loads(out)
        user, secret = str(doc.get("Username", "")), str(doc.get("Secret", ""))
    except (ValueError, AttributeError) as err:
        raise Unavailable(f"credential helper docker-credential-{helper}: bad answer") from err
    if user == _TOKEN_USER:
        return Credentials(identity_token=secret)
    return Credentials(username=user, password=secret) if (user or secret) else None


def _run_helper(helper: str, verb: str, data: bytes) -> bytes:
    program = f"docker-credential-{helper}"
    try:
        proc = subprocess.run(
            [program, verb], input=data, capture_output=True, timeout=_HELPER_TIMEOUT
        )
    except FileNotFoundError as err:
        raise Unavailable(
            f"credential helper {program}: not found",
            hint=f"install {program}, or remove it from the docker config",
        ) from err
    except subprocess.TimeoutExpired as err:
        raise Unavailable(f"credential helper {program} {verb}: timed out") from err
    if proc.returncode != 0:
        message = (proc.stdout or proc.stderr).decode(errors="replace").strip()
        if "credentials not found" in message.lower():
            raise NotFound(f"credential helper {program}: {message}")
        raise Unavailable(f"credential helper {program} {verb}: {message or proc.returncode}")
    return proc.stdout
