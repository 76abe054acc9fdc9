"""runtime.process: the exec plan (pure) and the finalised, exec'd process (forked, as root)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from tests.runtime.test_runtime_process_harness import (
    BUSYBOX,
    WAIT_SCRIPT,
    caps,
    process,
    run,
    sh,
)
from tests.support.docker_defaults import DOCKER_CAPS
from tests.support.docker_defaults import DOCKER_CAPS_MASK as DOCKER_MASK

from dockyard.linux.caps import caps_mask
from dockyard.linux.mount import MS_BIND, MS_PRIVATE, MS_REC, mount
from dockyard.linux.ns import unshare
from dockyard.oci.runtime import Capabilities
from dockyard.runtime.child import ExecDenied, ExecNotFound, SetupFailed
from dockyard.runtime.execplan import (
    CapabilityPlan,
    build_env,
    find_executable,
    home_for,
    plan_capabilities,
    prepare_exec,
)
from dockyard.runtime.selfexe import runtime_identity

CLONE_NEWNS = 0x00020000
HOST_FD = 100
RUNC_CAPS = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")


# --- the plan (pure: a fake container root under tmp_path) -------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name, mode in [
        ("bin/sh", 0o755),
        ("usr/bin/env", 0o755),
        ("usr/bin/sh", 0o755),
        ("usr/bin/data", 0o644),
        ("app/run.sh", 0o755),
        ("app/notes", 0o600),
    ]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(mode)
    (tmp_path / "usr/bin/dir").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("name", "search", "cwd", "expected"),
    [
        ("sh", "/usr/bin:/bin", "/", "/usr/bin/sh"),  # first match in PATH order
        ("sh", "/bin:/usr/bin", "/", "/bin/sh"),
        ("env", "/nowhere:/usr/bin", "/", "/usr/bin/env"),
        ("data", "/usr/bin:/bin", "/", ExecNotFound),  # not executable: keep looking
        ("dir", "/usr/bin", "/", ExecNotFound),  # a directory is skipped too
        ("run.sh", ":/bin", "/app", "/app/run.sh"),  # "" is the working directory
        ("./run.sh", "/bin", "/app", "/app/run.sh"),
        ("/app/run.sh", "", "/", "/app/run.sh"),
        ("/app/notes", "/bin", "/", ExecDenied),
        ("/usr/bin/dir", "/bin", "/", ExecDenied),
        ("/usr/bin/missing", "/bin", "/", ExecNotFound),
        ("missing", "/usr/bin:/bin", "/", ExecNotFound),
    ],
)
def test_find_executable(
    root: Path, name: str, search: str, cwd: str, expected: str | type[Exception]
) -> None:
    if isinstance(expected, str):
        assert find_executable(name, search_path=search, cwd=cwd, root=str(root)) == expected
    else:
        with pytest.raises(expected):
            find_executable(name, search_path=search, cwd=cwd, root=str(root))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nosuch",), 'exec: "nosuch": executable file not found in $PATH'),
        (("/bin/nosuch",), 'exec: "/bin/nosuch": stat /bin/nosuch: no such file or directory'),
        (("/app/notes",), 'exec: "/app/notes": permission denied'),
        (("/usr/bin/dir",), 'exec: "/usr/bin/dir": is a directory'),
    ],
)
def test_prepare_exec_errors_read_like_runc(
    root: Path, args: tuple[str, ...], message: str
) -> None:
    with pytest.raises((ExecNotFound, ExecDenied)) as info:
        prepare_exec(process(args), root=str(root), last=40)
    assert info.value.message == message
    assert info.value.exit_code == (127 if isinstance(info.value, ExecNotFound) else 126)


def test_prepare_exec_uses_the_default_path_and_an_override(root: Path) -> None:
    plan = prepare_exec(process(["sh"], env=()), root=str(root), last=40)
    assert plan.path == "/usr/bin/sh"  # DEFAULT_PATH has /usr/bin before /bin
    plan = prepare_exec(process(["sh"]), env_path="/bin", root=str(root), last=40)
    assert plan.path == "/bin/sh"
    assert plan.args == ("sh",)
    assert plan.umask == 0o022


@pytest.mark.parametrize("target", ["/proc/self/exe", "sys.executable"])
def test_prepare_exec_refuses_the_runtime_binary(root: Path, target: str) -> None:
    """CVE-2019-5736: a command that resolves (through symlinks, magic links included) to
    the interpreter running the runtime is refused with 126, whatever its name."""
    link = root / "usr" / "bin" / "entry"
    link.symlink_to(sys.executable if target == "sys.executable" else target)
    ids = runtime_identity()
    assert (os.stat(sys.executable).st_dev, os.stat(sys.executable).st_ino) in ids
    with pytest.raises(ExecDenied, match="runtime's own binary") as info:
        prepare_exec(process(["entry"]), root=str(root), last=40, runtime_ids=ids)
    assert info.value.exit_code == 126
    plan = prepare_exec(process(["sh"]), root=str(root), last=40, runtime_ids=ids)
    assert plan.runtime_ids == ids  # kept for the check just before execve
    prepare_exec(process(["entry"]), root=str(root), last=40, runtime_ids=frozenset())


PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n"


@pytest.mark.parametrize(("uid", "expected"), [(0, "/root"), (65534, "/nonexistent"), (1000, None)])
def test_home_for(uid: int, expected: str | None) -> None:
    assert home_for(uid, PASSWD) == expected


@pytest.mark.parametrize(
    ("env", "uid", "home"),
    [
        ((), 0, "/root"),
        ((), 1000, "/"),  # no passwd entry
        (("HOME=/data",), 0, "/data"),
        (("HOME=",), 0, "/root"),  # empty counts as unset, as in runc
    ],
)
def test_build_env_fills_in_home(tmp_path: Path, env: tuple[str, ...], uid: int, home: str) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    assert build_env(("A=1", *env, "A=2"), uid, root=str(tmp_path)) == {"A": "2", "HOME": home}


@pytest.mark.parametrize("entry", ["NOEQUALS", "=value"])
def test_build_env_refuses_malformed_entries(entry: str) -> None:
    with pytest.raises(SetupFailed, match=r"process\.env\[1\]"):
        build_env(("A=1", entry), 0)


def test_plan_capabilities_ignores_what_the_kernel_lacks() -> None:
    names = ("CAP_KILL", "CAP_PERFMON", "CAP_BPF")
    plan = plan_capabilities(caps(names, ambient=True), last=37)
    kill = caps_mask(["CAP_KILL"])
    assert plan == CapabilityPlan(
        bounding=kill,
        effective=kill,
        permitted=kill,
        inheritable=kill,
        ambient=kill,
        ignored=("CAP_PERFMON", "CAP_BPF"),
    )
    assert plan_capabilities(None, last=40) == CapabilityPlan()
    assert plan_capabilities(caps(DOCKER_CAPS), last=40).effective == DOCKER_MASK


# --- the exec'd process (root, forked) ----------------------------------------------------


def _masks(status: dict[str, str]) -> tuple[int, ...]:
    keys = ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb")
    return tuple(int(status[key], 16) for key in keys)


@pytest.mark.root
@pytest.mark.parametrize(
    ("uid", "capabilities", "expected"),
    [
        # Docker's 14 as root: eff = prm = bnd.
        (0, caps(), (DOCKER_MASK, DOCKER_MASK, DOCKER_MASK, 0, 0)),
        # The same as uid 1000: execve leaves a non-root process nothing but the bounding set.
        (1000, caps(), (0, 0, DOCKER_MASK, 0, 0)),
        # Ambient capabilities survive execve for a non-root user.
        (1000, caps(["CAP_NET_BIND_SERVICE"], ambient=True), (0x400,) * 5),
        (0, caps(RUNC_CAPS), (0x20000420, 0x20000420, 0x20000420, 0, 0)),
        (0, Capabilities(), (0, 0, 0, 0, 0)),
    ],
)
def test_capability_sets(uid: int, capabilities: Capabilities, expected: tuple[int, ...]) -> None:
    outcome = run(sh(WAIT_SCRIPT, uid=uid, capabilities=capabilities), inspect=True)
    assert outcome.error is None
    assert _masks(outcome.status) == expected
    assert outcome.exit_code == 0


@pytest.mark.root
def test_user_groups_umask_and_no_new_privs() -> None:
    proc = sh(WAIT_SCRIPT, uid=1000, gid=1001, gids=(10, 20), umask=0o027, nnp=True)
    outcome = run(proc, inspect=True)
    assert outcome.error is None
    assert outcome.status["Uid"].split() == ["1000"] * 4
    assert outcome.status["Gid"].split() == ["1001"] * 4
    assert outcome.status["Groups"].split() == ["10", "20"]
    assert outcome.status["Umask"] == "0027"
    assert outcome.status["NoNewPrivs"] == "1"
    assert outcome.status["Seccomp"] == "0"


@pytest.mark.root
def test_defaults_root_umask_groups_and_privs() -> None:
    outcome = run(sh(WAIT_SCRIPT), inspect=True)
    assert outcome.error is None
    assert outcome.status["Uid"].split() == ["0"] * 4
    assert outcome.status["Groups"] == ""  # setgroups([]) drops the caller's groups
    assert outcome.status["Umask"] == "0022"
    assert outcome.status["NoNewPrivs"] == "0"


def _leak_host_root() -> list[int]:
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    os.set_inheritable(fd, True)  # as if a careless runtime forgot O_CLOEXEC
    return []


@pytest.mark.root
def test_only_stdio_and_intended_fds_reach_the_process() -> None:
    kept_r, kept_w = os.pipe()
    try:
        outcome = run(sh(WAIT_SCRIPT), before=_leak_host_root, keep_fds=[kept_w], inspect=True)
    finally:
        os.close(kept_r)
        os.close(kept_w)
    assert outcome.error is None
    assert outcome.fds == [0, 1, 2, kept_w]


@pytest.mark.root
def test_leaked_fd_is_gone_before_exec() -> None:
    outcome = run(sh(WAIT_SCRIPT), before=_leak_host_root, inspect=True)
    assert outcome.fds == [0, 1, 2]


@pytest.mark.root
def test_cwd_through_a_leaked_fd_is_refused() -> None:
    # CVE-2024-21626: cwd /proc/self/fd/N with N a leaked host directory.
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    os.set_inheritable(fd, True)
    try:
        outcome = run(sh("pwd", cwd=f"/proc/self/fd/{fd}"))
    finally:
        os.close(fd)
    assert outcome.exit_code == 1
    assert isinstance(outcome.error, SetupFailed)
    assert outcome.error.message.startswith(f"process.cwd '/proc/self/fd/{fd}': chdir:")


def _chroot_with_host_fd(root: Path) -> list[int]:
    """In the child: a private mount namespace, a chroot that has busybox and /proc, and an
    fd to the host's / kept open, as a runtime that leaked it would have."""
    unshare(CLONE_NEWNS)
    mount("", "/", "", MS_REC | MS_PRIVATE)
    mount("/proc", str(root / "proc"), "", MS_BIND | MS_REC)
    host = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    os.dup2(host, HOST_FD)
    os.chroot(root)
    os.chdir("/")
    return [HOST_FD]


