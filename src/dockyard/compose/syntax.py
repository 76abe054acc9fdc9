"""Value checks and short-syntax normalisation for compose fields (the ``post`` functions of
the schema in :mod:`.spec`).

Each function takes the value the schema node produced, where it is, and the conversion
context, and returns the canonical form that :mod:`.merge` merges, :mod:`.parse` reads and
``config`` prints: ports and volumes in their long syntax, ``command`` as a list, durations
checked (kept as written), sizes in bytes, relative paths made absolute.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dockyard._util.units import parse_go_duration, ram_in_bytes
from dockyard.compose.diagnostics import Where, invalid, unsupported
from dockyard.compose.schema import Ctx
from dockyard.errors import DockyardError

T = TypeVar("T")

SERVICE_NAME = re.compile(r"[a-zA-Z0-9._-]+")
RESOURCE_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


def checked(where: Where, call: Callable[[], T]) -> T:
    """``call()``, with an engine parser's error re-raised naming ``where``."""
    try:
        return call()
    except DockyardError as err:
        raise invalid(where, err.message, err.hint) from None


# scalars ------------------------------------------------------------------------------------


def duration(value: str, where: Where, ctx: Ctx) -> str:
    """A Go duration (``1m30s``); kept as written."""
    ns = parse_go_duration(value)
    if ns is None or ns < 0:
        raise invalid(where, f"invalid duration {value!r}", hint="use e.g. 30s, 1m30s, 500ms")
    return value


def size(value: Any, where: Where, ctx: Ctx) -> int:
    """A byte size (``512m``, ``1g`` or a number of bytes) in bytes."""
    found = value if isinstance(value, int) else ram_in_bytes(str(value))
    if found is None or found < 0:
        raise invalid(where, f"invalid size {value!r}", hint="use e.g. 512m or 1g")
    return found


def pattern(regex: re.Pattern[str], what: str) -> Callable[[str, Where, Ctx], str]:
    def check(value: str, where: Where, ctx: Ctx) -> str:
        if not regex.fullmatch(value):
            raise invalid(
                where, f"invalid {what} {value!r}", hint=f"a {what} is made of [a-zA-Z0-9._-]"
            )
        return value

    return check


def restart(value: str, where: Where, ctx: Ctx) -> str:
    from dockyard.monitor.restart import parse_policy

    checked(where, lambda: parse_policy(value))
    return value


def platform(value: str, where: Where, ctx: Ctx) -> str:
    """``platform: os/arch[/variant]`` (empty: none); kept as written. Whether this host runs
    it is checked when the service's images are made ready (``compose config`` and ``down``
    still work on a file written for another machine)."""
    from dockyard.oci.platform import parse_platform

    if value:
        checked(where, lambda: parse_platform(value))
    return value


def words(value: Any, where: Where, ctx: Ctx) -> list[str]:
    """``command``/``entrypoint``: a string is split like a shell would (no expansion)."""
    if isinstance(value, list):
        return value
    try:
        return shlex.split(value)
    except ValueError as err:
        raise invalid(where, f"cannot split {value!r} into words: {err}") from None


def host_path(value: str, ctx: Ctx) -> str:
    """A host path from the file: ``~`` is the home directory, relative is from the base."""
    if value.startswith("~"):
        return os.path.expanduser(value)
    return os.path.normpath(ctx.base_dir / value)


def path(value: str, where: Where, ctx: Ctx) -> str:
    return host_path(value, ctx)


# ports ----------------------------------------------------------------------------------------


def ports(items: list[Any], where: Where, ctx: Ctx) -> list[dict[str, Any]]:
    """Every item (short forms may stand for several) in the long syntax, duplicates dropped."""
    out: list[dict[str, Any]] = []
    for item in items:
        for port in item if isinstance(item, list) else [item]:
            if port not in out:
                out.append(port)
    return out


def port_short(value: Any, where: Where, ctx: Ctx) -> list[dict[str, Any]]:
    """``"8080:80"``, ``"127.0.0.1::80/udp"``, ``80`` -> long-syntax mappings."""
    from dockyard.network.ports import parse_publish

    bindings = checked(where, lambda: parse_publish(str(value)))
    return [
        _long_port(
            b.container_port, _published(b.host_port, b.host_port_end), b.host_ip, str(b.proto)
        )
        for b in bindings
    ]


def port_long(doc: dict[str, Any], where: Where, ctx: Ctx) -> dict[str, Any]:
    """The long syntax checked (through the short one) and completed with its defaults."""
    spec = str(doc["target"])
    published = str(doc.get("published", ""))
    if published or doc.get("host_ip"):
        spec = f"{published}:{spec}"
    if doc.get("host_ip"):
        spec = f"{doc['host_ip']}:{spec}"
    spec += f"/{doc.get('protocol', 'tcp')}"
    found = port_short(spec, where, ctx)
    if len(found) != 1:
        raise invalid(where.key("target"), f"invalid target {doc['target']!r}: one port only")
    return {
        **found[0],
        "mode": doc.get("mode", "ingress"),
        **({"name": doc["name"]} if "name" in doc else {}),
    }


