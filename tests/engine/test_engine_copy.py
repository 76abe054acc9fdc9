"""``docker cp`` on plain directories: the rule table both ways, ``-L``, ``/.``, ``-a``,
the tar modes (``-``), and that nothing in a container's tree reaches a host path."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.engine.copy import (
    Destination,
    PathStat,
    Plan,
    copy_in,
    copy_out,
    copy_to_host,
    extract_to_host,
    go_file_mode,
    plan_destination,
)
from dockyard.engine.copy_out import st_mode
from dockyard.errors import (
    DockyardError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)

DIR = "/"
HOSTS = "127.0.0.1 localhost\n"


def describe(top: Path) -> dict[str, str]:
    """Every entry under ``top``: ``/`` for a directory, ``-> t`` for a symlink, else text."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(top))
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[rel] = DIR
            else:
                found[rel] = path.read_text()
    return found


def changed(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    gone = {k: "GONE" for k in before if k not in after}
    return {k: v for k, v in after.items() if before.get(k) != v} | gone


def make_container(root: Path) -> Path:
    (root / "etc/app/sub").mkdir(parents=True)
    (root / "etc/hosts").write_text(HOSTS)
    (root / "etc/app/conf").write_text("c")
    (root / "etc/app/sub/deep").write_text("d")
    (root / "clash").mkdir()
    (root / "clash/inner").write_text("i")
    (root / "lnk-file").symlink_to("/etc/hosts")
    (root / "lnk-dir").symlink_to("etc/app")
    (root / "ln-hosts").symlink_to("../../etc/hosts")
    (root / "dangling").symlink_to("/nope/x")
    return root


@pytest.fixture
def ctr(tmp_path: Path) -> Path:
    return make_container(tmp_path / "ctr")


@pytest.fixture
def host(tmp_path: Path) -> Path:
    top = tmp_path / "host"
    (top / "dir").mkdir(parents=True)
    (top / "existing").write_text("old")
    (top / "dir/clash").write_text("a file")
    return top


# --- the rule table, pure ------------------------------------------------------------------


def _dest(exists: bool, is_dir: bool, asserts_dir: bool = False) -> Destination:
    return Destination(name="d", exists=exists, is_dir=is_dir, asserts_dir=asserts_dir, shown="d")


@pytest.mark.parametrize(
    ("source_is_dir", "dest", "expected"),
    [
        (False, _dest(False, False), Plan(into_parent=True, rename_to="d")),
        (False, _dest(False, False, asserts_dir=True), NotFound),
        (False, _dest(True, False), Plan(into_parent=True, rename_to="d")),
        (False, _dest(True, True), Plan(into_parent=False, rename_to=None)),
        (False, _dest(True, True, asserts_dir=True), Plan(into_parent=False, rename_to=None)),
        (False, _dest(True, False, asserts_dir=True), InvalidArgument),
        (True, _dest(False, False), Plan(into_parent=True, rename_to="d")),
        (True, _dest(False, False, asserts_dir=True), Plan(into_parent=True, rename_to="d")),
        (True, _dest(True, False), InvalidArgument),
        (True, _dest(True, True), Plan(into_parent=False, rename_to=None)),
    ],
    ids=[
        "file-to-missing",
        "file-to-missing-slash",
        "file-to-file",
        "file-to-dir",
        "file-to-dir-slash",
        "file-to-file-slash",
        "dir-to-missing",
        "dir-to-missing-slash",
        "dir-to-file",
        "dir-to-dir",
    ],
)
def test_plan_destination_follows_dockers_table(
    source_is_dir: bool, dest: Destination, expected: Plan | type[DockyardError]
) -> None:
    if isinstance(expected, Plan):
        assert plan_destination(source_is_dir, dest) == expected
    else:
        with pytest.raises(expected):
            plan_destination(source_is_dir, dest)


# --- container -> host ----------------------------------------------------------------------


@dataclass(frozen=True)
class Out:
    src: str
    dest: str
    expected: dict[str, str] | type[DockyardError]
    follow: bool = False


APP = {"conf": "c", "sub": DIR, "sub/deep": "d"}
APP_IN_DIR = {f"dir/{k}": v for k, v in APP.items()}


def under(prefix: str, tree: dict[str, str]) -> dict[str, str]:
    return {prefix: DIR} | {f"{prefix}/{k}": v for k, v in tree.items()}


OUT_CASES = {
    "file-to-missing": Out("/etc/hosts", "new", {"new": HOSTS}),
    "file-relative-src": Out("etc/hosts", "new", {"new": HOSTS}),
    "file-to-missing-slash": Out("/etc/hosts", "new/", NotFound),
    "file-to-file": Out("/etc/hosts", "existing", {"existing": HOSTS}),
    "file-to-dir": Out("/etc/hosts", "dir", {"dir/hosts": HOSTS}),
    "file-to-dir-slash": Out("/etc/hosts", "dir/", {"dir/hosts": HOSTS}),
    "file-to-file-slash": Out("/etc/hosts", "existing/", InvalidArgument),
    "file-parent-missing": Out("/etc/hosts", "nodir/x", NotFound),
    "file-with-slash": Out("/etc/hosts/", "dir", InvalidArgument),
    "dir-to-missing": Out("/etc/app", "new", under("new", APP)),
    "dir-to-file": Out("/etc/app", "existing", InvalidArgument),
    "dir-to-dir": Out("/etc/app", "dir", under("dir/app", APP)),
    "dir-slash-to-dir": Out("/etc/app/", "dir", under("dir/app", APP)),
    "dir-dot-to-dir": Out("/etc/app/.", "dir", APP_IN_DIR),
    "dir-dot-to-missing": Out("/etc/app/.", "new", under("new", APP)),
    "dir-over-file-inside": Out("/clash", "dir", FailedPrecondition),
    "root-to-missing": Out("/", "new", {}),  # checked separately below
    "symlink-copied": Out("/lnk-file", "dir", {"dir/lnk-file": "-> /etc/hosts"}),
    "symlink-followed": Out("/lnk-file", "dir", {"dir/lnk-file": HOSTS}, follow=True),
    "relative-symlink-followed": Out("/ln-hosts", "dir", {"dir/ln-hosts": HOSTS}, follow=True),
    "dir-symlink-copied": Out("/lnk-dir", "dir", {"dir/lnk-dir": "-> etc/app"}),
    "dir-symlink-slash": Out("/lnk-dir/", "dir", under("dir/lnk-dir", APP)),
    "dir-symlink-followed": Out("/lnk-dir", "dir", under("dir/lnk-dir", APP), follow=True),
    "dir-symlink-dot": Out("/lnk-dir/.", "dir", APP_IN_DIR),
    "missing": Out("/nope", "dir", NotFound),
    "dangling-followed": Out("/dangling", "dir", NotFound, follow=True),
    "dangling-copied": Out("/dangling", "dir", {"dir/dangling": "-> /nope/x"}),
}


def _direct(ctr: Path, case: Out, dest: str) -> None:
    with copy_out(ctr, case.src, follow_link=case.follow) as source:
        copy_to_host(source, dest)


def _through_tar(ctr: Path, case: Out, dest: str) -> None:
    with copy_out(ctr, case.src, follow_link=case.follow) as source:
        buf = io.BytesIO()
        source.write_tar(buf)
        buf.seek(0)
        extract_to_host(buf, dest, source.stat)


@pytest.mark.parametrize("way", [_direct, _through_tar], ids=["direct", "tar"])
@pytest.mark.parametrize("case", OUT_CASES.values(), ids=OUT_CASES.keys())
def test_copy_out_to_host(
    ctr: Path, host: Path, case: Out, way: Callable[[Path, Out, str], None]
) -> None:
    before = describe(host)
    dest = str(host / case.dest) + ("/" if case.dest.endswith("/") else "")
    if not isinstance(case.expected, dict):
        with pytest.raises(case.expected):
            way(ctr, case, dest)
        if case.expected is not FailedPrecondition:
            assert describe(host) == before
        return
    way(ctr, case, dest)
    if case.src == "/":
        assert changed(before, describe(host)) == under("new", describe(ctr))
    else:
        assert changed(before, describe(host)) == case.expected


def test_copy_out_relative_dest_is_taken_from_the_working_directory(
    ctr: Path, host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(host)
    with copy_out(ctr, "/etc/hosts") as source:
        copy_to_host(source, "dir")
    assert (host / "dir/hosts").read_text() == HOSTS


def test_copy_out_to_a_symlinked_destination_writes_its_target(ctr: Path, host: Path) -> None:
    (host / "to-existing").symlink_to("existing")
    with copy_out(ctr, "/etc/hosts") as source:
        copy_to_host(source, str(host / "to-existing"))
    assert (host / "existing").read_text() == HOSTS
    assert (host / "to-existing").is_symlink()


def test_copy_out_keeps_modes_and_mtimes_but_not_setuid(ctr: Path, host: Path) -> None:
    tool = ctr / "etc/app/tool"
    tool.write_text("#!/bin/sh\n")
    os.chmod(tool, 0o4755)
    os.utime(tool, (1_600_000_000, 1_600_000_000))
    os.chmod(ctr / "etc/app/sub", 0o700)
    with copy_out(ctr, "/etc/app") as source:
        copy_to_host(source, str(host / "copy"))
    st = os.stat(host / "copy/tool")
    assert stat.S_IMODE(st.st_mode) == 0o755  # setuid dropped on the host
    assert st.st_mtime == 1_600_000_000
    assert stat.S_IMODE(os.stat(host / "copy/sub").st_mode) == 0o700


def test_copy_out_keeps_hardlinks_within_the_copy(ctr: Path, host: Path) -> None:
    os.link(ctr / "etc/app/conf", ctr / "etc/app/sub/conf-link")
    with copy_out(ctr, "/etc/app") as source:
        buf = io.BytesIO()
        source.write_tar(buf)
        buf.seek(0)
        extract_to_host(buf, str(host / "copy"), source.stat)
    a, b = os.stat(host / "copy/conf"), os.stat(host / "copy/sub/conf-link")
    assert (a.st_ino, a.st_nlink) == (b.st_ino, 2)


# --- the tar of `docker cp CTR:SRC -` and the stat ---------------------------------------------


@pytest.mark.parametrize(
    ("src", "follow", "names"),
    [
        ("/etc/hosts", False, ["hosts"]),
        ("/etc/app", False, ["app", "app/conf", "app/sub", "app/sub/deep"]),
        ("/etc/app/", False, ["app", "app/conf", "app/sub", "app/sub/deep"]),
        ("/etc/app/.", False, [".", "./conf", "./sub", "./sub/deep"]),
        ("/lnk-dir", False, ["lnk-dir"]),
        ("/lnk-dir", True, ["lnk-dir", "lnk-dir/conf", "lnk-dir/sub", "lnk-dir/sub/deep"]),
    ],
)
def test_copy_out_tar_member_names(ctr: Path, src: str, follow: bool, names: list[str]) -> None:
    with copy_out(ctr, src, follow_link=follow) as source:
        buf = io.BytesIO()
        size = source.write_tar(buf)
    assert size == len(buf.getvalue())
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        assert tar.getnames() == names


def test_copy_out_tar_of_a_file_keeps_content_and_mode(ctr: Path) -> None:
    os.chmod(ctr / "etc/hosts", 0o640)
    with copy_out(ctr, "/lnk-file", follow_link=True) as source:
        buf = io.BytesIO()
        source.write_tar(buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        (info,) = tar.getmembers()
        assert (info.name, info.isfile(), info.mode) == ("lnk-file", True, 0o640)
        extracted = tar.extractfile(info)
        assert extracted is not None
        assert extracted.read().decode() == HOSTS


@pytest.mark.parametrize(
    ("src", "follow", "name", "kind", "link_target"),
    [
        ("/etc/hosts", False, "hosts", stat.S_IFREG, ""),
        ("etc/app/", False, "app", stat.S_IFDIR, ""),
        ("/etc/app/.", False, ".", stat.S_IFDIR, ""),
        ("/", False, "/", stat.S_IFDIR, ""),
        ("/lnk-file", False, "lnk-file", stat.S_IFLNK, "/etc/hosts"),
        ("/lnk-dir", False, "lnk-dir", stat.S_IFLNK, "/etc/app"),
        ("/ln-hosts", False, "ln-hosts", stat.S_IFLNK, "/etc/hosts"),
        ("/dangling", False, "dangling", stat.S_IFLNK, "/nope/x"),
        ("/lnk-dir", True, "lnk-dir", stat.S_IFDIR, ""),
    ],
)
def test_copy_out_stat(
    ctr: Path, src: str, follow: bool, name: str, kind: int, link_target: str
) -> None:
    with copy_out(ctr, src, follow_link=follow) as source:
        got = source.stat
    assert (got.name, stat.S_IFMT(got.mode), got.link_target) == (name, kind, link_target)


def test_path_stat_json_is_dockers() -> None:
    st = PathStat(
        name="app", size=4096, mode=stat.S_IFDIR | 0o755, mtime_ns=1_700_000_000_500_000_000
    )
    data = json.loads(json.dumps(st.to_json()))
    assert data == {
        "name": "app",
        "size": 4096,
        "mode": (1 << 31) | 0o755,
        "mtime": "2023-11-14T22:13:20.5Z",
        "linkTarget": "",
    }
    assert PathStat.from_json(data) == st


def test_path_stat_json_round_trip_keeps_nanoseconds(ctr: Path) -> None:
    with copy_out(ctr, "/lnk-dir") as source:
        got = source.stat
    assert PathStat.from_json(got.to_json()) == got


@pytest.mark.parametrize("data", [{}, {"name": "x", "size": 1, "mode": 0, "mtime": "yesterday"}])
def test_path_stat_from_bad_json(data: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        PathStat.from_json(data)


@pytest.mark.parametrize(
    ("mode", "go"),
    [
        (stat.S_IFREG | 0o644, 0o644),
        (stat.S_IFLNK | 0o777, (1 << 27) | 0o777),
        (stat.S_IFCHR | 0o666, (1 << 26) | (1 << 21) | 0o666),
        (stat.S_IFREG | 0o4755, (1 << 23) | 0o755),
        (stat.S_IFDIR | 0o1777, (1 << 31) | (1 << 20) | 0o777),
        (stat.S_IFBLK | 0o2660, (1 << 26) | (1 << 22) | 0o660),
        (stat.S_IFIFO | 0o600, (1 << 25) | 0o600),
    ],
)
def test_go_file_mode(mode: int, go: int) -> None:
    assert go_file_mode(mode) == go
    assert st_mode(go) == mode


# --- host -> container ------------------------------------------------------------------------


@pytest.fixture
def src(tmp_path: Path) -> Path:
    top = tmp_path / "src"
    (top / "tree/sub").mkdir(parents=True)
    (top / "file").write_text("F")
    (top / "tree/a").write_text("A")
    (top / "tree/sub/b").write_text("B")
    (top / "lnk").symlink_to("file")
    (top / "dlink").symlink_to("tree")
    return top


@dataclass(frozen=True)
class In:
    src: str
    dest: str
    expected: dict[str, str] | type[DockyardError]
    follow: bool = False


TREE = {"a": "A", "sub": DIR, "sub/b": "B"}

IN_CASES = {
    "file-to-missing": In("file", "/new", {"new": "F"}),
    "file-to-missing-no-slash": In("file", "new", {"new": "F"}),
    "file-to-missing-slash": In("file", "/new/", NotFound),
    "file-to-file": In("file", "/etc/hosts", {"etc/hosts": "F"}),
    "file-to-dir": In("file", "/etc", {"etc/file": "F"}),
    "file-to-dir-via-symlink": In("file", "/lnk-dir", {"etc/app/file": "F"}),
    "file-to-file-via-symlink": In("file", "/ln-hosts", {"etc/hosts": "F"}),
    "file-parent-missing": In("file", "/nodir/x", NotFound),
    "file-to-file-slash": In("file", "/etc/hosts/", InvalidArgument),
    "dir-to-missing": In("tree", "/new", under("new", TREE)),
    "dir-to-file": In("tree", "/etc/hosts", InvalidArgument),
    "dir-to-dir": In("tree", "/etc", under("etc/tree", TREE)),
    "dir-dot-to-dir": In("tree/.", "/etc", {f"etc/{k}": v for k, v in TREE.items()}),
    "dir-dot-to-missing": In("tree/.", "/new", under("new", TREE)),
    "symlink-copied": In("lnk", "/etc", {"etc/lnk": "-> file"}),
    "symlink-followed": In("lnk", "/etc", {"etc/lnk": "F"}, follow=True),
    "dir-symlink-slash": In("dlink/", "/etc", under("etc/dlink", TREE)),
    "missing-source": In("nope", "/etc", NotFound),
    "dir-over-file-inside": In("tree", "/clash-host", FailedPrecondition),
}


@pytest.mark.parametrize("case", IN_CASES.values(), ids=IN_CASES.keys())
def test_copy_in(ctr: Path, src: Path, case: In, monkeypatch: pytest.MonkeyPatch) -> None:
    (ctr / "clash-host/tree").mkdir(parents=True)
    (ctr / "clash-host/tree/a").mkdir()  # a directory where the source has a file
    before = describe(ctr)
    monkeypatch.chdir(src)
    if not isinstance(case.expected, dict):
        with pytest.raises(case.expected):
            copy_in(ctr, case.dest, case.src, follow_link=case.follow)
        if case.expected is not FailedPrecondition:
            assert describe(ctr) == before
        return
    copy_in(ctr, case.dest, case.src, follow_link=case.follow)
    assert changed(before, describe(ctr)) == case.expected


def test_copy_in_absolute_source(ctr: Path, src: Path) -> None:
    copy_in(ctr, "/etc/", str(src / "tree"))
    assert describe(ctr / "etc/tree") == TREE


def _owner_tree(src: Path) -> None:
    for path in [src / "tree", src / "tree/a", src / "tree/sub", src / "tree/sub/b"]:
        os.chown(path, 1234, 2345)
    os.chown(src / "lnk", 1234, 2345, follow_symlinks=False)


@pytest.mark.root
@pytest.mark.parametrize(("archive", "owner"), [(False, (0, 0)), (True, (1234, 2345))])
def test_copy_in_owners(ctr: Path, src: Path, archive: bool, owner: tuple[int, int]) -> None:
    _owner_tree(src)
    copy_in(ctr, "/etc", str(src / "tree"), archive=archive)
    copy_in(ctr, "/etc", str(src / "lnk"), archive=archive)
    for rel in ["etc/tree", "etc/tree/a", "etc/tree/sub", "etc/tree/sub/b", "etc/lnk"]:
        st = os.stat(ctr / rel, follow_symlinks=False)
        assert (st.st_uid, st.st_gid) == owner, rel


@pytest.mark.root
def test_copy_in_keeps_setuid_and_modes(ctr: Path, src: Path) -> None:
    os.chmod(src / "file", 0o4711)
    os.chmod(src / "tree/sub", 0o750)
    copy_in(ctr, "/etc", str(src / "file"))
    copy_in(ctr, "/etc", str(src / "tree"))
    assert stat.S_IMODE(os.stat(ctr / "etc/file").st_mode) == 0o4711
    assert stat.S_IMODE(os.stat(ctr / "etc/tree/sub").st_mode) == 0o750


@pytest.mark.root
def test_device_nodes_copied_to_the_host_open_to_their_owner_only(ctr: Path, host: Path) -> None:
    (ctr / "dev").mkdir()
    os.mknod(ctr / "dev/disk", stat.S_IFBLK | 0o666, os.makedev(8, 0))
    os.chmod(ctr / "dev/disk", 0o666)
    with copy_out(ctr, "/dev") as source:
        copy_to_host(source, str(host / "dev"))
    st = os.stat(host / "dev/disk")
    assert stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(8, 0)
    assert stat.S_IMODE(st.st_mode) == 0o600


@pytest.mark.root
def test_copy_out_to_host_does_not_keep_container_owners(ctr: Path, host: Path) -> None:
    os.chown(ctr / "etc/hosts", 1234, 2345)
    with copy_out(ctr, "/etc/hosts") as source:
        copy_to_host(source, str(host / "h"))
    st = os.stat(host / "h")
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())


# --- tar on stdin -----------------------------------------------------------------------------


def tar_of(*members: tuple[str, str | None, str | None], uid: int = 0) -> io.BytesIO:
    """Members ``(name, data or None for a directory, symlink/hardlink target)``; a target
    starting with ``=`` is a hardlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, target in members:
            info = tarfile.TarInfo(name)
            info.uid = info.gid = uid
            info.mtime = 1_600_000_000
            if target is not None and target.startswith("="):
                info.type, info.linkname = tarfile.LNKTYPE, target[1:]
            elif target is not None:
                info.type, info.linkname = tarfile.SYMTYPE, target
            elif data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            else:
                info.size = len(data.encode())
            payload = io.BytesIO(data.encode()) if data else None
            tar.addfile(info, payload)
    buf.seek(0)
    return buf


def test_copy_in_tar_extracts_as_is(ctr: Path) -> None:
    stream = tar_of(("./", None, None), ("./x", "X", None), ("d/", None, None), ("d/y", "Y", None))
    copy_in(ctr, "/etc/app", stream)
    assert describe(ctr / "etc/app") == APP | {"x": "X", "d": DIR, "d/y": "Y"}


@pytest.mark.parametrize(
    ("dest", "error"), [("/etc/hosts", InvalidArgument), ("/new", InvalidArgument)]
)
def test_copy_in_tar_needs_a_directory(ctr: Path, dest: str, error: type[DockyardError]) -> None:
    before = describe(ctr)
    with pytest.raises(error, match="must be a directory"):
        copy_in(ctr, dest, tar_of(("x", "X", None)))
    assert describe(ctr) == before


@pytest.mark.root
@pytest.mark.parametrize(("archive", "owner"), [(False, 0), (True, 77)])
def test_copy_in_tar_owners(ctr: Path, archive: bool, owner: int) -> None:
    copy_in(ctr, "/etc", tar_of(("x", "X", None), uid=77), archive=archive)
    st = os.stat(ctr / "etc/x")
    assert (st.st_uid, st.st_gid) == (owner, owner)


# --- security: nothing outside the root -------------------------------------------------------


@dataclass
class Jail:
    """A container tree full of escaping symlinks, beside host paths it must not reach."""

    root: Path
    secret: Path  # a host file
    target: Path  # an empty host directory

    def host_state(self) -> dict[str, str]:
        return describe(self.secret.parent) | describe(self.target)

    def inside(self, host_path: Path) -> Path:
        """Where ``host_path`` lands when read as a path of the container."""
        return self.root / str(host_path).lstrip("/")


@pytest.fixture
def jail(tmp_path: Path) -> Jail:
    secret = tmp_path / "hostsecret/secret.txt"
    secret.parent.mkdir()
    secret.write_text("HOST SECRET")
    target = tmp_path / "hosttarget"
    target.mkdir()
    root = make_container(tmp_path / "jailroot")
    climb = "../" * 30
    (root / "escape").symlink_to("/")
    (root / "up").symlink_to(climb)
    (root / "rel-target").symlink_to(climb + str(target).lstrip("/"))
    (root / "abs-target").symlink_to(target)
    (root / "abs-secret").symlink_to(secret)
    (root / "etc/passwd-link").symlink_to(climb + str(secret).lstrip("/"))
    return Jail(root=root, secret=secret, target=target)


@pytest.mark.parametrize(
    ("path", "follow"),
    [
        ("/escape/{secret}", False),
        ("/up/{secret}", False),
        ("/escape/../{secret}", False),
        ("/abs-secret", True),
        ("/etc/passwd-link", True),
        ("/up/{secret_dir}/.", False),
        ("/up/{secret_dir}/", False),
    ],
)
def test_copy_out_never_reads_a_host_file(jail: Jail, path: str, follow: bool) -> None:
    src = path.format(
        secret=str(jail.secret).lstrip("/"), secret_dir=str(jail.secret.parent).lstrip("/")
    )
    with pytest.raises(NotFound):  # the container has no such file
        copy_out(jail.root, src, follow_link=follow).close()
    decoy = jail.inside(jail.secret)
    decoy.parent.mkdir(parents=True)
    decoy.write_text("DECOY")
    with copy_out(jail.root, src, follow_link=follow) as source:
        buf = io.BytesIO()
        source.write_tar(buf)
    assert b"DECOY" in buf.getvalue()
    assert b"HOST SECRET" not in buf.getvalue()


def test_copy_out_of_a_symlink_to_slash_reads_the_container_root(jail: Jail) -> None:
    with copy_out(jail.root, "/escape", follow_link=True) as source:
        buf = io.BytesIO()
        source.write_tar(buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        tops = {name.split("/")[1] for name in tar.getnames() if name.count("/")}
    assert tops == {p.name for p in jail.root.iterdir()}


@pytest.mark.parametrize("dest", ["/rel-target/", "/abs-target/", "/escape/{target}/"])
def test_copy_in_never_writes_a_host_directory(jail: Jail, src: Path, dest: str) -> None:
    dest = dest.format(target=str(jail.target).lstrip("/"))
    before = jail.host_state()
    with pytest.raises(NotFound):  # resolved in the container, where it does not exist
        copy_in(jail.root, dest, str(src / "file"))
    jail.inside(jail.target).mkdir(parents=True)
    copy_in(jail.root, dest, str(src / "file"))
    assert (jail.inside(jail.target) / "file").read_text() == "F"
    assert jail.host_state() == before


def test_copy_in_onto_a_symlink_to_a_host_file(jail: Jail, src: Path) -> None:
    before = jail.host_state()
    with pytest.raises(NotFound):
        copy_in(jail.root, "/abs-secret", str(src / "file"))
    jail.inside(jail.secret).parent.mkdir(parents=True)
    copy_in(jail.root, "/abs-secret", str(src / "file"))
    assert jail.inside(jail.secret).read_text() == "F"
    assert jail.host_state() == before


HOSTILE = {
    "dotdot": [("../escaped", "X", None)],
    "dotdot-deep": [("a/../../escaped", "X", None)],
    "symlink-then-write": [("evil", None, "{target}"), ("evil/pwned", "X", None)],
    "relative-symlink-then-write": [("evil", None, "../../../../.."), ("evil/pwned", "X", None)],
    "hardlink-up": [("hl", None, "=../../hostsecret/secret.txt")],
    "hardlink-absolute": [("hl", None, "={secret}")],
}


@pytest.mark.parametrize("members", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_tar_into_container_is_refused(
    jail: Jail, members: list[tuple[str, str | None, str | None]]
) -> None:
    filled = [
        (n, d, None if t is None else t.format(target=jail.target, secret=jail.secret))
        for n, d, t in members
    ]
    before = jail.host_state()
    (jail.root / "drop").mkdir()
    with pytest.raises(InvalidArgument):
        copy_in(jail.root, "/drop", tar_of(*filled))
    assert jail.host_state() == before
    assert os.stat(jail.secret).st_nlink == 1
    assert not (jail.root / "escaped").exists()
    assert not (jail.root.parent / "escaped").exists()


@pytest.mark.parametrize("members", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_tar_to_host_is_refused(
    jail: Jail, host: Path, members: list[tuple[str, str | None, str | None]]
) -> None:
    filled = [
        (f"./{n}", d, None if t is None else t.format(target=jail.target, secret=jail.secret))
        for n, d, t in members
    ]
    before = jail.host_state()
    source = PathStat(name=".", size=0, mode=stat.S_IFDIR | 0o755, mtime_ns=0)
    with pytest.raises(InvalidArgument):
        extract_to_host(tar_of(*filled), str(host / "dir"), source)
    assert jail.host_state() == before
    assert os.stat(jail.secret).st_nlink == 1
    assert not (host / "escaped").exists()


def test_absolute_member_names_stay_inside(jail: Jail) -> None:
    (jail.root / "drop").mkdir()
    copy_in(jail.root, "/drop", tar_of((f"{jail.target}/abs", "X", None)))
    assert (jail.root / "drop" / str(jail.target).lstrip("/") / "abs").read_text() == "X"
    assert list(jail.target.iterdir()) == []


def test_member_outside_the_copied_source_is_refused(ctr: Path, host: Path) -> None:
    source = PathStat(name="app", size=0, mode=stat.S_IFDIR | 0o755, mtime_ns=0)
    with pytest.raises(InvalidArgument, match="outside"):
        extract_to_host(tar_of(("other/x", "X", None)), str(host / "dir"), source)
    assert not (host / "dir/other").exists()
