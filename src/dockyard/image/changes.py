"""``import --change``: the Dockerfile instructions Docker accepts there, applied to a config.

Docker accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME and
WORKDIR. Exec form (JSON arrays) and shell form (wrapped in ``/bin/sh -c``) both work.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Sequence

from dockyard.errors import InvalidArgument
from dockyard.oci.image import ContainerConfig

_SUPPORTED = (
    "CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR",
)  # fmt: skip


def apply_changes(config: ContainerConfig, changes: Sequence[str]) -> ContainerConfig:
    """Apply each ``--change`` line in order.

    Raises:
        InvalidArgument: an unknown or malformed instruction (naming it).
    """
    for line in changes:
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword not in _SUPPORTED:
            raise InvalidArgument(
                f'--change "{line}": {keyword or "empty"} is not a valid change command',
                hint="use one of " + ", ".join(_SUPPORTED),
            )
        if not rest:
            raise InvalidArgument(f'--change "{line}": {keyword} requires an argument')
        config = _apply_one(config, keyword, rest, line)
    return config


def _apply_one(config: ContainerConfig, keyword: str, rest: str, line: str) -> ContainerConfig:
    replace = dataclasses.replace
    if keyword in ("CMD", "ENTRYPOINT"):
        words = _command(rest, line)
        if keyword == "CMD":
            return replace(config, cmd=words)
        return replace(config, entrypoint=words, cmd=None)
    if keyword == "ENV":
        env = dict(item.split("=", 1) for item in config.env if "=" in item)
        env.update(_pairs(rest, line, legacy_space=True))
        return replace(config, env=tuple(f"{k}={v}" for k, v in env.items()))
    if keyword == "LABEL":
        labels = dict(config.labels)
        labels.update(_pairs(rest, line, legacy_space=False))
        return replace(config, labels=labels)
    if keyword == "EXPOSE":
        ports = list(config.exposed_ports)
        for port in rest.split():
            spec = port if "/" in port else f"{port}/tcp"
            if spec not in ports:
                ports.append(spec)
        return replace(config, exposed_ports=tuple(sorted(ports)))
    if keyword == "VOLUME":
        paths = _json_list(rest, line) if rest.startswith("[") else tuple(rest.split())
        return replace(config, volumes=tuple(sorted({*config.volumes, *paths})))
    if keyword == "ONBUILD":
        return replace(config, on_build=(*config.on_build, rest))
    field = {"USER": "user", "WORKDIR": "working_dir", "STOPSIGNAL": "stop_signal"}[keyword]
    return replace(config, **{field: rest})


def _command(rest: str, line: str) -> tuple[str, ...]:
    if rest.startswith("["):
        return _json_list(rest, line)
    return ("/bin/sh", "-c", rest)


def _json_list(rest: str, line: str) -> tuple[str, ...]:
    try:
        value = json.loads(rest)
    except json.JSONDecodeError as err:
        raise InvalidArgument(f'--change "{line}": invalid JSON array: {err.msg}') from err
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f'--change "{line}": expected a JSON array of strings')
    return tuple(value)


def _pairs(rest: str, line: str, *, legacy_space: bool) -> dict[str, str]:
    try:
        words = shlex.split(rest)
    except ValueError as err:
        raise InvalidArgument(f'--change "{line}": {err}') from err
    if legacy_space and words and "=" not in words[0]:
        # ENV key value (the legacy form): everything after the key is the value.
        return {words[0]: rest.split(None, 1)[1] if len(words) > 1 else ""}
    pairs: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f'--change "{line}": "{word}" is not KEY=VALUE')
        pairs[key] = value
    return pairs
