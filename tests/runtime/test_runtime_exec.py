"""``dockyard-runtime exec``: the new process joins the container (pid namespace, hostname,
mounts, cgroup), takes the command line's edits, and reports its exit code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.runtime.test_runtime_lifecycle_harness import (
    Runtime,
    assert_nothing_left,
    dockyard_runtime,
    make_bundle,
    new_id,
    probe_binary,
    set_args,
)

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime import Capability, Process, User
from dockyard.runtime.exec import ExecOptions, build_process, parse_user


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path
) -> Iterator[tuple[Runtime, str, Path]]:
    """One detached container running ``sleep`` for the whole module."""
    tmp = tmp_path_factory.mktemp("exec")
    cid = new_id()
    bundle = make_bundle(tmp / cid, busybox_tar, probe_binary(), cid, set_args("/bin/sleep", "600"))
    rt = dockyard_runtime(tmp / "state")
    rt("run", "--detach", "--bundle", str(bundle), cid)
    yield rt, cid, bundle
    rt("delete", "--force", cid)
    assert_nothing_left(rt, cid, bundle)


def _probe(rt: Runtime, cid: str, *flags: str) -> dict[str, object]:
    doc = json.loads(rt("exec", *flags, cid, "/probe").stdout)
    assert isinstance(doc, dict)
    return doc


@pytest.mark.root
@pytest.mark.cgroup
def test_exec_joins_the_container(running: tuple[Runtime, str, Path]) -> None:
    rt, cid, _ = running
    report = _probe(rt, cid)
    assert report["hostname"] == "runc"
    assert isinstance(report["pid"], int) and report["pid"] > 1
    ns = rt("exec", cid, "/bin/sh", "-c", "readlink /proc/1/ns/pid; readlink /proc/self/ns/pid")
    first, second = ns.stdout.decode().split()
    assert first == second
    init_mounts = rt("exec", cid, "/bin/cat", "/proc/1/mountinfo").stdout.decode()
    points = sorted({line.split()[4] for line in init_mounts.splitlines()})
    mounts = report["mounts"]
    assert isinstance(mounts, list)
    assert sorted({m.split()[0] for m in mounts}) == points
    assert report["CapEff"] == "0000000020000420" and report["NoNewPrivs"] == "1"
    assert report["fds"] == [] or all(f.split()[0] in "012" for f in report["fds"])  # type: ignore[union-attr]


@pytest.mark.root
@pytest.mark.cgroup
def test_exec_in_the_cgroup_and_detached(
    running: tuple[Runtime, str, Path], tmp_path: Path
) -> None:
    rt, cid, _ = running
    pid_file = tmp_path / "exec.pid"
    rt("exec", "-d", "--pid-file", str(pid_file), cid, "/bin/sleep", "30")
    pid = int(pid_file.read_text())
    assert pid in json.loads(rt("ps", "--format", "json", cid).stdout)
    rt("exec", cid, "/bin/kill", "-9", "-1", check=False)


@pytest.mark.root
@pytest.mark.cgroup
def test_exec_options(running: tuple[Runtime, str, Path], tmp_path: Path) -> None:
    rt, cid, _ = running
    report = _probe(rt, cid, "--user", "1000:1000", "-e", "FOO=bar", "--cwd", "/tmp", "-g", "44")
    assert (report["uid"], report["gid"], report["groups"]) == (1000, 1000, [44])
    assert "FOO=bar" in report["env"]  # type: ignore[operator]
    assert report["cwd"] == "/tmp"
    capped = _probe(rt, cid, "--cap", "CAP_SYS_ADMIN")
    assert int(str(capped["CapEff"]), 16) & (1 << 21)
    process = tmp_path / "process.json"
    process.write_text(
        json.dumps({"args": ["/bin/sh", "-c", "exit 9"], "cwd": "/", "user": {"uid": 0, "gid": 0}})
    )
    assert rt("exec", "--process", str(process), cid, check=False).returncode == 9


@pytest.mark.root
@pytest.mark.cgroup
def test_exec_exit_codes(running: tuple[Runtime, str, Path]) -> None:
    rt, cid, _ = running
    assert rt("exec", cid, "/bin/sh", "-c", "exit 4", check=False).returncode == 4
    missing = rt("exec", cid, "/no/such", check=False)
    assert missing.returncode == 127 and b"/no/such" in missing.stderr
    assert rt("exec", "-d", cid, "/no/such", check=False).returncode == 1
    assert rt("exec", cid, "/bin/sh", "-c", "kill -9 $$", check=False).returncode == 137


@pytest.mark.root
@pytest.mark.cgroup
def test_exec_tty_proxied(running: tuple[Runtime, str, Path]) -> None:
    rt, cid, _ = running
    proc = rt("exec", "-t", cid, "/bin/sh", "-c", "test -t 1 && echo tty-ok", check=False)
    assert proc.returncode == 0 and b"tty-ok" in proc.stdout


@pytest.mark.root
@pytest.mark.cgroup
def test_exec_into_missing_or_stopped(tmp_path: Path, busybox_tar: Path) -> None:
    rt = dockyard_runtime(tmp_path / "state")
    assert rt("exec", "nope", "/bin/true", check=False).returncode == 1
    cid = new_id()
    bundle = make_bundle(tmp_path / cid, busybox_tar, probe_binary(), cid, set_args("/bin/true"))
    rt("run", "--keep", "--bundle", str(bundle), cid)
    refused = rt("exec", cid, "/bin/true", check=False)
    assert refused.returncode == 1 and b"stopped" in refused.stderr
    rt("delete", cid)


BASE = Process(args=("/bin/sleep", "1"), env=("PATH=/bin",), user=User(uid=0, gid=0))


def test_build_process_edits() -> None:
    opts = ExecOptions(
        args=("/bin/sh",),
        env=("A=1",),
        cwd="/tmp",
        user="5:6",
        caps=("CAP_NET_ADMIN",),
        no_new_privs=True,
        tty=True,
    )
    process = build_process(BASE, opts)
    assert process.args == ("/bin/sh",) and process.env == ("PATH=/bin", "A=1")
    assert (process.user.uid, process.user.gid, process.cwd) == (5, 6, "/tmp")
    assert process.capabilities is not None
    assert process.capabilities.bounding == (Capability.NET_ADMIN,)
    assert process.capabilities.ambient == (Capability.NET_ADMIN,)
    assert process.capabilities.inheritable == ()
    assert process.no_new_privileges and process.terminal


@pytest.mark.parametrize(
    "opts",
    [
        ExecOptions(args=()),
        ExecOptions(args=("x",), env=("NOEQUALS",)),
        ExecOptions(args=("x",), user="root"),
        ExecOptions(args=("x",), caps=("CAP_NOPE",)),
    ],
)
def test_build_process_rejects(opts: ExecOptions) -> None:
    with pytest.raises(InvalidArgument):
        build_process(BASE, opts)


def test_parse_user() -> None:
    assert parse_user("0") == (0, None)
    assert parse_user("1000:100") == (1000, 100)
