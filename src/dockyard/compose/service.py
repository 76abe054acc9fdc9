"""One service's canonical mapping -> :class:`~.model.Service`, with the checks a service
alone can make (image or build, references to the project's volumes, networks, secrets and
configs, ``container_name`` with replicas), and the service's configuration hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from dockyard._util.units import parse_go_duration
from dockyard.compose.diagnostics import ComposeError, Where, did_you_mean
from dockyard.compose.model import (
    BuildSpec,
    Condition,
    Dependency,
    FileMount,
    Health,
    Mount,
    MountType,
    NetworkSpec,
    PullPolicy,
    Service,
    ServiceNetwork,
    Ulimit,
    VolumeSpec,
)
from dockyard.network.model import PortBinding, Proto
from dockyard.oci.platform import parse_platform

_HASH_EXCLUDED = ("build", "pull_policy", "scale", "depends_on", "profiles", "extends")


def config_hash(service_doc: Mapping[str, Any]) -> str:
    """sha256 of the service's canonical JSON without the keys that do not shape containers."""
    kept = {k: v for k, v in service_doc.items() if k not in _HASH_EXCLUDED}
    deploy = kept.get("deploy")
    if isinstance(deploy, dict) and "replicas" in deploy:
        kept["deploy"] = {k: v for k, v in deploy.items() if k != "replicas"}
    raw = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def service_model(
    key: str,
    doc: dict[str, Any],
    networks: Mapping[str, NetworkSpec],
    volumes: Mapping[str, VolumeSpec],
    files: Mapping[str, Mapping[str, Any]],
    where: Where,
) -> Service:
    if not doc.get("image") and not doc.get("build"):
        raise ComposeError(
            f"{where}: service {key!r} has neither an image nor a build context",
            hint="add `image:` or `build:`",
        )
    deploy = doc.get("deploy") or {}
    limits = (deploy.get("resources") or {}).get("limits") or {}
    scale = doc.get("scale", deploy.get("replicas", 1))
    if doc.get("container_name") and scale > 1:
        raise ComposeError(
            f"{where}: container_name {doc['container_name']!r} with {scale} "
            "replicas: container names must be unique",
            hint="remove container_name or use one replica",
        )
    depends = _dependencies(doc)
    grace = doc.get("stop_grace_period")
    return Service(
        name=key,
        config_hash=config_hash(doc),
        image=doc.get("image", ""),
        build=_build(doc["build"]) if doc.get("build") else None,
        command=_words(doc.get("command")),
        entrypoint=_words(doc.get("entrypoint")),
        environment={k: v for k, v in (doc.get("environment") or {}).items() if v is not None},
        ports=tuple(_port(p) for p in doc.get("ports") or ()),
        expose=tuple(doc.get("expose") or ()),
        volumes=tuple(_mount(m, volumes, where.key("volumes")) for m in doc.get("volumes") or ()),
        networks=_attachments(doc, networks, where.key("networks")),
        network_mode=doc.get("network_mode", ""),
        depends_on=depends,
        healthcheck=_health(doc["healthcheck"]) if "healthcheck" in doc else None,
        restart=doc.get("restart") or _restart(deploy.get("restart_policy")),
        scale=scale,
        memory=doc.get("mem_limit", limits.get("memory", 0)),
        memory_swap=doc.get("memswap_limit", 0),
        cpus=float(doc.get("cpus", limits.get("cpus", 0))),
        cpu_shares=doc.get("cpu_shares", 0),
        cpuset=doc.get("cpuset", ""),
        pids_limit=doc.get("pids_limit", limits.get("pids", 0)),
        blkio_weight=(doc.get("blkio_config") or {}).get("weight", 0),
        blkio_devices=_blkio_devices(doc.get("blkio_config") or {}),
        shm_size=doc.get("shm_size", 0),
        container_name=doc.get("container_name", ""),
        hostname=doc.get("hostname", ""),
        domainname=doc.get("domainname", ""),
        oom_score_adj=doc.get("oom_score_adj", 0),
        user=doc.get("user", ""),
        working_dir=doc.get("working_dir", ""),
        labels=doc.get("labels") or {},
        stop_signal=doc.get("stop_signal", ""),
        stop_grace_period=None if grace is None else _seconds(grace),
        init=doc.get("init", False),
        read_only=doc.get("read_only", False),
        tmpfs=tuple(doc.get("tmpfs") or ()),
        cap_add=tuple(doc.get("cap_add") or ()),
        cap_drop=tuple(doc.get("cap_drop") or ()),
        privileged=doc.get("privileged", False),
        security_opt=tuple(doc.get("security_opt") or ()),
        ulimits=tuple(_ulimit(k, v) for k, v in (doc.get("ulimits") or {}).items()),
        sysctls=doc.get("sysctls") or {},
        extra_hosts=tuple(doc.get("extra_hosts") or ()),
        dns=tuple(doc.get("dns") or ()),
        dns_search=tuple(doc.get("dns_search") or ()),
        dns_opt=tuple(doc.get("dns_opt") or ()),
        log_options=(doc.get("logging") or {}).get("options") or {},
        tty=doc.get("tty", False),
        stdin_open=doc.get("stdin_open", False),
        pull_policy=_pull_policy(doc.get("pull_policy", "missing")),
        secrets=_files(doc, "secrets", files, where),
        configs=_files(doc, "configs", files, where),
        profiles=tuple(doc.get("profiles") or ()),
        ipc=doc.get("ipc", ""),
        platform=parse_platform(doc["platform"]) if doc.get("platform") else None,
    )


def _pull_policy(text: str) -> PullPolicy:
    return PullPolicy("missing" if text == "if_not_present" else text)


