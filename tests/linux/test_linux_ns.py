"""Namespaces: the spec-name tables, and unshare/sethostname/setns/pivot_root in a child."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest
from tests.linux.forked import in_child

from dockyard.errors import InvalidArgument, Unsupported
from dockyard.linux import ns
from dockyard.linux.mount import MNT_DETACH, MS_BIND, MS_PRIVATE, MS_REC, mount, umount
from dockyard.linux.syscalls import number


@pytest.mark.parametrize(
    ("name", "flag", "file"),
    [
        ("pid", 0x20000000, "pid"),
        ("network", 0x40000000, "net"),
        ("mount", 0x00020000, "mnt"),
        ("ipc", 0x08000000, "ipc"),
        ("uts", 0x04000000, "uts"),
        ("user", 0x10000000, "user"),
        ("cgroup", 0x02000000, "cgroup"),
        ("time", 0x80, "time"),
    ],
)
def test_namespace_tables(name: str, flag: int, file: str) -> None:
    kind = ns.namespace_type(name)
    assert ns.NAMESPACE_FLAGS[kind] == flag
    assert ns.NAMESPACE_FILES[kind] == file
    assert ns.namespace_path(kind, 42) == Path(f"/proc/42/ns/{file}")


def test_every_type_has_a_flag_and_a_file() -> None:
    assert set(ns.NAMESPACE_FLAGS) == set(ns.NamespaceType) == set(ns.NAMESPACE_FILES)
    assert len(set(ns.NAMESPACE_FLAGS.values())) == len(ns.NamespaceType)


def test_unknown_namespace_type_is_named() -> None:
    with pytest.raises(InvalidArgument, match="namespace type 'net': unknown"):
        ns.namespace_type("net")


def test_clone_flags_or_together() -> None:
    kinds = [ns.NamespaceType.UTS, ns.NamespaceType.MOUNT]
    assert ns.clone_flags(kinds) == ns.CLONE_NEWUTS | ns.CLONE_NEWNS
    assert ns.clone_flags([]) == 0


@pytest.mark.parametrize(
    ("machine", "call", "expected"),
    [
        ("x86_64", "pivot_root", 155),
        ("aarch64", "pivot_root", 41),
        ("x86_64", "seccomp", 317),
        ("aarch64", "seccomp", 277),
        ("riscv64", "openat2", 437),
        ("x86_64", "close_range", 436),
    ],
)
def test_syscall_numbers(machine: str, call: str, expected: int) -> None:
    assert number(call, machine) == expected


def test_unknown_architecture_is_unsupported() -> None:
    with pytest.raises(Unsupported, match="architecture sparc"):
        number("pivot_root", "sparc")


def test_time_namespace_probe(tmp_path: Path) -> None:
    (tmp_path / "self/ns").mkdir(parents=True)
    assert not ns.time_namespace_supported(tmp_path)
    (tmp_path / "self/ns/time").symlink_to("time:[4026531834]")  # dangling, as in /proc
    assert ns.time_namespace_supported(tmp_path)


def test_long_hostname_is_refused_before_the_kernel() -> None:
    with pytest.raises(InvalidArgument, match="longer than 64 bytes"):
        ns.sethostname("x" * 65)


@pytest.mark.root
def test_uts_namespace_hostname_stays_in_the_child() -> None:
    host = socket.gethostname()

    def child() -> tuple[str, str, bool]:
        before = os.stat("/proc/self/ns/uts").st_ino
        ns.unshare(ns.CLONE_NEWUTS)
        ns.sethostname("dockyard-test")
        ns.setdomainname("example.test")
        moved = os.stat("/proc/self/ns/uts").st_ino != before
        return socket.gethostname(), os.uname().nodename, moved

    assert in_child(child) == ("dockyard-test", "dockyard-test", True)
    assert socket.gethostname() == host


@pytest.mark.root
def test_setns_joins_another_process_namespace() -> None:
    def child() -> str:
        original = os.open("/proc/self/ns/uts", os.O_RDONLY | os.O_CLOEXEC)
        ns.unshare(ns.CLONE_NEWUTS)
        ns.sethostname("inside")
        inside = socket.gethostname()
        ns.setns(original, ns.CLONE_NEWUTS)
        return f"{inside} {socket.gethostname()}"

    assert in_child(child) == f"inside {socket.gethostname()}"


@pytest.mark.root
def test_setns_with_the_wrong_type_fails() -> None:
    def child() -> None:
        ns.join_namespace("/proc/self/ns/uts", ns.NamespaceType.NETWORK)

    with pytest.raises(OSError, match="setns network namespace /proc/self/ns/uts") as info:
        in_child(child)
    assert info.value.errno == errno.EINVAL


@pytest.mark.root
def test_pivot_root_into_a_tmp_tree(tmp_path: Path) -> None:
    (tmp_path / "new/etc").mkdir(parents=True)
    (tmp_path / "new/etc/marker").write_text("inside")
    new_root = str(tmp_path / "new")

    def child() -> tuple[str, list[str]]:
        ns.unshare(ns.CLONE_NEWNS)
        mount("", "/", "", MS_REC | MS_PRIVATE)
        mount(new_root, new_root, "", MS_BIND | MS_REC)
        os.chdir(new_root)
        ns.pivot_root(".", ".")
        umount(".", MNT_DETACH)
        os.chdir("/")
        return Path("/etc/marker").read_text(), sorted(os.listdir("/"))

    assert in_child(child) == ("inside", ["etc"])


@pytest.mark.root
def test_pivot_root_onto_a_non_mount_point_fails(tmp_path: Path) -> None:
    def child() -> None:
        ns.unshare(ns.CLONE_NEWNS)
        mount("", "/", "", MS_REC | MS_PRIVATE)
        ns.pivot_root(str(tmp_path), str(tmp_path))

    with pytest.raises(OSError, match=f"pivot_root {tmp_path}") as info:
        in_child(child)
    # EBUSY when tmp_path is on the root's own mount, EINVAL for any other non-mount-point.
    assert info.value.errno in (errno.EINVAL, errno.EBUSY)
