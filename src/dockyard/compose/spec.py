"""The compose specification as dockyard reads it: every key of the specification, each either
checked and normalised (:mod:`.syntax`) or refused as not supported (:class:`NotSupported`).

``validate(doc, where, ctx)`` returns the file's canonical form (see :mod:`.syntax`).
"""

from __future__ import annotations

from typing import Any

from dockyard.compose import syntax as s
from dockyard.compose.diagnostics import Where
from dockyard.compose.schema import (
    ANY,
    BOOL,
    INT,
    NUM,
    STR,
    STRINGS,
    STRNUM,
    Ctx,
    ListOf,
    ListOrMap,
    MapOf,
    Node,
    NotSupported,
    Obj,
    OneOf,
    Scalar,
)


def _no(what: str, accept: Any = None, hint: str | None = None) -> NotSupported:
    return NotSupported(what, accept, hint)


def _falsy(value: Any) -> bool:
    return value in (False, "false", 0, "", [], {}, None)


DURATION = Scalar("str", post=s.duration)
SIZE = OneOf((Scalar("int", post=s.size), Scalar("str", post=s.size)))
PATH = Scalar("str", post=s.path)
LABELS = ListOrMap(post=s.string_map)

BUILD = OneOf((Scalar("str"), Obj({
    "context": STR, "dockerfile": STR, "dockerfile_inline": STR, "args": LABELS,
    "target": STR, "labels": LABELS, "network": STR, "no_cache": BOOL, "tags": STRINGS,
    "ssh": _no("build ssh", _falsy), "secrets": _no("build secrets", _falsy),
    "cache_from": _no("build cache_from", _falsy), "cache_to": _no("build cache_to", _falsy),
    "extra_hosts": _no("build extra_hosts", _falsy), "isolation": _no("build isolation"),
    "pull": _no("build pull", _falsy, "load the base image first"),
    "shm_size": _no("build shm_size"), "ulimits": _no("build ulimits"),
    "platforms": _no("build platforms"), "privileged": _no("build privileged", _falsy),
    "additional_contexts": _no("build additional_contexts"),
    "entitlements": _no("build entitlements", _falsy),
})), post=s.build)  # fmt: skip

HEALTHCHECK = Obj({
    "test": OneOf((STR, ListOf(STR)), post=s.healthcheck_test), "interval": DURATION,
    "timeout": DURATION, "start_period": DURATION, "start_interval": DURATION,
    "retries": INT, "disable": BOOL,
})  # fmt: skip

PORT = OneOf((Scalar("strnum", post=s.port_short), Obj({
    "target": INT, "published": STRNUM, "host_ip": STR,
    "protocol": Scalar("str", choices=("tcp", "udp")),
    "mode": Scalar("str", choices=("ingress", "host")), "name": STR,
    "app_protocol": _no("app_protocol"),
}, required=("target",), post=s.port_long)))  # fmt: skip

VOLUME_MOUNT = OneOf((Scalar("str", post=s.volume_short), Obj({
    "type": Scalar("str", choices=("bind", "volume", "tmpfs")), "source": STR, "target": STR,
    "read_only": BOOL, "consistency": STR,
    "bind": Obj({"create_host_path": BOOL, "propagation": _no("bind propagation"),
                 "selinux": _no("SELinux relabeling (bind.selinux)")}),
    "volume": Obj({"nocopy": BOOL, "subpath": _no("volume subpath")}),
    "tmpfs": Obj({"size": SIZE, "mode": INT}),
    "image": _no("image mounts"),
}, required=("type", "target"), post=s.volume_long)))  # fmt: skip

NETWORK_ATTACHMENT = Obj({
    "aliases": STRINGS, "ipv4_address": STR, "ipv6_address": _no("ipv6_address"),
    "link_local_ips": _no("link_local_ips"), "mac_address": _no("mac_address"),
    "priority": _no("network priority"), "gw_priority": _no("gw_priority"),
    "driver_opts": _no("endpoint driver_opts"),
})  # fmt: skip

DEPENDENCY = Obj({
    "condition": Scalar("str", choices=(
        "service_started", "service_healthy", "service_completed_successfully")),
    "restart": BOOL, "required": BOOL,
})  # fmt: skip

