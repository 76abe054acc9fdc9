"""The runtime spec model: round trips of real configs, ``runc spec``, and exact errors."""

# ruff: noqa: E501  (the table of bad inputs keeps one case per line)

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime import Capability, RlimitType, Spec, default_spec
from dockyard.oci.runtime_linux import NamespaceType
from dockyard.oci.runtime_resources import DeviceType
from dockyard.oci.runtime_seccomp import SeccompAction, SeccompOperator

RUNTIME = Path(__file__).parent / "testdata" / "runtime"
Doc = dict[str, object]


def _runc() -> Doc:
    loaded: Doc = json.loads((RUNTIME / "runc_spec.json").read_text())
    return loaded


def test_default_spec_is_what_runc_spec_writes() -> None:
    assert default_spec().to_json() == _runc()


def test_default_spec_cgroup_namespace() -> None:
    spec = default_spec(["/bin/true"], terminal=False, cgroup_namespace=True)
    assert spec.namespace(NamespaceType.CGROUP) is not None
    assert spec.process is not None
    assert spec.process.args == ("/bin/true",)
    assert "terminal" not in spec.to_json()["process"]  # type: ignore[operator]


@pytest.mark.parametrize("name", ["runc_spec.json", "docker_20_10.json"])
def test_round_trip(name: str) -> None:
    doc = json.loads((RUNTIME / name).read_text())
    assert Spec.from_json(doc).to_json() == doc


def test_docker_config_round_trips_byte_for_byte() -> None:
    data = (RUNTIME / "docker_20_10.json").read_bytes()
    assert Spec.from_bytes(data).to_bytes() == data


def test_docker_config_fields() -> None:
    spec = Spec.from_bytes((RUNTIME / "docker_20_10.json").read_bytes())
    assert spec.process is not None and spec.process.capabilities is not None
    caps = spec.process.capabilities
    assert len(caps.bounding) == 14 and caps.bounding == caps.effective == caps.permitted
    assert sum(1 << c.number for c in caps.effective) == 0xA80425FB  # SECURITY.md 1.1
    assert caps.ambient == () and caps.inheritable == ()
    assert spec.process.oom_score_adj == 0
    assert spec.linux is not None and spec.linux.resources is not None
    res = spec.linux.resources
    assert res.devices[0].kind is DeviceType.ALL and not res.devices[0].allow
    assert res.devices[-1].major == 10 and res.devices[-1].minor == 229
    assert res.pids_limit == 0 and res.cpu is not None and res.cpu.shares == 0
    assert spec.linux.cgroups_path.startswith("/docker/")
    assert spec.linux.seccomp is not None
    seccomp = spec.linux.seccomp
    assert seccomp.default_action is SeccompAction.ERRNO
    assert seccomp.syscalls[3].args[0].op is SeccompOperator.MASKED_EQ
    assert seccomp.syscalls[4].errno_ret == 38
    assert spec.hooks is not None and spec.hooks.prestart[0].args[0] == "libnetwork-setkey"


def test_unknown_fields_are_kept() -> None:
    doc = _runc()
    doc["vm"] = {"kernel": {"path": "/k"}}
    linux = doc["linux"]
    assert isinstance(linux, dict)
    linux["intelRdt"] = {"closID": "x"}
    linux["netDevices"] = {"eth0": {"name": "eth1"}}
    linux["resources"]["unified"] = {"memory.high": "1G"}
    process = doc["process"]
    assert isinstance(process, dict)
    process["scheduler"] = {"policy": "SCHED_BATCH", "nice": 3}
    process["futureKnob"] = [1, 2]
    assert Spec.from_json(doc).to_json() == doc


def test_enum_numbers() -> None:
    assert Capability.CHOWN.number == 0 and Capability.CHECKPOINT_RESTORE.number == 40
    assert RlimitType.NOFILE.resource == 7 and RlimitType.RTTIME.resource == 15


def _set(path: str, value: object) -> Callable[[Doc], None]:
    """A mutation that sets (or, for value ``...``, deletes) the dotted ``path``."""

    def mutate(doc: Doc) -> None:
        node: object = doc
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        for key in keys[:-1]:
            node = node[key]  # type: ignore[index]
        if value is ...:
            del node[keys[-1]]  # type: ignore[attr-defined]
        elif isinstance(node, list) and keys[-1] == len(node):
            node.append(value)
        else:
            node[keys[-1]] = value  # type: ignore[index]

    return mutate