@pytest.mark.root
@pytest.mark.parametrize(("cwd", "ok"), [(f"/proc/self/fd/{HOST_FD}", False), ("/bin", True)])
def test_cwd_outside_the_root_is_refused(tmp_path: Path, cwd: str, ok: bool) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "proc").mkdir()
    shutil.copy(BUSYBOX, tmp_path / "bin/busybox")
    outcome = run(sh("pwd", cwd=cwd), before=lambda: _chroot_with_host_fd(tmp_path))
    if ok:
        assert (outcome.error, outcome.exit_code, outcome.output) == (None, 0, "/bin\n")
    else:
        assert isinstance(outcome.error, SetupFailed), outcome
        assert "outside the container root" in outcome.error.message
        assert outcome.exit_code == 1


@pytest.mark.root
@pytest.mark.parametrize(
    ("args", "cwd", "code", "message"),
    [
        (["nosuch-cmd"], "/", 127, 'exec: "nosuch-cmd": executable file not found in $PATH'),
        (["/no/such"], "/", 127, 'exec: "/no/such": stat /no/such: no such file or directory'),
        (["{tmp}/plain"], "/", 126, 'exec: "{tmp}/plain": permission denied'),
        (["{tmp}"], "/", 126, 'exec: "{tmp}": is a directory'),
        (["{tmp}/garbage"], "/", 126, "exec {tmp}/garbage: exec format error"),
        (["{tmp}/script"], "/", 127, "exec {tmp}/script: no such file or directory"),
        ([BUSYBOX, "true"], "/no/such/dir", 1, "process.cwd '/no/such/dir': chdir: no such"),
    ],
)
def test_exit_codes(tmp_path: Path, args: list[str], cwd: str, code: int, message: str) -> None:
    (tmp_path / "plain").write_text("data\n")
    (tmp_path / "garbage").write_bytes(b"\x00\x01not a program")
    (tmp_path / "garbage").chmod(0o755)
    (tmp_path / "script").write_text("#!/no/such/interpreter\n")  # ENOENT from execve
    (tmp_path / "script").chmod(0o755)
    tmp = str(tmp_path)
    outcome = run(process([a.format(tmp=tmp) for a in args], cwd=cwd))
    assert outcome.exit_code == code
    assert outcome.error is not None
    assert outcome.error.message.startswith(message.format(tmp=tmp))
    assert outcome.error.exit_code == code


@pytest.mark.root
@pytest.mark.parametrize(
    ("env", "uid", "expected"),
    [((), 0, "/root"), ((), 4242, "/"), (("HOME=/data",), 0, "/data")],
)
def test_home_in_the_environment(env: tuple[str, ...], uid: int, expected: str) -> None:
    proc = sh('echo "$HOME $TERM $PATH"', uid=uid, env=("TERM=xterm", "PATH=/bin", *env))
    outcome = run(proc)
    assert outcome.error is None
    assert outcome.output == f"{expected} xterm /bin\n"


@pytest.mark.root
def test_relative_command_is_found_on_the_process_path(tmp_path: Path) -> None:
    os.symlink(BUSYBOX, tmp_path / "echo")  # busybox picks the applet from argv[0]
    outcome = run(process(["echo", "hi"], env=(f"PATH=/nowhere:{tmp_path}",)))
    assert (outcome.error, outcome.output) == (None, "hi\n")