_BLKIO_RATE = ListOf(Obj({"path": STR, "rate": STRNUM}, required=("path", "rate")))
BLKIO = Obj({
    "weight": INT,
    "weight_device": ListOf(Obj({"path": STR, "weight": INT}, required=("path", "weight"))),
    "device_read_bps": _BLKIO_RATE, "device_write_bps": _BLKIO_RATE,
    "device_read_iops": _BLKIO_RATE, "device_write_iops": _BLKIO_RATE,
})  # fmt: skip
ULIMIT = OneOf((INT, Obj({"soft": INT, "hard": INT}, required=("soft", "hard"), post=s.ulimit)))

RESOURCES = Obj({
    "limits": Obj({"cpus": NUM, "memory": SIZE, "pids": INT, "devices": _no("device limits")}),
    "reservations": _no("resource reservations", _falsy),
})  # fmt: skip

DEPLOY = Obj({
    "mode": Scalar("str", choices=("replicated",)), "replicas": INT, "resources": RESOURCES,
    "restart_policy": Obj({
        "condition": Scalar("str", choices=("none", "on-failure", "any")),
        "max_attempts": INT, "delay": _no("restart_policy.delay"),
        "window": _no("restart_policy.window"),
    }),
    "labels": _no("deploy.labels (swarm service labels)"),
    "placement": _no("deploy.placement (swarm)"), "update_config": _no("deploy.update_config"),
    "rollback_config": _no("deploy.rollback_config"), "endpoint_mode": _no("endpoint_mode"),
})  # fmt: skip

FILE_REF = OneOf(
    (
        STR,
        Obj(
            {"source": STR, "target": STR, "uid": STRNUM, "gid": STRNUM, "mode": STRNUM},
            required=("source",),
        ),
    ),
    post=s.file_reference,
)

_SERVICE_FIELDS: dict[str, Node] = {
    "image": STR, "build": BUILD, "command": OneOf((STR, ListOf(STR)), post=s.words),
    "entrypoint": OneOf((STR, ListOf(STR)), post=s.words),
    "environment": ListOrMap(post=s.environment),
    "env_file": ListOf(OneOf((STR, Obj({"path": STR, "required": BOOL,
                                        "format": _no("env_file format")},
                                       required=("path",)))), single=True, post=s.env_files),
    "ports": ListOf(PORT, post=s.ports), "expose": ListOf(Scalar("strnum", post=s.expose)),
    "volumes": ListOf(VOLUME_MOUNT),
    "networks": OneOf((ListOf(STR), MapOf(NETWORK_ATTACHMENT, nullable=True)),
                      post=s.service_networks),
    "network_mode": Scalar("str", post=s.network_mode),
    "depends_on": OneOf((ListOf(STR), MapOf(DEPENDENCY, nullable=False)), post=s.depends_on),
    "healthcheck": HEALTHCHECK, "restart": Scalar("str", post=s.restart),
    "deploy": DEPLOY, "scale": INT, "container_name": Scalar(
        "str", post=s.pattern(s.CONTAINER_NAME, "container name")),
    "hostname": STR, "domainname": STR, "user": STRNUM,
    "working_dir": STR, "labels": LABELS, "stop_signal": STR, "stop_grace_period": DURATION,
    "init": BOOL, "read_only": BOOL, "tmpfs": STRINGS, "cap_add": STRINGS, "cap_drop": STRINGS,
    "privileged": BOOL, "security_opt": STRINGS, "ulimits": MapOf(ULIMIT), "sysctls": LABELS,
    "extra_hosts": OneOf((ListOf(STR), MapOf(STRNUM)), post=s.extra_hosts),
    "dns": STRINGS, "dns_search": STRINGS, "dns_opt": STRINGS,
    "logging": Obj({"driver": STR, "options": MapOf(STRNUM)}, post=s.logging),
    "tty": BOOL, "stdin_open": BOOL,
    "pull_policy": Scalar("str", choices=("always", "never", "missing", "if_not_present",
                                          "build")),
    "secrets": ListOf(FILE_REF), "configs": ListOf(FILE_REF), "profiles": STRINGS,
    "extends": OneOf((STR, Obj({"service": STR, "file": STR}, required=("service",)))),
    "mem_limit": SIZE, "memswap_limit": OneOf((INT, Scalar("str", post=s.size))),
    "shm_size": SIZE, "cpus": NUM, "cpu_shares": INT, "cpuset": STR, "pids_limit": INT,
    "blkio_config": BLKIO, "oom_score_adj": Scalar("int", post=s.oom_score_adj),
    "ipc": Scalar("str", choices=("private", "none")),
    "links": ListOf(Scalar("str", post=s.link)),
    "platform": Scalar("str", post=s.platform),
    **{key: _no(key) for key in (
        "annotations", "attach", "cgroup", "cgroup_parent", "cpu_count",
        "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime",
        "credential_spec", "develop", "device_cgroup_rules", "devices", "runtime",
        "external_links", "gpus", "group_add", "isolation", "label_file", "mac_address",
        "mem_reservation",
        "mem_swappiness", "oom_kill_disable", "pid", "post_start",
        "pre_stop", "provider", "storage_opt", "use_api_socket", "userns_mode", "uts",
        "volumes_from", "models", "hooks",
    )},
}  # fmt: skip