BAD = [
    (_set("ociVersion", "2.0.0"), 'ociVersion "2.0.0": unsupported major version (want 1.x)'),
    (_set("ociVersion", "1.0"), 'ociVersion "1.0": not a semantic version'),
    (_set("ociVersion", ...), "ociVersion is required"),
    (_set("root", ...), "root is required"),
    (_set("root.path", ...), "root.path is required"),
    (_set("root.readonly", "yes"), "root.readonly: expected boolean, got string"),
    (
        _set("linux.namespaces.2.type", "foo"),
        'linux.namespaces[2].type: unknown namespace type "foo"',
    ),
    (_set("linux.namespaces.2.type", "pid"), 'linux.namespaces[2].type: duplicate namespace "pid"'),
    (_set("linux.namespaces.3", {"type": "uts", "path": "x"}), 'linux.namespaces[3].path: "x": must be an absolute path'),
    (_set("mounts.3.options.1", ""), "mounts[3].options[1]: empty option"),
    (
        _set("mounts.3.options.0", "nosuid,nodev"),
        'mounts[3].options[0]: "nosuid,nodev": one option per entry, without "," or NUL',
    ),
    (_set("mounts.3.options", "nosuid"), "mounts[3].options: expected array, got string"),
    (_set("mounts.0.destination", "proc"), 'mounts[0].destination: "proc": must be an absolute path'),
    (_set("mounts.1", {"destination": "/x", "type": "bind"}), "mounts[1].source: a bind mount needs a source"),
    (
        _set("linux.seccomp", {"defaultAction": "SCMP_ACT_FOO"}),
        'linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO"',
    ),
    (
        _set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
        "linux.seccomp.syscalls[0].args[0].index: 6 out of range [0, 5]",
    ),
    (
        _set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]}),
        'linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_XX"',
    ),
    (
        _set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}),
        'linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_Z80"',
    ),
    (
        _set("process.capabilities.bounding.1", "CAP_FOO"),
        'process.capabilities.bounding[1]: unknown capability "CAP_FOO"',
    ),
    (_set("process.rlimits.0.type", "RLIMIT_BOGUS"), 'process.rlimits[0].type: unknown rlimit "RLIMIT_BOGUS"'),
    (_set("process.rlimits.0.soft", 4096), "process.rlimits[0].soft: 4096 exceeds hard limit 1024"),
    (_set("process.rlimits.1", {"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}), 'process.rlimits[1].type: duplicate rlimit "RLIMIT_NOFILE"'),
    (_set("process.args", []), "process.args: at least one entry is required"),
    (_set("process.cwd", "tmp"), 'process.cwd: "tmp": must be an absolute path'),
    (_set("process.cwd", ...), "process.cwd is required"),
    (_set("process.env.1", "TERM"), 'process.env[1]: "TERM": expected NAME=value'),
    (_set("process.user.uid", "0"), "process.user.uid: expected integer, got string"),
    (_set("process.user.uid", -1), "process.user.uid: -1 out of range [0, 4294967295]"),
    (_set("process.user.gid", 1.5), "process.user.gid: expected integer, got 1.5"),
    (_set("process.oomScoreAdj", 1001), "process.oomScoreAdj: 1001 out of range [-1000, 1000]"),
    (_set("linux.namespaces", [{"type": "pid"}]), "hostname: setting it needs a new or joined uts namespace"),
    (
        _set("linux.uidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}]),
        "linux.uidMappings: id mappings need a user namespace",
    ),
    (
        _set("linux.resources.devices.0.access", "rwx"),
        'linux.resources.devices[0].access: invalid access "rwx" (want letters of "rwm")',
    ),
    (_set("linux.resources.devices.0.type", "p"), 'linux.resources.devices[0].type: device type "p" is not valid in a cgroup rule'),
    (_set("linux.resources.devices.0.allow", ...), "linux.resources.devices[0].allow is required"),
    (_set("linux.resources.memory", {"limit": 100, "swap": 50}), "linux.resources.memory.swap: 50 is below limit 100 (swap is memory+swap)"),
    (_set("linux.resources.memory", {"swappiness": 101}), "linux.resources.memory.swappiness: 101 out of range [0, 100]"),
    (_set("linux.resources.cpu", {"cpus": "0-"}), 'linux.resources.cpu.cpus: invalid list "0-" (want e.g. "0-3,5")'),
    (_set("linux.resources.pids", {}), "linux.resources.pids.limit is required"),
    (_set("linux.resources.unified", {"../x": "1"}), 'linux.resources.unified: invalid key "../x" (want <controller>.<file>)'),
    (_set("linux.devices", [{"path": "/dev/fuse", "type": "c", "major": 10}]), "linux.devices[0].minor is required"),
    (_set("linux.devices", [{"path": "/dev/x", "type": "q", "major": 1, "minor": 1}]), 'linux.devices[0].type: unknown device type "q"'),
    (_set("linux.rootfsPropagation", "sideways"), 'linux.rootfsPropagation: unknown propagation "sideways"'),
    (_set("linux.maskedPaths.0", "proc/kcore"), 'linux.maskedPaths[0]: "proc/kcore": must be an absolute path'),
    (_set("hooks", {"poststop": [{"path": "/bin/x", "timeout": 0}]}), "hooks.poststop[0].timeout: 0 must be greater than zero"),
    (_set("hooks", {"prestart": [{"args": ["x"]}]}), "hooks.prestart[0].path is required"),
    (_set("annotations", {"a": 1}), "annotations.a: expected string, got number"),
    (_set("linux", []), "linux: expected an object, got array"),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_config(mutate: Callable[[Doc], None], message: str) -> None:
    doc = copy.deepcopy(_runc())
    mutate(doc)
    with pytest.raises(InvalidArgument) as info:
        Spec.from_json(doc)
    assert str(info.value) == f"config.json: {message}"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[]", "config.json: expected a JSON object, got array"),
        (b"{", "config.json: malformed JSON"),
        (b'{"ociVersion": 1}', "config.json: ociVersion: expected string, got number"),
    ],
)
def test_bad_bytes(data: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Spec.from_bytes(data)
    assert str(info.value).startswith(message)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    path=st.sampled_from(
        ["process", "linux", "linux.resources", "root", "mounts.1", "linux.seccomp"]
    ),
    value=_json_values,
)
def test_arbitrary_values_parse_or_raise_invalid_argument(path: str, value: object) -> None:
    doc = copy.deepcopy(_runc())
    doc["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW"}  # type: ignore[index]
    _set(path, value)(doc)
    try:
        spec = Spec.from_json(doc)
    except InvalidArgument as err:
        message = str(err)
    else:
        assert Spec.from_json(spec.to_json()) == spec
        return
    assert message.startswith("config.json: ")
