"""Build secrets: ``build --secret id=ID[,src=PATH|env=VAR]`` and ``RUN --mount=type=secret``.

A secret's value is read once when the build starts and is never part of an image, a layer or
a cache key (docker's rule: changing a secret does not invalidate the cache). For each RUN
that mounts it, it is written to a private directory (mode ``0400`` and owner root unless the
mount says otherwise) and bind-mounted read-only at ``/run/secrets/<id>`` (or ``target=``);
the directory is removed when the step ends.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

from dockyard.errors import InvalidArgument, NotFound

MAX_SIZE: Final = 500 * 1024  # BuildKit's limit for one secret


def parse_secrets(specs: Sequence[str], environ: Mapping[str, str]) -> dict[str, bytes]:
    """``--secret`` values -> {id: value}. ``src=``/``source=`` reads a file, ``env=`` an
    environment variable; with neither, the variable named like the id (then a file of that
    name).

    Raises:
        InvalidArgument: a malformed spec, an unknown key, a value too large.
        NotFound: the file or variable does not exist.
    """
    found: dict[str, bytes] = {}
    for spec in specs:
        fields = dict(_field(spec, item) for item in spec.split(","))
        secret_id = fields.pop("id", "")
        if not secret_id:
            raise InvalidArgument(f"--secret {spec!r}: no id=", hint="use id=NAME,src=PATH")
        fields.pop("type", None)
        source = fields.pop("src", "") or fields.pop("source", "")
        env = fields.pop("env", "")
        if fields:
            raise InvalidArgument(f"--secret {spec!r}: unknown key {next(iter(fields))!r}",
                                  hint="use id=, src= (or source=) and env=")  # fmt: skip
        found[secret_id] = _value(secret_id, source, env, environ)
    return found


def _field(spec: str, item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise InvalidArgument(f"--secret {spec!r}: {item!r} is not KEY=VALUE")
    return key.strip().lower(), value


def _value(secret_id: str, source: str, env: str, environ: Mapping[str, str]) -> bytes:
    if not source and not env:
        env = secret_id if secret_id in environ else ""
        source = "" if env else secret_id
    if env:
        if env not in environ:
            raise NotFound(f"secret {secret_id}: environment variable {env} is not set")
        data = environ[env].encode()
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as err:
            raise NotFound(f"secret {secret_id}: cannot read {source}: {err.strerror}") from err
    if len(data) > MAX_SIZE:
        raise InvalidArgument(f"secret {secret_id}: {len(data)} bytes, over the 500 KiB limit")
    return data


@contextlib.contextmanager
def secrets_dir(build_dir: Path) -> Iterator[Path]:
    """A private directory for one step's secret files, removed after the step."""
    import shutil  # not at import: the CLI parses --secret on every build
    import tempfile

    build_dir.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="secrets-", dir=build_dir))
    try:
        os.chmod(directory, 0o700)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def write_secret(
    directory: Path, secret_id: str, value: bytes, *, mode: int | None, uid: int | None,
    gid: int | None,
) -> Path:  # fmt: skip
    """The secret as a file of ``directory`` with the mount's mode and owner."""
    path = directory / f"{len(os.listdir(directory))}-{secret_id.replace('/', '_')}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, value)
        os.fchown(fd, uid or 0, gid or 0)
        os.fchmod(fd, mode if mode is not None else 0o400)
    finally:
        os.close(fd)
    return path