def _words(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _build(doc: dict[str, Any]) -> BuildSpec:
    return BuildSpec(
        context=doc["context"],
        dockerfile=doc.get("dockerfile", "Dockerfile"),
        dockerfile_inline=doc.get("dockerfile_inline", ""),
        args=doc.get("args") or {},
        target=doc.get("target", ""),
        labels=doc.get("labels") or {},
        network=doc.get("network", ""),
        no_cache=doc.get("no_cache", False),
        tags=tuple(doc.get("tags") or ()),
    )


def _port(doc: dict[str, Any]) -> PortBinding:
    first, _, last = str(doc.get("published", "")).partition("-")
    return PortBinding(
        container_port=int(doc["target"]),
        proto=Proto(doc.get("protocol", "tcp")),
        host_ip=doc.get("host_ip", ""),
        host_port=int(first or 0),
        host_port_end=int(last or 0),
    )


def _mount(doc: dict[str, Any], volumes: Mapping[str, VolumeSpec], where: Where) -> Mount:
    kind = MountType(doc["type"])
    source = doc.get("source", "")
    if kind is MountType.VOLUME and source and source not in volumes:
        raise ComposeError(
            f"{where}: service refers to undefined volume {source}",
            hint=did_you_mean(source, volumes) or "declare it under top-level `volumes:`",
        )
    tmpfs = doc.get("tmpfs") or {}
    return Mount(
        type=kind,
        target=doc["target"],
        source=source,
        read_only=doc.get("read_only", False),
        create_host_path=(doc.get("bind") or {}).get("create_host_path", False),
        nocopy=(doc.get("volume") or {}).get("nocopy", False),
        tmpfs_size=tmpfs.get("size", 0),
        tmpfs_mode=tmpfs.get("mode", 0),
    )


def _attachments(
    doc: dict[str, Any], networks: Mapping[str, NetworkSpec], where: Where
) -> tuple[ServiceNetwork, ...]:
    out = []
    for key, attach in (doc.get("networks") or {}).items():
        if key not in networks:
            raise ComposeError(
                f"{where}: service refers to undefined network {key}",
                hint=did_you_mean(key, networks) or "declare it under top-level `networks:`",
            )
        attach = attach or {}
        out.append(
            ServiceNetwork(
                key=key,
                aliases=tuple(attach.get("aliases") or ()),
                ipv4_address=attach.get("ipv4_address", ""),
            )
        )
    if doc.get("network_mode") and out:
        raise ComposeError(f"{where}: network_mode and networks cannot be combined")
    return tuple(out)


def _dependencies(doc: dict[str, Any]) -> tuple[Dependency, ...]:
    found = {
        name: Dependency(
            service=name,
            condition=Condition(d["condition"]),
            restart=d.get("restart", False),
            required=d.get("required", True),
        )
        for name, d in (doc.get("depends_on") or {}).items()
    }
    for link in doc.get("links") or ():
        found.setdefault(link.partition(":")[0], Dependency(service=link.partition(":")[0]))
    kind, _, other = str(doc.get("network_mode", "")).partition(":")
    if kind == "service":
        found.setdefault(other, Dependency(service=other))
    return tuple(found.values())


def _health(doc: dict[str, Any]) -> Health:
    return Health(
        test=tuple(doc.get("test") or ()),
        interval=_ns(doc.get("interval")),
        timeout=_ns(doc.get("timeout")),
        start_period=_ns(doc.get("start_period")),
        start_interval=_ns(doc.get("start_interval")),
        retries=doc.get("retries", 0),
        disable=doc.get("disable", False),
    )


def _ns(text: str | None) -> int:
    return parse_go_duration(text) or 0 if text else 0


def _seconds(text: str) -> int:
    return -(-_ns(text) // 1_000_000_000)


def _restart(policy: dict[str, Any] | None) -> str:
    if not policy:
        return "no"
    condition = policy.get("condition", "any")
    if condition == "none":
        return "no"
    if condition == "any":
        return "always"
    attempts = policy.get("max_attempts")
    return f"on-failure:{attempts}" if attempts else "on-failure"


_BLKIO_KEYS = (
    "weight_device", "device_read_bps", "device_write_bps", "device_read_iops",
    "device_write_iops",
)  # fmt: skip


def _blkio_devices(config: Mapping[str, Any]) -> tuple[tuple[str, str, str], ...]:
    return tuple(
        (key, str(entry["path"]), str(entry["weight" if key == "weight_device" else "rate"]))
        for key in _BLKIO_KEYS
        for entry in config.get(key) or ()
    )


def _ulimit(name: str, value: Any) -> Ulimit:
    if isinstance(value, dict):
        return Ulimit(name=name, soft=value["soft"], hard=value["hard"])
    return Ulimit(name=name, soft=value, hard=value)


def _files(
    doc: dict[str, Any], kind: str, files: Mapping[str, Mapping[str, Any]], where: Where
) -> tuple[FileMount, ...]:
    out = []
    defined = files[kind]
    for i, ref in enumerate(doc.get(kind) or ()):
        source = ref["source"]
        if source not in defined:
            raise ComposeError(
                f"{where.key(kind).index(i)}: undefined {kind[:-1]} {source}",
                hint=did_you_mean(source, defined) or f"declare it under top-level `{kind}:`",
            )
        target = ref.get("target") or source
        if kind == "secrets" and not target.startswith("/"):
            target = f"/run/secrets/{target}"
        elif not target.startswith("/"):
            target = f"/{target}"
        out.append(FileMount(name=source, file=defined[source]["file"], target=target))
    return tuple(out)