def _published(first: int, last: int) -> str:
    if not first:
        return ""
    return f"{first}-{last}" if last else str(first)


def _long_port(target: int, published: str, host_ip: str, proto: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"mode": "ingress"}
    if host_ip:
        doc["host_ip"] = host_ip
    doc["target"] = target
    if published:
        doc["published"] = published
    doc["protocol"] = proto
    return doc


def expose(value: Any, where: Where, ctx: Ctx) -> str:
    from dockyard.network.ports import parse_expose

    checked(where, lambda: parse_expose(str(value)))
    return str(value)


# volumes --------------------------------------------------------------------------------------


def volume_short(value: str, where: Where, ctx: Ctx) -> dict[str, Any]:
    """``SRC:DST[:MODE]`` (a path source is a bind, a name a volume) or ``DST`` (anonymous)."""
    parts = value.split(":")
    if len(parts) > 3 or not all(parts):
        raise invalid(
            where,
            f"invalid volume specification {value!r}",
            hint="use SOURCE:TARGET[:MODE] or TARGET",
        )
    if len(parts) == 1:
        return {"type": "volume", "target": _target(parts[0], where)}
    source, target = parts[0], _target(parts[1], where)
    doc: dict[str, Any] = {}
    if source.startswith((".", "/", "~")):
        doc = {
            "type": "bind",
            "source": host_path(source, ctx),
            "target": target,
            "bind": {"create_host_path": True},
        }
    else:
        doc = {"type": "volume", "source": source, "target": target, "volume": {}}
    for mode in parts[2].split(",") if len(parts) == 3 else ():
        if mode in ("ro", "rw"):
            doc["read_only"] = mode == "ro"
        elif mode == "nocopy" and doc["type"] == "volume":
            doc["volume"] = {"nocopy": True}
        elif mode in ("z", "Z") or mode.endswith(("private", "shared", "slave")):
            raise unsupported(where, f"volume mode {mode!r}", hint="drop it")
        else:
            raise invalid(where, f"invalid mode {mode!r} in volume {value!r}", hint="use ro or rw")
    if doc["type"] == "volume" and not doc["volume"]:
        del doc["volume"]
    return doc


def volume_long(doc: dict[str, Any], where: Where, ctx: Ctx) -> dict[str, Any]:
    """The long syntax checked: a bind source made absolute; a tmpfs has no source."""
    kind = doc["type"]
    _target(doc["target"], where.key("target"))
    if kind == "bind":
        if not doc.get("source"):
            raise invalid(where, "a bind mount needs a 'source'")
        doc["source"] = host_path(doc["source"], ctx)
        doc.setdefault("bind", {}).setdefault("create_host_path", False)
    elif kind == "tmpfs" and doc.get("source"):
        raise invalid(where.key("source"), "a tmpfs mount has no source")
    for other in ("bind", "volume", "tmpfs"):
        if other in doc and other != kind:
            raise invalid(where.key(other), f"'{other}' options on a mount of type {kind}")
    return doc


def _target(text: str, where: Where) -> str:
    if not text.startswith("/"):
        raise invalid(where, f"invalid mount target {text!r}: it must be an absolute path")
    return text


# services -------------------------------------------------------------------------------------