SERVICE = Obj(_SERVICE_FIELDS, post=s.read_env_files)

NETWORK = Obj({
    "name": STR, "driver": Scalar("str", choices=("bridge",)), "internal": BOOL,
    "external": OneOf((BOOL, Obj({"name": STR}))), "labels": LABELS, "attachable": BOOL,
    "ipam": Obj({
        "driver": Scalar("str", choices=("default",)),
        "config": ListOf(Obj({"subnet": STR, "gateway": STR, "ip_range": STR,
                              "aux_addresses": _no("ipam aux_addresses")})),
        "options": _no("ipam options", _falsy),
    }),
    "enable_ipv6": _no("enable_ipv6", _falsy, "dockyard networks are IPv4 only"),
    "enable_ipv4": _no("enable_ipv4: false", lambda v: v in (True, "true")),
    "driver_opts": MapOf(STRNUM, key=s.network_option),
})  # fmt: skip

VOLUME = Obj({
    "name": STR, "driver": Scalar("str", choices=("local",)),
    "driver_opts": _no("volume driver_opts", _falsy),
    "external": OneOf((BOOL, Obj({"name": STR}))), "labels": LABELS,
})  # fmt: skip

SECRET = Obj({
    "file": PATH, "name": STR,
    "environment": _no("secrets from environment variables", hint="use file:"),
    "external": _no("external secrets", _falsy), "labels": LABELS,
    "driver": _no("secret drivers"), "template_driver": _no("template_driver"),
})  # fmt: skip

CONFIG = Obj({
    "file": PATH, "name": STR, "content": _no("inline config content", hint="use file:"),
    "environment": _no("configs from environment variables", hint="use file:"),
    "external": _no("external configs", _falsy), "labels": LABELS,
    "template_driver": _no("template_driver"),
})  # fmt: skip

INCLUDE = OneOf((STR, Obj({
    "path": STRINGS, "project_directory": STR, "env_file": STRINGS,
}, required=("path",))))  # fmt: skip

_NAMED = s.pattern(s.RESOURCE_NAME, "name")

TOP = Obj({
    "version": ANY, "name": STR, "include": ListOf(INCLUDE),
    "services": MapOf(SERVICE, key=s.pattern(s.SERVICE_NAME, "service name")),
    "networks": MapOf(NETWORK, nullable=True, key=_NAMED),
    "volumes": MapOf(VOLUME, nullable=True, key=_NAMED),
    "secrets": MapOf(SECRET, key=_NAMED), "configs": MapOf(CONFIG, key=_NAMED),
})  # fmt: skip


def validate(doc: dict[str, Any], where: Where, ctx: Ctx) -> dict[str, Any]:
    """The canonical form of one file's (interpolated) document.

    Raises:
        ComposeError: an unknown key, a wrong type or an invalid value (file and path named).
        ComposeUnsupported: a valid key dockyard does not implement.
    """
    out = TOP.convert(doc, where, ctx)
    assert isinstance(out, dict)
    return out
