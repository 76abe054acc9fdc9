"""A harness for the rootfs tests: build a busybox bundle, run setup_rootfs/finish_rootfs in
a forked child inside new namespaces, and bring back what a probe saw, as JSON.

The forked child unshares mount, pid, uts, ipc (and net when the spec asks), then forks pid
1 of the new pid namespace, which builds the rootfs and runs the probe *inside the container*
(after pivot_root: only modules imported before the fork are usable there). Both children
always leave with ``os._exit``; when pid 1 exits, its namespaces and every mount made in them
go away with it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from dockyard.linux import ns
from dockyard.oci.runtime import Spec
from dockyard.oci.runtime_linux import NamespaceType
from dockyard.runtime.rootfs import finish_rootfs, setup_rootfs

Probe = Callable[[], dict[str, object]]
_SKIPPED = {NamespaceType.USER, NamespaceType.CGROUP, NamespaceType.TIME}


def make_bundle(tmp_path: Path, busybox_tar: Path) -> Path:
    """``tmp_path/bundle`` with the busybox tree extracted in ``rootfs``."""
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(busybox_tar), "-C", str(bundle / "rootfs")], check=True)
    return bundle


def _flags(spec: Spec) -> int:
    flags = ns.CLONE_NEWNS | ns.CLONE_NEWPID | ns.CLONE_NEWUTS | ns.CLONE_NEWIPC
    for entry in spec.linux.namespaces if spec.linux else ():
        if entry.type not in _SKIPPED:
            flags |= ns.NAMESPACE_FLAGS[ns.NamespaceType(entry.type.value)]
    return flags


def _report(fd: int, value: dict[str, object]) -> None:
    data = json.dumps(value).encode()
    while data:
        data = data[os.write(fd, data) :]


def _error(err: BaseException) -> dict[str, object]:
    return {"error": type(err).__name__, "message": str(err), "errno": getattr(err, "errno", None)}


def _init(spec: Spec, bundle: Path, probe: Probe, finish: bool, fd: int) -> dict[str, object]:
    try:
        setup_rootfs(spec, bundle)
        if finish:
            finish_rootfs(spec)
        return {"ok": probe()}
    except BaseException as err:
        return _error(err)


def _stage1(spec: Spec, bundle: Path, probe: Probe, finish: bool, fd: int) -> None:
    ns.unshare(_flags(spec))
    pid = os.fork()
    if pid == 0:
        try:
            _report(fd, _init(spec, bundle, probe, finish, fd))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def run_container(
    spec: Spec, bundle: Path, probe: Probe, *, finish: bool = True
) -> dict[str, object]:
    """Run the rootfs setup for ``spec`` in fresh namespaces and return
    ``{"ok": probe()}`` or ``{"error": class name, "message": ..., "errno": ...}``."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read)
            _stage1(spec, bundle, probe, finish, write)
            code = 0
        except BaseException as err:
            _report(write, _error(err))
        finally:
            os._exit(code)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    assert chunks, "the container child reported nothing"
    result: dict[str, object] = json.loads(b"".join(chunks))
    return result


# Probes: they run after pivot_root, so they use only what is imported already.


def list_dev() -> dict[str, str]:
    """``/dev`` as ``name -> "c 1:3 0666"``, ``"l target"`` or ``"d 0755"``."""
    out = {}
    for name in sorted(os.listdir("/dev")):
        st = os.lstat("/dev/" + name)
        mode = f"{stat.S_IMODE(st.st_mode):04o}"
        if stat.S_ISLNK(st.st_mode):
            out[name] = "l " + os.readlink("/dev/" + name)
        elif stat.S_ISCHR(st.st_mode):
            out[name] = f"c {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} {mode}"
        elif stat.S_ISDIR(st.st_mode):
            out[name] = f"d {mode}"
        else:
            out[name] = f"f {mode}"
    return out


def write_errno(path: str, data: str = "1") -> int:
    """0 when writing ``data`` to ``path`` works, else the errno."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)
    except OSError as err:
        return err.errno or -1
    return 0


def mounts() -> list[list[str]]:
    """The container's mountinfo as [mount point, per-mount options, fstype, source, root]."""
    rows = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            rows.append([fields[4], fields[5], fields[sep + 1], fields[sep + 2], fields[3]])
    return rows
