"""The OCI runtime spec ``config.json`` (runtime-spec ``config.md``, v1.0-1.2).

:class:`Spec` is the bundle's configuration as the runtime obeys it: root filesystem, mounts,
the container process (:mod:`.runtime_process`, whose names are re-exported here), hostname,
hooks, annotations, and the ``linux`` object (:mod:`.runtime_linux`,
:mod:`.runtime_resources`). Parsing is strict: every known field must
have its JSON type and a valid value, and an error names the field's full path
(``config.json: mounts[3].options[0]: empty option``). Unknown keys are kept in ``extra`` and
written back. :meth:`Spec.to_json` follows ``specs-go`` field order and ``omitempty``, so a
runc- or Docker-written config comes back equal. :func:`default_spec` is ``runc spec``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dockyard.oci import _json
from dockyard.oci.runtime_fields import DOC, Fields, bad, check_abs, put, put_struct
from dockyard.oci.runtime_linux import IDMapping, Linux, Namespace, NamespaceType
from dockyard.oci.runtime_process import (
    Capabilities,
    Capability,
    ConsoleSize,
    IOPriority,
    IOPriorityClass,
    Process,
    Rlimit,
    RlimitType,
    User,
)
from dockyard.oci.runtime_resources import DeviceRule, Resources

__all__ = [
    "Capabilities",
    "Capability",
    "ConsoleSize",
    "Hook",
    "Hooks",
    "IOPriority",
    "IOPriorityClass",
    "Mount",
    "Process",
    "Rlimit",
    "RlimitType",
    "Root",
    "Spec",
    "User",
    "default_spec",
]

_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")


@dataclass(frozen=True, slots=True, kw_only=True)
class Root:
    """The container's root filesystem: ``path`` (absolute, or relative to the bundle)."""

    path: str
    readonly: bool = False

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path}
        if self.readonly:
            out["readonly"] = True
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    """One spec mount: fstab-style ``options`` (one option per entry), optional id-mapping."""

    destination: str
    type: str = ""
    source: str = ""
    options: tuple[str, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()

    @property
    def is_bind(self) -> bool:
        """Whether this is a bind mount (type ``bind`` or a ``bind``/``rbind`` option)."""
        return self.type == "bind" or any(o in ("bind", "rbind") for o in self.options)

    @classmethod
    def from_fields(cls, f: Fields) -> Mount:
        """Parse one ``mounts[]`` entry.

        Raises:
            InvalidArgument: a field is malformed; the message names its path.
        """
        options = f.get_strs("options")
        for i, option in enumerate(options):
            where = f"{f.at('options')}[{i}]"
            if not option:
                raise bad(where, "empty option")
            if "," in option or "\0" in option:
                raise bad(where, f'"{option}": one option per entry, without "," or NUL')
        mount = cls(
            destination=check_abs(f.at("destination"), f.req_str("destination")),
            type=f.get_str("type") or "",
            source=f.get_str("source") or "",
            options=options,
            uid_mappings=IDMapping.parse_list(f, "uidMappings"),
            gid_mappings=IDMapping.parse_list(f, "gidMappings"),
        )
        if mount.is_bind and not mount.source:
            raise bad(f.at("source"), "a bind mount needs a source")
        if bool(mount.uid_mappings) != bool(mount.gid_mappings):
            raise bad(f.at("uidMappings"), "uid and gid mappings must be given together")
        return mount

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"destination": self.destination}
        put(out, "type", self.type)
        put(out, "source", self.source)
        put(out, "options", self.options)
        put(out, "uidMappings", [m.to_json() for m in self.uid_mappings])
        put(out, "gidMappings", [m.to_json() for m in self.gid_mappings])
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Hook:
    """A program the runtime runs at a lifecycle point, with the state JSON on stdin."""

    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None

    @classmethod
    def from_fields(cls, f: Fields) -> Hook:
        timeout = f.get_int("timeout")
        if timeout is not None and timeout <= 0:
            raise bad(f.at("timeout"), f"{timeout} must be greater than zero")
        return cls(
            path=check_abs(f.at("path"), f.req_str("path")),
            args=f.get_strs("args"),
            env=f.get_env("env"),
            timeout=timeout,
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path}
        put(out, "args", self.args)
        put(out, "env", self.env)
        put(out, "timeout", self.timeout)
        return out