def healthcheck_test(value: Any, where: Where, ctx: Ctx) -> list[str]:
    """A string is ``CMD-SHELL``; a list starts with ``NONE``, ``CMD`` or ``CMD-SHELL``."""
    if isinstance(value, str):
        return ["CMD-SHELL", value]
    if not value or value[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise invalid(
            where,
            "the test must start with NONE, CMD or CMD-SHELL",
            hint='e.g. test: ["CMD", "wget", "-q", "http://localhost/"]',
        )
    return list(value)


def depends_on(value: Any, where: Where, ctx: Ctx) -> dict[str, Any]:
    """The list form becomes ``{name: {condition: service_started, required: true}}``."""
    if isinstance(value, list):
        value = {name: {} for name in value}
    for dep in value.values():
        dep.setdefault("condition", "service_started")
        dep.setdefault("required", True)
        if "restart" in dep and not dep["restart"]:
            del dep["restart"]
    return dict(value)


def service_networks(value: Any, where: Where, ctx: Ctx) -> dict[str, Any]:
    if isinstance(value, list):
        return dict.fromkeys(value)
    return dict(value)


def extra_hosts(value: Any, where: Where, ctx: Ctx) -> list[str]:
    """``["name:ip"]``, ``["name=ip"]`` or ``{name: ip}`` -> ``["name:ip"]``."""
    from dockyard.engine.hostfiles import parse_add_host

    items = [f"{k}={v}" for k, v in value.items()] if isinstance(value, dict) else value
    out = []
    for i, item in enumerate(items):
        text = str(item)
        name, addr = checked(where.index(i), lambda: parse_add_host(text))  # noqa: B023
        out.append(f"{name}:{addr}")
    return out


def environment(value: dict[str, str | None], where: Where, ctx: Ctx) -> dict[str, str | None]:
    """A bare ``KEY`` takes its value from the project's environment (None when unset there)."""
    return {k: ctx.env.get(k) if v is None else v for k, v in value.items()}


def string_map(value: dict[str, str | None], where: Where, ctx: Ctx) -> dict[str, str]:
    """``labels``, ``sysctls``, ``args``: a bare key is the empty string."""
    return {k: "" if v is None else v for k, v in value.items()}


def env_files(value: list[Any], where: Where, ctx: Ctx) -> list[dict[str, Any]]:
    """``env_file`` entries as ``{path, required}`` with absolute paths."""
    out = []
    for item in value:
        doc = {"path": item} if isinstance(item, str) else dict(item)
        doc["path"] = host_path(doc["path"], ctx)
        doc.setdefault("required", True)
        out.append(doc)
    return out


def read_env_files(service: dict[str, Any], where: Where, ctx: Ctx) -> dict[str, Any]:
    """A service's ``env_file`` values under its ``environment`` (which wins)."""
    from dockyard.compose.dotenv import read_env_file

    files = service.get("env_file")
    if not isinstance(files, list):
        return service
    merged: dict[str, str | None] = {}
    for i, doc in enumerate(files):
        found = Path(doc["path"])
        if not found.is_file():
            if doc["required"]:
                raise invalid(
                    where.key("env_file").index(i),
                    f"env file {found} not found",
                    hint="create it, or mark it `required: false`",
                )
            continue
        merged.update(read_env_file(found, ctx.env))
    if merged:
        own = service.get("environment")
        service["environment"] = {**merged, **(own if isinstance(own, dict) else {})}
    return service


def link(value: str, where: Where, ctx: Ctx) -> str:
    """``links: [SERVICE]`` or ``[SERVICE:ALIAS]``."""
    service, _, alias = value.partition(":")
    if not SERVICE_NAME.fullmatch(service) or (alias and not SERVICE_NAME.fullmatch(alias)):
        raise invalid(where, f"invalid link {value!r}", hint="use SERVICE or SERVICE:ALIAS")
    return value


def ulimit(doc: dict[str, Any], where: Where, ctx: Ctx) -> dict[str, Any]:
    if doc["soft"] > doc["hard"]:
        raise invalid(where, "the soft limit is larger than the hard limit")
    return doc


def build(value: Any, where: Where, ctx: Ctx) -> dict[str, Any]:
    """``build: DIR`` is ``{context: DIR}``; the context is absolute, the Dockerfile named."""
    doc = {"context": value} if isinstance(value, str) else dict(value)
    doc["context"] = host_path(doc.get("context", "."), ctx)
    if "dockerfile" in doc and "dockerfile_inline" in doc:
        raise invalid(where, "dockerfile and dockerfile_inline are mutually exclusive")
    if "dockerfile_inline" not in doc:
        doc.setdefault("dockerfile", "Dockerfile")
    return doc


def logging(doc: dict[str, Any], where: Where, ctx: Ctx) -> dict[str, Any]:
    driver = doc.get("driver", "json-file")
    if driver != "json-file":
        raise unsupported(
            where.key("driver"),
            f"logging driver {driver!r}",
            hint="dockyard has the json-file driver",
        )
    unknown = set(doc.get("options", {})) - {"max-size", "max-file"}
    if unknown:
        raise unsupported(
            where.key("options"),
            f"log option {sorted(unknown)[0]!r}",
            hint="json-file takes max-size and max-file",
        )
    return doc


def network_mode(value: str, where: Where, ctx: Ctx) -> str:
    kind, _, other = value.partition(":")
    if value in ("host", "none", "bridge", "default") or (
        kind in ("service", "container") and other
    ):
        return value
    raise invalid(
        where,
        f"invalid network_mode {value!r}",
        hint="use host, none, bridge, service:NAME or container:NAME",
    )


def network_option(key: str, where: Where, ctx: Ctx) -> str:
    if key != "com.docker.network.bridge.name":
        raise unsupported(
            where,
            f"network driver option {key!r}",
            hint="dockyard takes com.docker.network.bridge.name only",
        )
    return key


def file_reference(value: Any, where: Where, ctx: Ctx) -> dict[str, Any]:
    """A service's ``secrets``/``configs`` entry: a name, or ``{source, target}``."""
    doc = {"source": value} if isinstance(value, str) else dict(value)
    for key in ("uid", "gid", "mode"):
        if key in doc:
            raise unsupported(
                where.key(key),
                f"'{key}' of a secret or config",
                hint="they are bind-mounted read-only with the file's owner",
            )
    return doc


def oom_score_adj(value: int, where: Where, ctx: Ctx) -> int:
    if not -1000 <= value <= 1000:
        raise invalid(where, f"{value} is out of range: -1000 to 1000")
    return value
