"""parse_options and plan_mount: fstab-style options -> flags, data and mount(2) calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.linux import mount as m
from dockyard.linux.mount import MountCall, parse_options, plan_mount

PARSE_CASES = [
    ([], 0, ""),
    (["defaults"], 0, ""),
    (["ro"], m.MS_RDONLY, ""),
    (["ro", "rw"], 0, ""),
    (["rw", "ro"], m.MS_RDONLY, ""),
    (["bind"], m.MS_BIND, ""),
    (["rbind"], m.MS_BIND | m.MS_REC, ""),
    (["nosuid", "nodev", "noexec"], m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC, ""),
    (["nosuid", "suid"], 0, ""),
    (["noexec", "exec", "nodev", "dev"], 0, ""),
    (["remount", "ro"], m.MS_REMOUNT | m.MS_RDONLY, ""),
    (["private"], m.MS_PRIVATE, ""),
    (["rprivate"], m.MS_PRIVATE | m.MS_REC, ""),
    (["rslave"], m.MS_SLAVE | m.MS_REC, ""),
    (["rshared"], m.MS_SHARED | m.MS_REC, ""),
    (["runbindable"], m.MS_UNBINDABLE | m.MS_REC, ""),
    (["noatime", "atime"], 0, ""),
    (["strictatime"], m.MS_STRICTATIME, ""),
    (["relatime", "norelatime"], 0, ""),
    (["sync", "async"], 0, ""),
    (["mode=755", "size=65536k"], 0, "mode=755,size=65536k"),
    (
        ["nosuid", "lowerdir=/a:/b", "ro", "upperdir=/u", "workdir=/w"],
        m.MS_NOSUID | m.MS_RDONLY,
        "lowerdir=/a:/b,upperdir=/u,workdir=/w",
    ),
    (["newinstance", "ptmxmode=0666", "noexec"], m.MS_NOEXEC, "newinstance,ptmxmode=0666"),
]


@pytest.mark.parametrize(("options", "flags", "data"), PARSE_CASES)
def test_parse_options(options: list[str], flags: int, data: str) -> None:
    assert parse_options(options) == (flags, data)


def _call(source: str, target: str, fstype: str, flags: int, data: str = "") -> MountCall:
    return MountCall(source=source, target=target, fstype=fstype, flags=flags, data=data)


PLAN_CASES = [
    pytest.param(
        ("/src", "/t", "bind", ["rw", "rbind"]),
        [_call("/src", "/t", "bind", m.MS_BIND | m.MS_REC)],
        id="rw-rbind",
    ),
    pytest.param(
        ("/src", "/t", "bind", ["ro", "rbind"]),
        [
            _call("/src", "/t", "bind", m.MS_RDONLY | m.MS_BIND | m.MS_REC),
            _call("", "/t", "", m.MS_RDONLY | m.MS_BIND | m.MS_REC | m.MS_REMOUNT),
        ],
        id="ro-bind-remounts",
    ),
    pytest.param(
        ("/src", "/t", "none", ["bind", "ro", "nosuid", "rprivate"]),
        [
            _call("/src", "/t", "none", m.MS_BIND | m.MS_RDONLY | m.MS_NOSUID),
            _call("", "/t", "", m.MS_PRIVATE | m.MS_REC),
            _call("", "/t", "", m.MS_BIND | m.MS_RDONLY | m.MS_NOSUID | m.MS_REMOUNT),
        ],
        id="propagation-then-ro",
    ),
    pytest.param(
        ("/src", "/t", "", ["bind", "nosuid", "nodev", "noexec"]),
        [
            _call("/src", "/t", "", m.MS_BIND | m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC),
            _call("", "/t", "", m.MS_BIND | m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC | m.MS_REMOUNT),
        ],
        id="bind-nosuid-nodev-noexec-remounts",
    ),
    pytest.param(
        ("/src", "/t", "", ["rbind", "noexec", "rslave"]),
        [
            _call("/src", "/t", "", m.MS_BIND | m.MS_REC | m.MS_NOEXEC),
            _call("", "/t", "", m.MS_SLAVE | m.MS_REC),
            _call("", "/t", "", m.MS_BIND | m.MS_REC | m.MS_NOEXEC | m.MS_REMOUNT),
        ],
        id="rbind-noexec-propagation-then-remount",
    ),
    pytest.param(
        ("/src", "/t", "", ["bind", "noatime"]),
        [
            _call("/src", "/t", "", m.MS_BIND | m.MS_NOATIME),
            _call("", "/t", "", m.MS_BIND | m.MS_NOATIME | m.MS_REMOUNT),
        ],
        id="bind-noatime-remounts",
    ),
    pytest.param(
        ("", "/t", "", ["remount", "bind", "nosuid"]),
        [_call("", "/t", "", m.MS_REMOUNT | m.MS_BIND | m.MS_NOSUID)],
        id="remount-bind-nosuid-once",
    ),
    pytest.param(
        ("tmpfs", "/t", "tmpfs", ["nosuid", "nodev", "noexec", "ro"]),
        [_call("tmpfs", "/t", "tmpfs", m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC | m.MS_RDONLY)],
        id="not-a-bind-no-remount",
    ),
    pytest.param(
        ("overlay", "/t", "overlay", ["lowerdir=/a:/b", "upperdir=/u", "workdir=/w"]),
        [_call("overlay", "/t", "overlay", 0, "lowerdir=/a:/b,upperdir=/u,workdir=/w")],
        id="overlay",
    ),
    pytest.param(
        ("proc", "/t", "proc", ["nosuid", "nodev", "noexec"]),
        [_call("proc", "/t", "proc", m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC)],
        id="proc",
    ),
    pytest.param(
        ("", "/t", "", ["remount", "bind", "ro"]),
        [_call("", "/t", "", m.MS_REMOUNT | m.MS_BIND | m.MS_RDONLY)],
        id="remount-bind-ro-once",
    ),
    pytest.param(
        ("", "/t", "", ["remount", "ro"]),
        [_call("", "/t", "", m.MS_REMOUNT | m.MS_RDONLY)],
        id="remount-ro",
    ),
    pytest.param(
        ("tmpfs", "/t", "tmpfs", ["remount", "size=1m"]),
        [_call("tmpfs", "/t", "tmpfs", m.MS_REMOUNT, "size=1m")],
        id="remount-with-data",
    ),
    pytest.param(
        ("", "/t", "", ["rslave"]),
        [_call("", "/t", "", m.MS_SLAVE | m.MS_REC)],
        id="propagation-only",
    ),
]


@pytest.mark.parametrize(("args", "calls"), PLAN_CASES)
def test_plan_mount(args: tuple[str, str, str, list[str]], calls: list[MountCall]) -> None:
    assert plan_mount(*args) == calls


@pytest.mark.parametrize("option", ["private", "rprivate", "shared", "rshared", "rslave"])
def test_propagation_never_reaches_the_first_call(option: str) -> None:
    first, second = plan_mount("/s", "/t", "bind", ["bind", option])
    assert first.flags == m.MS_BIND, "rprivate must not turn bind into rbind"
    assert second.flags & m.PROPAGATION == parse_options([option])[0] & m.PROPAGATION


BIND_REMOUNT_CASES = [
    (m.MS_BIND, None),
    (m.MS_BIND | m.MS_REC, None),
    (m.MS_BIND | m.MS_REMOUNT, None),
    (m.MS_NOSUID | m.MS_RDONLY, None),  # not a bind: the flags work on the first call
    (m.MS_BIND | m.MS_RDONLY, m.MS_BIND | m.MS_RDONLY | m.MS_REMOUNT),
    (m.MS_BIND | m.MS_NOSUID, m.MS_BIND | m.MS_NOSUID | m.MS_REMOUNT),
    (m.MS_BIND | m.MS_REC | m.MS_NODEV, m.MS_BIND | m.MS_REC | m.MS_NODEV | m.MS_REMOUNT),
    (m.MS_BIND | m.MS_NOEXEC | m.MS_PRIVATE, m.MS_BIND | m.MS_NOEXEC | m.MS_REMOUNT),
    (m.MS_BIND | m.MS_SLAVE | m.MS_REC, None),
]


@pytest.mark.parametrize(("flags", "remount"), BIND_REMOUNT_CASES)
def test_bind_remount_flags(flags: int, remount: int | None) -> None:
    assert m.bind_remount_flags(flags) == remount


@pytest.mark.root
@pytest.mark.parametrize(
    ("options", "want"),
    [
        (["bind", "nosuid", "nodev", "noexec"], {"nosuid", "nodev", "noexec"}),
        (["bind", "ro"], {"ro"}),
    ],
)
def test_bind_flags_take_effect(tmp_path: Path, options: list[str], want: set[str]) -> None:
    """The remount is what makes the kernel apply them (in a private mount namespace)."""
    from tests.linux.forked import in_child

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()

    def body() -> list[str]:
        from dockyard.linux.ns import CLONE_NEWNS, unshare

        unshare(CLONE_NEWNS)
        m.mount("", "/", "", m.MS_PRIVATE | m.MS_REC)
        m.mount_options(str(src), str(dst), "", options)
        infos = m.parse_mountinfo(Path("/proc/self/mountinfo").read_text())
        return list(next(i for i in infos if i.mount_point == str(dst)).options)

    assert want <= set(in_child(body))
