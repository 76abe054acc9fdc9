"""End to end through ``dockyard-runtime``: create/start/state/kill/delete, run, pid files,
list and ps, pause/resume, cgroup limits, the console socket, and bad bundles that must
fail with exit 1 and leave nothing behind."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.runtime.test_runtime_lifecycle_harness import (
    Config,
    Runtime,
    assert_nothing_left,
    dockyard_runtime,
    linux_of,
    make_bundle,
    new_id,
    probe_binary,
    process_of,
    set_args,
)

from dockyard.runtime.state import process_start_time

pytestmark = [pytest.mark.root, pytest.mark.cgroup]


@pytest.fixture(scope="module")
def probe() -> Path:
    return probe_binary()


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return dockyard_runtime(tmp_path / "state")


@pytest.fixture
def bundle_for(tmp_path: Path, busybox_tar: Path, probe: Path) -> Callable[..., tuple[str, Path]]:
    def make(edit: Callable[[Config], None] | None = None) -> tuple[str, Path]:
        cid = new_id()
        return cid, make_bundle(tmp_path / cid, busybox_tar, probe, cid, edit)

    return make


def _wait_status(rt: Runtime, cid: str, want: str, timeout: float = 10) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        proc = rt("state", cid, check=False)
        doc = json.loads(proc.stdout) if proc.returncode == 0 else {}
        if doc.get("status") == want or time.monotonic() > deadline:
            return doc
        time.sleep(0.02)


def test_create_start_state_delete(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]
) -> None:
    cid, bundle = bundle_for(set_args("/bin/sleep", "30"))
    rt("create", "--bundle", str(bundle), cid)
    created = rt.state(cid)
    assert created["status"] == "created"
    assert created["id"] == cid and created["bundle"] == str(bundle)
    pid = created["pid"]
    assert isinstance(pid, int) and process_start_time(pid) is not None
    rt("start", cid)
    assert rt.state(cid)["status"] == "running"
    assert not (rt.root / cid / "exec.fifo").exists()
    rt("kill", cid, "KILL")
    stopped = _wait_status(rt, cid, "stopped")
    assert stopped["status"] == "stopped" and stopped["pid"] == 0
    rt("delete", cid)
    assert rt("state", cid, check=False).returncode == 1
    assert_nothing_left(rt, cid, bundle)


def test_start_twice_fails(rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]) -> None:
    cid, bundle = bundle_for(set_args("/bin/sleep", "30"))
    rt("create", "--bundle", str(bundle), cid)
    rt("start", cid)
    again = rt("start", cid, check=False)
    assert again.returncode == 1
    assert cid in again.stderr.decode() and "running" in again.stderr.decode()
    rt("delete", "--force", cid)
    assert_nothing_left(rt, cid, bundle)


def test_delete_running_needs_force(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]
) -> None:
    cid, bundle = bundle_for(set_args("/bin/sleep", "30"))
    rt("run", "--detach", "--bundle", str(bundle), cid)
    pid = rt.state(cid)["pid"]
    assert isinstance(pid, int)
    refused = rt("delete", cid, check=False)
    assert refused.returncode == 1 and "running" in refused.stderr.decode()
    rt("delete", "--force", cid)
    assert process_start_time(pid) is None
    assert_nothing_left(rt, cid, bundle)


def test_delete_created_kills_init(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]
) -> None:
    cid, bundle = bundle_for()
    rt("create", "--bundle", str(bundle), cid)
    pid = rt.state(cid)["pid"]
    assert isinstance(pid, int)
    rt("delete", cid)
    assert process_start_time(pid) is None
    assert_nothing_left(rt, cid, bundle)


@pytest.mark.parametrize(
    ("script", "code"), [("exit 0", 0), ("exit 3", 3), ('sh -c "kill -9 \\$\\$"; exit $?', 137)]
)
def test_run_exit_codes(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]], script: str, code: int
) -> None:
    cid, bundle = bundle_for(set_args("/bin/sh", "-c", script))
    assert rt("run", "--bundle", str(bundle), cid, check=False).returncode == code
    assert_nothing_left(rt, cid, bundle)


def test_run_killed_from_outside(rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]) -> None:
    cid, bundle = bundle_for(set_args("/bin/sleep", "30"))
    proc = rt.popen("run", "--bundle", str(bundle), cid)
    try:
        _wait_status(rt, cid, "running")
        rt("kill", cid, "9")
        assert proc.wait(20) == 137
    finally:
        proc.kill()
        proc.wait()
    assert_nothing_left(rt, cid, bundle)


def test_run_forwards_sigterm(rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]) -> None:
    cid, bundle = bundle_for(
        set_args("/bin/sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done")
    )
    proc = rt.popen("run", "--bundle", str(bundle), cid)
    try:
        _wait_status(rt, cid, "running")
        time.sleep(0.3)  # let the shell install its trap
        proc.terminate()
        assert proc.wait(20) == 42
    finally:
        proc.kill()
        proc.wait()


def test_run_keep_and_pid_file(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]], tmp_path: Path
) -> None:
    cid, bundle = bundle_for(set_args("/bin/true"))
    pid_file = tmp_path / "init.pid"
    rt("run", "--keep", "--pid-file", str(pid_file), "--bundle", str(bundle), cid)
    doc = rt.state(cid)
    assert doc["status"] == "stopped"
    assert int(pid_file.read_text()) > 1
    rt("delete", cid)
    assert_nothing_left(rt, cid, bundle)


def test_create_pid_file(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]], tmp_path: Path
) -> None:
    cid, bundle = bundle_for()
    rt("create", "--pid-file", str(tmp_path / "p"), "--bundle", str(bundle), cid)
    assert int((tmp_path / "p").read_text()) == rt.state(cid)["pid"]
    rt("delete", "--force", cid)


def test_list_and_ps(rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]) -> None:
    cid, bundle = bundle_for(set_args("/bin/sh", "-c", "sleep 30 & sleep 30 & wait"))
    rt("run", "-d", "--bundle", str(bundle), cid)
    try:
        assert rt("list", "-q").stdout.decode().split() == [cid]
        listed = json.loads(rt("list", "--format", "json").stdout)
        assert [(c["id"], c["status"]) for c in listed] == [(cid, "running")]
        table = rt("list").stdout.decode().splitlines()
        assert table[0].split()[:3] == ["ID", "PID", "STATUS"] and cid in table[1]
        deadline = time.monotonic() + 5
        while len(pids := json.loads(rt("ps", "--format", "json", cid).stdout)) < 3:
            assert time.monotonic() < deadline, pids
            time.sleep(0.05)
        assert rt.state(cid)["pid"] in pids
        assert "sleep 30" in rt("ps", cid).stdout.decode()
    finally:
        rt("delete", "--force", cid)
    assert rt("list", "-q").stdout == b""


def test_kill_all_and_signal_names(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]
) -> None:
    cid, bundle = bundle_for(set_args("/bin/sh", "-c", "trap '' TERM; sleep 30 & wait"))
    rt("run", "-d", "--bundle", str(bundle), cid)
    assert rt("kill", cid, "NOSUCHSIG", check=False).returncode == 1
    rt("kill", "--all", cid, "SIGKILL")
    assert _wait_status(rt, cid, "stopped")["status"] == "stopped"
    assert rt("kill", cid, "TERM", check=False).returncode == 1  # not running any more
    rt("delete", cid)


def test_pause_resume(rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]) -> None:
    cid, bundle = bundle_for(set_args("/bin/sleep", "30"))
    rt("run", "-d", "--bundle", str(bundle), cid)
    try:
        rt("pause", cid)
        assert rt.state(cid)["status"] == "paused"
        assert rt("pause", cid, check=False).returncode == 1
        rt("resume", cid)
        assert rt.state(cid)["status"] == "running"
        rt("pause", cid)
    finally:
        rt("delete", "--force", cid)  # a paused container is killed and thawed
    assert_nothing_left(rt, cid, bundle)


def _limit(key: str, value: object) -> Callable[[Config], None]:
    def edit(config: Config) -> None:
        linux_of(config).setdefault("resources", {})[key] = value  # type: ignore[index]

    return edit


def test_memory_limit_oom_kill(rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]) -> None:
    def edit(config: Config) -> None:
        set_args("/probe", "alloc", "256")(config)
        _limit("memory", {"limit": 32 * 1024 * 1024, "swap": 32 * 1024 * 1024})(config)

    cid, bundle = bundle_for(edit)
    proc = rt("run", "--bundle", str(bundle), cid, check=False)
    assert proc.returncode == 137, proc.stdout
    assert b"ok" not in proc.stdout


def test_pids_limit_stops_fork_bomb(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]
) -> None:
    def edit(config: Config) -> None:
        set_args("/probe", "forkbomb", "200")(config)
        _limit("pids", {"limit": 20})(config)

    cid, bundle = bundle_for(edit)
    proc = rt("run", "--bundle", str(bundle), cid, check=False)
    forked = json.loads(proc.stdout.splitlines()[0])["forked"]
    assert forked < 20


def test_console_socket_gets_pty_master(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]], tmp_path: Path
) -> None:
    from dockyard.linux.pty import recv_fd

    def edit(config: Config) -> None:
        set_args("/bin/sh", "-c", "tty; echo hello-from-pty")(config)
        process_of(config)["terminal"] = True

    cid, bundle = bundle_for(edit)
    path = tmp_path / "console.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        rt("create", "--console-socket", str(path), "--bundle", str(bundle), cid)
        conn, _ = server.accept()
        with conn:
            master, name = recv_fd(conn)
    assert name == "/dev/ptmx"
    try:
        rt("start", cid)
        out = b""
        deadline = time.monotonic() + 10
        while b"hello-from-pty" not in out and time.monotonic() < deadline:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
        assert b"/dev/pts/0" in out and b"hello-from-pty" in out
    finally:
        os.close(master)
        rt("delete", "--force", cid)
    assert_nothing_left(rt, cid, bundle)


def test_run_terminal_without_socket_proxies(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]
) -> None:
    def edit(config: Config) -> None:
        set_args("/bin/sh", "-c", "test -t 0 && echo is-a-tty; exit 5")(config)
        process_of(config)["terminal"] = True

    cid, bundle = bundle_for(edit)
    proc = rt("run", "--bundle", str(bundle), cid, check=False)
    assert proc.returncode == 5
    assert b"is-a-tty" in proc.stdout
    assert_nothing_left(rt, cid, bundle)


def test_create_terminal_needs_console_socket(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]
) -> None:
    cid, bundle = bundle_for(lambda c: process_of(c).__setitem__("terminal", True))
    proc = rt("create", "--bundle", str(bundle), cid, check=False)
    assert proc.returncode == 1 and b"console" in proc.stderr
    assert_nothing_left(rt, cid, bundle)


BAD_BUNDLES: dict[str, tuple[Callable[[Config], None], str]] = {
    "unknown-namespace": (
        lambda c: linux_of(c)["namespaces"].append({"type": "foo"}),  # type: ignore[attr-defined]
        "namespaces[5].type",
    ),
    "bad-mount-option": (
        lambda c: c["mounts"].append(  # type: ignore[attr-defined]
            {"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["rw,ro"]}
        ),
        "mounts[7].options[0]",
    ),
    "invalid-seccomp-action": (
        lambda c: linux_of(c).__setitem__("seccomp", {"defaultAction": "SCMP_ACT_EXPLODE"}),
        "seccomp.defaultAction",
    ),
    "oci-version-major": (lambda c: c.__setitem__("ociVersion", "2.0.0"), "ociVersion"),
    "missing-rootfs": (
        lambda c: c.__setitem__("root", {"path": "no-such-rootfs"}),
        "root.path",
    ),
    "bad-cwd": (lambda c: process_of(c).__setitem__("cwd", "relative"), "process.cwd"),
    "missing-command": (set_args("/no/such/command"), "/no/such/command"),
    "missing-command-path": (set_args("nosuchcommand"), "executable file not found"),
    "proc-symlink": (lambda c: None, "/proc"),  # the rootfs is edited below
}


@pytest.mark.parametrize("case", sorted(BAD_BUNDLES))
@pytest.mark.parametrize("verb", ["create", "run"])
def test_bad_bundle_fails_and_leaves_nothing(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]], case: str, verb: str
) -> None:
    edit, field = BAD_BUNDLES[case]
    cid, bundle = bundle_for(edit)
    if case == "proc-symlink":
        (bundle / "rootfs" / "proc").rmdir()
        (bundle / "rootfs" / "proc").symlink_to("/bad")
    proc = rt(verb, "--bundle", str(bundle), cid, check=False)
    err = proc.stderr.decode()
    expected = 127 if verb == "run" and case.startswith("missing-command") else 1
    assert proc.returncode == expected, err
    assert field in err, err
    assert cid in err
    assert_nothing_left(rt, cid, bundle)
    assert rt("list", "-q").stdout == b""


def test_id_in_use(rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]) -> None:
    cid, bundle = bundle_for()
    rt("create", "--bundle", str(bundle), cid)
    again = rt("create", "--bundle", str(bundle), cid, check=False)
    assert again.returncode == 1 and b"already exists" in again.stderr
    assert rt.state(cid)["status"] == "created"  # the first one is untouched
    rt("delete", cid)


# Mounts before GO (runtime.init.mounts_before_go) ---------------------------------------------


def _without_cgroupns(config: Config) -> None:
    linux = linux_of(config)
    namespaces = linux["namespaces"]
    assert isinstance(namespaces, list)
    linux["namespaces"] = [n for n in namespaces if n["type"] != "cgroup"]


@pytest.mark.parametrize(
    ("edit", "early"),
    [("", True), ("cgroupns", False), ("devices", False), ("prestart", False),
     ("createRuntime", False), ("createContainer", False), ("poststart", True)],
)  # fmt: skip
def test_mounts_before_go_only_when_nothing_there_needs_the_cgroup(edit: str, early: bool) -> None:
    from tests.runtime.test_runtime_lifecycle_harness import base_config

    from dockyard.oci.runtime import Spec
    from dockyard.runtime.init import mounts_before_go

    config = base_config("dy-early")
    _without_cgroupns(config)
    linux = linux_of(config)
    if edit == "cgroupns":
        namespaces = linux["namespaces"]
        assert isinstance(namespaces, list)
        namespaces.append({"type": "cgroup"})
    elif edit == "devices":
        linux["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
    elif edit:
        config["hooks"] = {edit: [{"path": "/bin/true"}]}
    assert mounts_before_go(Spec.from_json(config)) is early


def test_early_mounts_leave_the_init_in_its_cgroup(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]
) -> None:
    def edit(config: Config) -> None:
        _without_cgroupns(config)
        set_args("/bin/sleep", "30")(config)

    cid, bundle = bundle_for(edit)
    rt("run", "--detach", "--bundle", str(bundle), cid)
    pid = rt.state(cid)["pid"]
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    ours = [line for line in lines if line.endswith(f"/dockyard-test-{cid}")]
    assert any(":memory:" in line for line in ours) and any(":pids:" in line for line in ours)
    rt("delete", "--force", cid)
    assert_nothing_left(rt, cid, bundle)


def test_a_failed_early_mount_fails_create_and_leaves_nothing(
    rt: Runtime, bundle_for: Callable[..., tuple[str, Path]]
) -> None:
    def edit(config: Config) -> None:
        _without_cgroupns(config)
        mounts = config["mounts"]
        assert isinstance(mounts, list)
        mounts.append({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
                       "options": ["size=not-a-size"]})  # fmt: skip

    cid, bundle = bundle_for(edit)
    failed = rt("create", "--bundle", str(bundle), cid, check=False)
    assert failed.returncode == 1
    assert "/mnt" in failed.stderr.decode(), failed.stderr.decode()
    assert_nothing_left(rt, cid, bundle)
