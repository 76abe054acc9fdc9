"""The runtime attacks of SECURITY.md section 2, tried and failing: leaked fds, a working
directory through ``/proc/self/fd/N``, ``/proc/<pid>/exe`` of the runtime (CVE-2019-5736
class), a ``/proc`` symlink (in test_runtime_lifecycle's bad bundles); and nothing leaks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.runtime.test_runtime_lifecycle_harness import (
    Config,
    Runtime,
    assert_nothing_left,
    dockyard_runtime,
    make_bundle,
    new_id,
    probe_binary,
    process_of,
    set_args,
)

from dockyard.linux.proc import get_dumpable
from dockyard.runtime.child import read_child_error
from dockyard.runtime.init import enter_child, fork_stage


def _bundle(tmp: Path, tar: Path, edit: Callable[[Config], None] | None = None) -> tuple[str, Path]:
    cid = new_id()
    return cid, make_bundle(tmp / cid, tar, probe_binary(), cid, edit)


def _fd_numbers(report: dict[str, object]) -> list[str]:
    fds = report["fds"]
    assert isinstance(fds, list)
    return sorted(f.split(" ")[0] for f in fds)


@pytest.mark.root
@pytest.mark.cgroup
def test_no_leaked_fds(tmp_path: Path, busybox_tar: Path) -> None:
    cid, bundle = _bundle(tmp_path, busybox_tar)
    rt = dockyard_runtime(tmp_path / "state")
    # An inheritable descriptor in the caller, to a host directory, must not get in.
    leak = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        with tempfile.TemporaryFile() as out:
            code = subprocess.run(
                [*rt.argv, "--root", str(rt.root), "run", "--bundle", str(bundle), cid],
                stdout=out,
                pass_fds=(leak,),
                timeout=60,
            ).returncode
            out.seek(0)
            report = json.loads(out.read())
    finally:
        os.close(leak)
    assert code == 0
    assert _fd_numbers(report) == ["0", "1", "2"]
    assert_nothing_left(rt, cid, bundle)


@pytest.mark.root
@pytest.mark.cgroup
def test_no_leaked_fds_after_create_start(tmp_path: Path, busybox_tar: Path) -> None:
    cid, bundle = _bundle(tmp_path, busybox_tar)
    rt = dockyard_runtime(tmp_path / "state")
    out = tmp_path / "out.json"
    with out.open("wb") as f:
        subprocess.run(
            [*rt.argv, "--root", str(rt.root), "create", "--bundle", str(bundle), cid],
            stdout=f,
            check=True,
            timeout=60,
        )
    rt("start", cid)
    deadline = 100
    while not out.read_bytes().endswith(b"}\n") and deadline:
        deadline -= 1
        subprocess.run(["sleep", "0.05"], check=True)
    assert _fd_numbers(json.loads(out.read_bytes())) == ["0", "1", "2"]
    rt("delete", "--force", cid)


@pytest.mark.root
@pytest.mark.cgroup
@pytest.mark.parametrize("fd", range(3, 11))
def test_cwd_through_proc_self_fd(tmp_path: Path, busybox_tar: Path, fd: int) -> None:
    """CVE-2024-21626: cwd /proc/self/fd/N must fail, or stay inside the container."""
    cid, bundle = _bundle(
        tmp_path, busybox_tar, lambda c: process_of(c).__setitem__("cwd", f"/proc/self/fd/{fd}")
    )
    rt = dockyard_runtime(tmp_path / "state")
    proc = rt("run", "--bundle", str(bundle), cid, check=False)
    if proc.returncode == 0:
        cwd = json.loads(proc.stdout)["cwd"]
        assert not cwd.startswith(("/sys/fs/cgroup", "/tmp", str(tmp_path))), cwd
        assert os.path.realpath(bundle / "rootfs" / cwd.lstrip("/")).startswith(str(bundle))
    else:
        assert proc.returncode == 1 and cid in proc.stderr.decode()
    assert_nothing_left(rt, cid, bundle)


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.root
@pytest.mark.cgroup
def test_proc_exe_of_the_runtime_is_out_of_reach(tmp_path: Path, busybox_tar: Path) -> None:
    """While the init is still the host's Python (created, waiting for start), a container
    process can neither open nor read its /proc/<pid>/exe, and the interpreter is unchanged.

    Without a user namespace the capability-subset rule of ptrace access already stops a
    container process here; test_stages_are_not_dumpable proves the flag itself."""
    before = _sha256(os.path.realpath(sys.executable))
    cid, bundle = _bundle(tmp_path, busybox_tar)
    rt = dockyard_runtime(tmp_path / "state")
    rt("create", "--bundle", str(bundle), cid)
    try:
        # pid 1 in there is our init: Python, blocked opening exec.fifo.
        attack = rt("exec", cid, "/probe", "exe-attack", "2")
        result = json.loads(attack.stdout)
        assert result["attempts"] > 0
        assert result["opened"] == 0 and result["readable"] == 0, result
    finally:
        rt("delete", "--force", cid)
    assert _sha256(os.path.realpath(sys.executable)) == before
    assert_nothing_left(rt, cid, bundle)


REFUSED = b"refusing to execute the runtime's own binary"


@pytest.mark.root
@pytest.mark.cgroup
@pytest.mark.parametrize("entry", ["/entry", "/proc/self/exe"])
def test_entrypoint_proc_self_exe(tmp_path: Path, busybox_tar: Path, entry: str) -> None:
    """An entrypoint that is (a symlink to) /proc/self/exe must not run (or touch) the host's
    runtime binary: refused with 126, on the resolved file, not on the name."""
    before = _sha256(os.path.realpath(sys.executable))
    cid, bundle = _bundle(tmp_path, busybox_tar, set_args(entry, "-c", "print(1)"))
    (bundle / "rootfs" / "entry").symlink_to("/proc/self/exe")
    rt = dockyard_runtime(tmp_path / "state")
    proc = rt("run", "--bundle", str(bundle), cid, check=False)
    assert proc.returncode == 126, proc.stderr
    assert REFUSED in proc.stderr and proc.stdout == b""
    assert _sha256(os.path.realpath(sys.executable)) == before
    assert_nothing_left(rt, cid, bundle)


@pytest.mark.root
@pytest.mark.cgroup
def test_exec_of_proc_self_exe_is_refused(tmp_path: Path, busybox_tar: Path) -> None:
    before = _sha256(os.path.realpath(sys.executable))
    cid, bundle = _bundle(tmp_path, busybox_tar, set_args("/bin/sleep", "600"))
    (bundle / "rootfs" / "entry").symlink_to("/proc/self/exe")
    rt = dockyard_runtime(tmp_path / "state")
    rt("run", "--detach", "--bundle", str(bundle), cid)
    try:
        for target in ("/proc/self/exe", "/entry"):
            proc = rt("exec", cid, target, "-c", "print(1)", check=False)
            assert proc.returncode == 126, proc.stderr
            assert REFUSED in proc.stderr and proc.stdout == b""
            detached = rt("exec", "-d", cid, target, check=False)
            assert detached.returncode == 1 and REFUSED in detached.stderr
        assert rt("exec", cid, "/bin/true").returncode == 0  # other commands still run
    finally:
        rt("delete", "--force", cid)
    assert _sha256(os.path.realpath(sys.executable)) == before
    assert_nothing_left(rt, cid, bundle)


def test_stages_are_not_dumpable() -> None:
    """enter_child (the first call of stage1 and of exec's stage1) clears the dumpable flag,
    and the forked stage2 inherits it."""
    read, write = os.pipe()

    def stage() -> None:
        enter_child()
        inner = os.fork()
        if inner == 0:
            os.write(write, b"%d" % get_dumpable())
            os._exit(0)
        os.waitpid(inner, 0)
        os.write(write, b"%d" % get_dumpable())

    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = fork_stage(stage, err_w)
    os.close(write)
    os.close(err_w)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, read_child_error(err_r)
    assert os.read(read, 16) == b"00"
    os.close(read)
    os.close(err_r)
    assert get_dumpable()  # the test process itself is untouched


@pytest.mark.root
@pytest.mark.cgroup
def test_nothing_leaks_after_delete(tmp_path: Path, busybox_tar: Path) -> None:
    cid, bundle = _bundle(tmp_path, busybox_tar, set_args("/bin/sleep", "60"))
    rt: Runtime = dockyard_runtime(tmp_path / "state")
    mounts_before = Path("/proc/self/mountinfo").read_text()
    rt("run", "-d", "--bundle", str(bundle), cid)
    pid = rt.state(cid)["pid"]
    assert Path(f"/proc/{pid}/ns/mnt").exists()
    rt("delete", "--force", cid)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert Path("/proc/self/mountinfo").read_text() == mounts_before
    assert_nothing_left(rt, cid, bundle)
    assert list(rt.root.iterdir()) == []
