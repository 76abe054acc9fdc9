"""Parity with runc: the probe's report under ``dockyard-runtime run`` equals its report under
``runc run`` (1.1, Debian's) for the same bundle, apart from ids, times and cgroup paths.

Bundles: ``runc spec``'s default; Docker 20.10's defaults (SECURITY.md 1.12: 14 caps, the 10
masked and 5 read-only paths, /dev/shm, mqueue, devpts, read-only sysfs and cgroupfs, no
rlimits, no no_new_privs, a small seccomp profile); privileged-like (every capability, no
seccomp, no masks); a read-only root; user 1000:1000 with additional gids, a umask, rlimits and
reduced capabilities; a seccomp profile that denies mkdir with EACCES.

Known differences that are normalised, each documented in the runtime's report to the lead:
- stdio: runc's foreground ``run`` copies through pipes, ours hands over its own stdio, so
  only the fd numbers are compared;
- cgroups: only the set of v1 controllers whose path is not ``/`` is compared (runc also
  joins the ``name=systemd`` and unified hierarchies);
- masked directories: runc 1.1.5 mounts a plain read-only tmpfs, newer runc (and we) add
  ``nr_blocks=1,nr_inodes=1``: tmpfs size options are dropped from masked-path mounts.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.runtime.test_runtime_lifecycle_harness import (
    Config,
    base_config,
    dockyard_runtime,
    linux_of,
    new_id,
    probe_binary,
    process_of,
    runc,
    write_config,
)
from tests.support.docker_defaults import DOCKER_CAPS

from dockyard.oci.runtime import Capability

pytestmark = [pytest.mark.root, pytest.mark.cgroup]

SECCOMP_SMALL = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [
        {"names": ["keyctl", "add_key", "request_key"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {
            "names": ["socket"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1,
            "args": [{"index": 0, "value": 38, "op": "SCMP_CMP_EQ"}],
        },
    ],
}


def _caps(names: list[str], *, ambient: bool = False) -> dict[str, list[str]]:
    return {
        "bounding": names,
        "effective": names,
        "permitted": names,
        **({"inheritable": names, "ambient": names} if ambient else {}),
    }


def _docker(config: Config) -> None:
    process = process_of(config)
    process["capabilities"] = _caps(DOCKER_CAPS)
    process.pop("rlimits", None)
    process.pop("noNewPrivileges", None)
    process["env"] = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME=0123456789ab",
    ]
    config["hostname"] = "0123456789ab"
    config["root"] = {"path": "rootfs"}
    linux = linux_of(config)
    linux["seccomp"] = SECCOMP_SMALL
    linux["resources"] = {
        "devices": [
            {"allow": False, "access": "rwm"},
            *({"allow": True, "type": "c", "major": ma, "minor": mi, "access": "rwm"}
              for ma, mi in ((1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1))),
            {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        ]
    }  # fmt: skip
    linux["sysctl"] = {"net.ipv4.ping_group_range": "0 2147483647"}


def _docker_readonly(config: Config) -> None:
    _docker(config)
    config["root"] = {"path": "rootfs", "readonly": True}


def _host_caps() -> list[str]:
    """Every capability of our bounding set (this sandbox lacks CAP_SYS_RESOURCE)."""
    status = Path("/proc/self/status").read_text()
    mask = int(re.search(r"CapBnd:\s*([0-9a-f]+)", status).group(1), 16)  # type: ignore[union-attr]
    return [str(c) for c in Capability if mask >> c.number & 1]


def _privileged(config: Config) -> None:
    _docker(config)
    process_of(config)["capabilities"] = _caps(_host_caps())
    linux = linux_of(config)
    for key in ("seccomp", "maskedPaths", "readonlyPaths"):
        linux.pop(key, None)
    linux["resources"] = {"devices": [{"allow": True, "access": "rwm"}]}
    for mount in config["mounts"]:  # type: ignore[attr-defined]
        if mount["destination"] in ("/sys", "/sys/fs/cgroup"):
            mount["options"] = [o for o in mount["options"] if o != "ro"]


def _user(config: Config) -> None:
    process = process_of(config)
    process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 0o077}
    process["capabilities"] = _caps(["CAP_CHOWN", "CAP_KILL"], ambient=True)
    process["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "hard": 8192, "soft": 4096},
        {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
        {"type": "RLIMIT_NPROC", "hard": 512, "soft": 256},
    ]
    process["cwd"] = "/tmp"


def _seccomp_mkdir(config: Config) -> None:
    linux_of(config)["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }


def _writable_root(config: Config) -> None:
    config["root"] = {"path": "rootfs", "readonly": False}


BUNDLES: dict[str, Callable[[Config], None]] = {
    "runc-spec": lambda c: None,
    "runc-spec-writable-root": _writable_root,
    "docker-20.10": _docker,
    "docker-read-only": _docker_readonly,
    "privileged": _privileged,
    "user-and-caps": _user,
    "seccomp-mkdir": _seccomp_mkdir,
}

_MASK_TMPFS = re.compile(r",size=4k,nr_inodes=1$")


def normalise(report: dict[str, object]) -> dict[str, object]:
    out = copy.deepcopy(report)
    out["fds"] = sorted(str(f).split(" ")[0] for f in report["fds"])  # type: ignore[attr-defined]
    lines = str(report["cgroup"]).splitlines()
    out["cgroup"] = sorted(
        line.split(":")[1] for line in lines if not line.endswith(":/") and line.split(":")[1]
    )
    out["cgroup"] = [c for c in out["cgroup"] if c != "name=systemd"]  # type: ignore[attr-defined]
    out["mounts"] = sorted(_MASK_TMPFS.sub("", str(m)) for m in report["mounts"])  # type: ignore[attr-defined]
    return out


def _bundle(where: Path, rootfs: Path, config: Config) -> Path:
    where.mkdir()
    config = copy.deepcopy(config)
    config["root"] = {**config["root"], "path": str(rootfs)}  # type: ignore[dict-item]
    write_config(where, config)
    return where


@pytest.fixture(scope="module")
def shared_rootfs(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> Path:
    import shutil
    import subprocess

    rootfs = tmp_path_factory.mktemp("parity") / "rootfs"
    rootfs.mkdir()
    subprocess.run(["tar", "-xf", str(busybox_tar), "-C", str(rootfs)], check=True)
    shutil.copy2(probe_binary(), rootfs / "probe")
    return rootfs


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_probe_report_matches_runc(name: str, tmp_path: Path, shared_rootfs: Path) -> None:
    theirs_id, ours_id = new_id("runc"), new_id("dy")
    theirs_cfg, ours_cfg = base_config(theirs_id), base_config(ours_id)
    BUNDLES[name](theirs_cfg)
    BUNDLES[name](ours_cfg)
    theirs = runc(tmp_path / "runc-root").run_json(
        _bundle(tmp_path / "runc", shared_rootfs, theirs_cfg), theirs_id
    )
    ours = dockyard_runtime(tmp_path / "dy-root").run_json(
        _bundle(tmp_path / "dy", shared_rootfs, ours_cfg), ours_id
    )
    a, b = normalise(theirs), normalise(ours)
    differing = {
        k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)
    }
    assert differing == {}, json.dumps(differing, indent=1)