_HOOK_KEYS = (
    ("prestart", "prestart"),
    ("create_runtime", "createRuntime"),
    ("create_container", "createContainer"),
    ("start_container", "startContainer"),
    ("poststart", "poststart"),
    ("poststop", "poststop"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hooks:
    """The lifecycle hooks, each list run in order (``prestart`` is deprecated)."""

    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = ()
    create_container: tuple[Hook, ...] = ()
    start_container: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> Hooks:
        lists = {
            attr: tuple(Hook.from_fields(h) for h in f.get_objs(key)) for attr, key in _HOOK_KEYS
        }
        return cls(**lists)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for attr, key in _HOOK_KEYS:
            put(out, key, [h.to_json() for h in getattr(self, attr)])
        return out


def _oci_version(f: Fields) -> str:
    version = f.req_str("ociVersion")
    match = _SEMVER.fullmatch(version)
    if match is None:
        raise bad(f'ociVersion "{version}"', "not a semantic version")
    if match.group(1) != "1":
        raise bad(f'ociVersion "{version}"', "unsupported major version (want 1.x)")
    return version


def _root(f: Fields) -> Root:
    f.required("root")
    root = f.get_obj("root")
    assert root is not None
    path = root.req_str("path")
    return Root(path=path, readonly=bool(root.get_bool("readonly")))


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """A bundle's ``config.json``. ``extra`` keeps unknown and non-Linux top-level keys."""

    oci_version: str
    root: Root
    mounts: tuple[Mount, ...] = ()
    process: Process | None = None
    hostname: str = ""
    domainname: str = ""
    hooks: Hooks | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    linux: Linux | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    _KNOWN = frozenset(
        [
            "ociVersion",
            "process",
            "root",
            "hostname",
            "domainname",
            "mounts",
            "hooks",
            "annotations",
            "linux",
        ]
    )

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Spec:
        """Decode and parse a ``config.json`` document.

        Raises:
            InvalidArgument: the bytes are not a JSON object, or a field is malformed.
        """
        return cls.from_json(_json.load_object(data, DOC))

    @classmethod
    def from_json(cls, obj: object) -> Spec:
        """Parse decoded ``config.json``, strictly.

        Raises:
            InvalidArgument: a field is malformed; the message names its path, e.g.
                ``config.json: linux.namespaces[2].type: unknown namespace type "foo"``.
        """
        f = Fields(obj, "")
        version = _oci_version(f)
        process, hooks, linux = f.get_obj("process"), f.get_obj("hooks"), f.get_obj("linux")
        spec = cls(
            oci_version=version,
            root=_root(f),
            mounts=tuple(Mount.from_fields(m) for m in f.get_objs("mounts")),
            process=Process.from_fields(process) if process else None,
            hostname=f.get_str("hostname") or "",
            domainname=f.get_str("domainname") or "",
            hooks=Hooks.from_fields(hooks) if hooks else None,
            annotations=f.get_map("annotations"),
            linux=Linux.from_fields(linux) if linux else None,
            extra=f.extra(cls._KNOWN),
        )
        for key in ("hostname", "domainname"):
            if getattr(spec, key) and spec.namespace(NamespaceType.UTS) is None:
                raise bad(key, "setting it needs a new or joined uts namespace")
        return spec

    def namespace(self, kind: NamespaceType) -> Namespace | None:
        """The ``linux.namespaces`` entry for ``kind``, or None."""
        return None if self.linux is None else self.linux.namespace(kind)

    def to_json(self) -> dict[str, object]:
        """The document in ``specs-go`` field order, omitting empty fields."""
        out: dict[str, object] = {"ociVersion": self.oci_version}
        put_struct(out, "process", self.process)
        out["root"] = self.root.to_json()
        put(out, "hostname", self.hostname)
        put(out, "domainname", self.domainname)
        put(out, "mounts", [m.to_json() for m in self.mounts])
        put_struct(out, "hooks", self.hooks)
        put(out, "annotations", dict(sorted(self.annotations.items())))
        put_struct(out, "linux", self.linux)
        out.update(self.extra)
        return out

    def to_bytes(self) -> bytes:
        """Compact JSON, escaped like Go's ``encoding/json``."""
        return _json.dumps(self.to_json())


_DEFAULT_CAPS = (Capability.AUDIT_WRITE, Capability.KILL, Capability.NET_BIND_SERVICE)
_MASKED = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
]
_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
NOSUID_NOEXEC_NODEV = ("nosuid", "noexec", "nodev")
# /dev and /dev/pts: the same in runc's and moby's defaults.
DEV_MOUNT = Mount(
    destination="/dev",
    type="tmpfs",
    source="tmpfs",
    options=("nosuid", "strictatime", "mode=755", "size=65536k"),
)
DEVPTS_MOUNT = Mount(
    destination="/dev/pts",
    type="devpts",
    source="devpts",
    options=("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
)


def _default_mounts() -> tuple[Mount, ...]:
    return (
        Mount(destination="/proc", type="proc", source="proc"),
        DEV_MOUNT,
        DEVPTS_MOUNT,
        Mount(
            destination="/dev/shm",
            type="tmpfs",
            source="shm",
            options=(*NOSUID_NOEXEC_NODEV, "mode=1777", "size=65536k"),
        ),
        Mount(
            destination="/dev/mqueue", type="mqueue", source="mqueue", options=NOSUID_NOEXEC_NODEV
        ),
        Mount(
            destination="/sys", type="sysfs", source="sysfs", options=(*NOSUID_NOEXEC_NODEV, "ro")
        ),
        Mount(
            destination="/sys/fs/cgroup",
            type="cgroup",
            source="cgroup",
            options=(*NOSUID_NOEXEC_NODEV, "relatime", "ro"),
        ),
    )


def default_spec(
    args: Sequence[str] = ("sh",), *, terminal: bool = True, cgroup_namespace: bool = False
) -> Spec:
    """The configuration ``runc spec`` writes (runc 1.1, ``libcontainer/specconv/example.go``).

    Args:
        args: the container process's argv.
        terminal: ``process.terminal`` (runc's default is true).
        cgroup_namespace: add a cgroup namespace, as runc does on cgroup v2 hosts.
    """
    namespaces = [NamespaceType.PID, NamespaceType.NETWORK, NamespaceType.IPC]
    namespaces += [NamespaceType.UTS, NamespaceType.MOUNT]
    if cgroup_namespace:
        namespaces.append(NamespaceType.CGROUP)
    caps = _DEFAULT_CAPS
    return Spec(
        oci_version="1.0.2-dev",
        process=Process(
            terminal=terminal,
            user=User(uid=0, gid=0),
            args=tuple(args),
            env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"),
            cwd="/",
            capabilities=Capabilities(bounding=caps, effective=caps, permitted=caps, ambient=caps),
            rlimits=(Rlimit(type=RlimitType.NOFILE, hard=1024, soft=1024),),
            no_new_privileges=True,
        ),
        root=Root(path="rootfs", readonly=True),
        hostname="runc",
        mounts=_default_mounts(),
        linux=Linux(
            resources=Resources(devices=(DeviceRule(allow=False, access="rwm"),)),
            namespaces=tuple(Namespace(type=t) for t in namespaces),
            masked_paths=tuple(_MASKED),
            readonly_paths=tuple(_READONLY),
        ),
    )
