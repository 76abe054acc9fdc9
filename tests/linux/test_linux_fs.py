"""In-root resolution: one golden table run through openat2 and through the fallback walk."""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.linux import fs

BOTH = pytest.mark.parametrize("use_openat2", [True, False], ids=["openat2", "walk"])

# name -> symlink target, inside the root
LINKS = {
    "a": "/",
    "b": "../../..",
    "c": "/etc/passwd",
    "d": "dir/sub",
    "e": "b/etc",
    "f": "dir/../c",
    "loop1": "loop2",
    "loop2": "loop1",
    "self": ".",
    "dotdot": "..",
    "dangling": "/nonexistent/x",
    "dir/sub/up": "../../../../../etc",
    "dir/abs": "/dir/sub",
}

# path -> the path inside the root it must resolve to, or the errno it must fail with
CASES: list[tuple[str, str | int]] = [
    ("", "."),
    ("/", "."),
    ("a", "."),
    ("a/etc/passwd", "etc/passwd"),
    ("b", "."),
    ("b/etc/passwd", "etc/passwd"),
    ("c", "etc/passwd"),
    ("d", "dir/sub"),
    ("d/..", "dir"),
    ("d/../../..", "."),
    ("e/passwd", "etc/passwd"),
    ("f", "etc/passwd"),
    ("../../etc/passwd", "etc/passwd"),
    ("/../../../etc", "etc"),
    ("self/self/etc/", "etc"),
    ("dotdot/etc", "etc"),
    ("dir/sub/../../c", "etc/passwd"),
    ("dir/sub/up/passwd", "etc/passwd"),
    ("dir/abs/../abs", "dir/sub"),
    ("dir/abs/up", "etc"),
    ("a/a/a/b/b/d", "dir/sub"),
    ("loop1", errno.ELOOP),
    ("missing", errno.ENOENT),
    ("dangling", errno.ENOENT),
    ("c/x", errno.ENOTDIR),
    ("c/", errno.ENOTDIR),
    ("file/..", errno.ENOTDIR),
    ("etc/passwd/", errno.ENOTDIR),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A hostile rootfs three levels down, so ``../../..`` would leave it on the host."""
    base = tmp_path / "deep/er/root"
    (base / "etc").mkdir(parents=True)
    (base / "etc/passwd").write_text("root-passwd")
    (base / "dir/sub").mkdir(parents=True)
    (base / "file").write_text("x")
    for name, target in LINKS.items():
        (base / name).symlink_to(target)
    return base


@pytest.fixture
def root_fd(root: Path) -> Iterator[int]:
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    yield fd
    os.close(fd)


def _target(fd: int) -> str:
    try:
        return os.readlink(fs.proc_fd_path(fd))
    finally:
        os.close(fd)


@BOTH
@pytest.mark.parametrize(("path", "expected"), CASES)
def test_secure_join(
    root: Path, root_fd: int, use_openat2: bool, path: str, expected: str | int
) -> None:
    if isinstance(expected, int):
        with pytest.raises(OSError, match=os.strerror(expected)) as info:
            fs.secure_join(root_fd, path, use_openat2=use_openat2)
        assert info.value.errno == expected
    else:
        assert _target(fs.secure_join(root_fd, path, use_openat2=use_openat2)) == str(
            root / expected
        ).removesuffix("/.")


def test_the_table_escapes_without_the_resolver(root: Path) -> None:
    # The same links followed by the host's own resolution leave the root: the table tests
    # something.
    assert os.path.realpath(root / "a") == "/"
    assert os.path.realpath(root / "b") == str(root.parents[2])
    assert os.path.realpath(root / "c") == "/etc/passwd"


def test_secure_join_returns_o_path_fds(root_fd: int) -> None:
    fd = fs.secure_join(root_fd, "c")
    try:
        assert os.get_blocking(fd)  # an fd it is
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.read(fd, 1)  # O_PATH fds cannot be read
        assert not os.get_inheritable(fd)
    finally:
        os.close(fd)


def test_openat2_resolve_flags(root_fd: int) -> None:
    with pytest.raises(OSError, match="openat2 a") as info:
        fs.openat2(root_fd, "a/etc", os.O_PATH, 0, fs.RESOLVE_BENEATH)
    assert info.value.errno == errno.EXDEV
    with pytest.raises(OSError, match="openat2 d") as info:
        fs.openat2(root_fd, "d", os.O_PATH, 0, fs.RESOLVE_NO_SYMLINKS)
    assert info.value.errno == errno.ELOOP
    fd = fs.openat2(root_fd, "etc/passwd", os.O_RDONLY | os.O_CLOEXEC)
    try:
        assert os.read(fd, 100) == b"root-passwd"
    finally:
        os.close(fd)


@BOTH
@pytest.mark.parametrize(
    ("path", "made"),
    [
        ("new/deep/dir", "new/deep/dir"),
        ("b/made-through-b", "made-through-b"),
        ("a/etc/made", "etc/made"),
        ("dangling/sub", "nonexistent/x/sub"),
        ("d/../made", "dir/made"),
        ("dir/sub", "dir/sub"),
    ],
)
def test_mkdir_all_in_root(
    root: Path, root_fd: int, use_openat2: bool, path: str, made: str
) -> None:
    fd = fs.mkdir_all_in_root(root_fd, path, 0o750, use_openat2=use_openat2)
    assert _target(fd) == str(root / made)
    assert (root / made).is_dir()
    assert not (root.parents[2] / "made-through-b").exists()


@BOTH
@pytest.mark.parametrize(
    ("path", "code"), [("c/x", errno.ENOTDIR), ("file", errno.ENOTDIR), ("loop1/x", errno.ELOOP)]
)
def test_mkdir_all_in_root_errors(root_fd: int, use_openat2: bool, path: str, code: int) -> None:
    with pytest.raises(OSError, match=os.strerror(code)) as info:
        fs.mkdir_all_in_root(root_fd, path, use_openat2=use_openat2)
    assert info.value.errno == code


def test_create_file_in_root(root: Path, root_fd: int) -> None:
    assert _target(fs.create_file_in_root(root_fd, "b/etc/hostname")) == str(root / "etc/hostname")
    assert (root / "etc/hostname").read_text() == ""
    assert _target(fs.create_file_in_root(root_fd, "c")) == str(root / "etc/passwd")
    assert (root / "etc/passwd").read_text() == "root-passwd"  # not truncated
    assert _target(fs.create_file_in_root(root_fd, "a/x/y/z")) == str(root / "x/y/z")


@pytest.mark.parametrize("path", ["/", "", "a/.."])
def test_nothing_to_create(root_fd: int, path: str) -> None:
    with pytest.raises(InvalidArgument, match="no final name"):
        fs.mknod_in_root(root_fd, path, stat.S_IFCHR | 0o666, os.makedev(1, 3))


@pytest.mark.root
def test_mknod_in_root(root: Path, root_fd: int) -> None:
    fs.mknod_in_root(root_fd, "b/dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    made = os.stat(root / "dev/null")
    assert stat.S_ISCHR(made.st_mode)
    assert os.major(made.st_rdev) == 1 and os.minor(made.st_rdev) == 3
    with pytest.raises(FileExistsError):
        fs.mknod_in_root(root_fd, "c", stat.S_IFCHR | 0o666, os.makedev(1, 3))


def test_proc_fd_path() -> None:
    assert fs.proc_fd_path(7) == "/proc/self/fd/7"


@BOTH
def test_racing_symlink_swap_never_escapes(root: Path, root_fd: int, use_openat2: bool) -> None:
    # CVE-2021-30465's shape: a path component flips between a directory and a symlink
    # out of the root while we resolve through it.
    (root / "real/target").mkdir(parents=True)
    (root / "swap-link").symlink_to("../../../../../../..")
    stop = threading.Event()

    def swapper() -> None:
        while not stop.is_set():
            os.rename(root / "real", root / "x")
            os.rename(root / "x", root / "real")
            os.rename(root / "swap-link", root / "x")
            os.rename(root / "x", root / "swap-link")

    thread = threading.Thread(target=swapper)
    thread.start()
    seen: set[str] = set()
    failures: set[int | None] = set()
    try:
        # The GIL may starve either side for a while: go on until something resolved.
        for attempt in range(50_000):
            if attempt >= 2000 and seen:
                break
            try:
                seen.add(_target(fs.secure_join(root_fd, "x/target", use_openat2=use_openat2)))
            except OSError as err:
                failures.add(err.errno)
    finally:
        stop.set()
        thread.join()
    assert seen, "no resolution succeeded: the race test tested nothing"
    assert failures <= {errno.ENOENT, errno.EAGAIN}
    assert all(path.startswith(f"{root}/") for path in seen), seen
