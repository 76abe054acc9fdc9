"""The container's ``/dev``: device nodes, the standard links, ``/dev/console`` and a
verified ``/dev/null``.

The node list is pure (:func:`nodes_for`: runc's ``AllowedDevices`` that have a path, which
the runtime spec's "Default Devices" require, with ``linux.devices`` taking a path's place
and following them). The rest acts inside the rootfs through the fd of its root
(:mod:`dockyard.linux.fs`), so a symlink planted in the image cannot send a node, a link or a
bind mount out of it:

- mknod, falling back to bind-mounting the host's node where mknod is refused (a user
  namespace: runc's ``bindMountDeviceNode``);
- ``/dev/ptmx -> pts/ptmx``, ``/dev/fd``, ``/dev/std*``, ``/dev/core`` (runc's
  ``setupPtmx``/``setupDevSymlinks``);
- ``/dev/console``: an empty file now, the pty slave bound over it later
  (:func:`mount_console`, runc's ``mountConsole``);
- :func:`open_dev_null`: the container's ``/dev/null``, checked to be char 1:3 before it is
  bound over masked files (runc's ``verifyDevNull``: a rootfs may ship a fake one).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from dockyard.errors import FailedPrecondition, InvalidArgument
from dockyard.linux.fs import create_file_in_root, mkdir_all_in_root, proc_fd_path, secure_join
from dockyard.linux.mount import MS_BIND, mount
from dockyard.oci.runtime import Spec
from dockyard.oci.runtime_resources import DeviceType

DEFAULT_MODE: Final = 0o666
DEV_SYMLINKS: Final = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)
_TYPE_BITS: Final = {
    DeviceType.CHAR: stat.S_IFCHR,
    DeviceType.UNBUFFERED: stat.S_IFCHR,
    DeviceType.BLOCK: stat.S_IFBLK,
    DeviceType.FIFO: stat.S_IFIFO,
}
_PATH_FLAGS: Final = os.O_PATH | os.O_CLOEXEC


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """A device node to create: ``mode`` holds the permission bits only."""

    path: str
    type: DeviceType
    major: int
    minor: int
    mode: int = DEFAULT_MODE
    uid: int = 0
    gid: int = 0


def _char(path: str, major: int, minor: int) -> Node:
    return Node(path=path, type=DeviceType.CHAR, major=major, minor=minor)


# runc's AllowedDevices with a path, in runc's order.
DEFAULT_DEVICES: Final = (
    _char("/dev/null", 1, 3),
    _char("/dev/random", 1, 8),
    _char("/dev/full", 1, 7),
    _char("/dev/tty", 5, 0),
    _char("/dev/zero", 1, 5),
    _char("/dev/urandom", 1, 9),
)


def nodes_for(spec: Spec) -> list[Node]:
    """The nodes to create: the defaults a spec device does not replace, then the spec's
    ``linux.devices`` (``fileMode`` default 0666, file-type bits dropped; uid/gid 0)."""
    devices = spec.linux.devices if spec.linux is not None else ()
    taken = {d.path for d in devices}
    nodes = [n for n in DEFAULT_DEVICES if n.path not in taken]
    for d in devices:
        mode = DEFAULT_MODE if d.file_mode is None else stat.S_IMODE(d.file_mode)
        nodes.append(
            Node(
                path=d.path,
                type=d.type,
                major=d.major,
                minor=d.minor,
                mode=mode,
                uid=d.uid or 0,
                gid=d.gid or 0,
            )
        )
    return nodes


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@contextlib.contextmanager
def _fd(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def _split(path: str) -> tuple[str, str]:
    parent, _, name = path.rstrip("/").rpartition("/")
    if not name or name in (".", ".."):
        raise InvalidArgument(f"device {path!r}: no file name to create")
    return parent or "/", name


def make_node(root_fd: int, node: Node, *, bind: bool) -> None:
    """Create ``node`` inside the root (``bind``: bind the host's node instead of mknod).

    Something already at the path is left as it is (runc); mknod's EPERM falls back to the
    bind mount.

    Raises:
        OSError: the node or its bind mount could not be made; the message names it.
    """
    parent, name = _split(node.path)
    with _fd(mkdir_all_in_root(root_fd, parent)) as dir_fd:
        if not bind:
            try:
                with _umask(0):
                    device = os.makedev(node.major, node.minor)
                    os.mknod(name, _TYPE_BITS[node.type] | node.mode, device, dir_fd=dir_fd)
            except FileExistsError:
                return
            except PermissionError:
                bind = True
            else:
                os.chown(name, node.uid, node.gid, dir_fd=dir_fd, follow_symlinks=False)
                return
    _bind_host_node(root_fd, node)


def _bind_host_node(root_fd: int, node: Node) -> None:
    with _umask(0), _fd(create_file_in_root(root_fd, node.path, DEFAULT_MODE)) as target:
        try:
            source = os.open(node.path, _PATH_FLAGS | os.O_NOFOLLOW)
        except OSError as err:
            raise OSError(err.errno, f"device {node.path}: host node: {err.strerror}") from err
        with _fd(source):
            mount(proc_fd_path(source), proc_fd_path(target), "", MS_BIND)


def make_symlink(root_fd: int, target: str, path: str, *, replace: bool = False) -> None:
    """symlink(``target``, ``path``) inside the root; an existing ``path`` is kept unless
    ``replace`` (then a file, link or empty directory there is removed first)."""
    parent, name = _split(path)
    with _fd(mkdir_all_in_root(root_fd, parent)) as dir_fd:
        if replace:
            try:
                os.unlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                pass
            except IsADirectoryError:
                os.rmdir(name, dir_fd=dir_fd)
        with contextlib.suppress(FileExistsError):
            os.symlink(target, name, dir_fd=dir_fd)


def console_placeholder(root_fd: int) -> None:
    """An empty ``/dev/console`` (0666) for the pty slave to be bound over."""
    with _umask(0):
        os.close(create_file_in_root(root_fd, "/dev/console", DEFAULT_MODE))


def mount_console(slave_path: str) -> None:
    """Bind the pty slave ``slave_path`` (a container path, e.g. ``/dev/pts/0``) over
    ``/dev/console``; call after pivot_root, in the container's root.

    Raises:
        FailedPrecondition: ``slave_path`` is not a character device.
        OSError: the bind mount failed.
    """
    root_fd = os.open("/", _PATH_FLAGS | os.O_DIRECTORY)
    with _fd(root_fd), _fd(secure_join(root_fd, slave_path)) as slave:
        if not stat.S_ISCHR(os.fstat(slave).st_mode):
            raise FailedPrecondition(f"console {slave_path}: not a character device")
        with _umask(0), _fd(create_file_in_root(root_fd, "/dev/console", DEFAULT_MODE)) as c:
            mount(proc_fd_path(slave), proc_fd_path(c), "", MS_BIND)


def open_dev_null(root_fd: int) -> int:
    """An ``O_PATH`` fd of the root's ``/dev/null``, verified to be char device 1:3.

    Raises:
        FailedPrecondition: it is anything else (CVE-2025-31133 class: a fake /dev/null
            would turn masking into a bind of an attacker's file).
        OSError: it is missing.
    """
    fd = secure_join(root_fd, "/dev/null")
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or (os.major(st.st_rdev), os.minor(st.st_rdev)) != (1, 3):
        os.close(fd)
        found = f"{stat.filemode(st.st_mode)} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
        raise FailedPrecondition(
            f"container /dev/null: not the character device 1:3 (found {found}); "
            "refusing to mask paths with it"
        )
    return fd


def reopen_dev_null() -> None:
    """Point those of fds 0-2 that are a /dev/null (the host's) at the container's, which
    is the same device: runc's ``reOpenDevNull``, so nothing keeps a host file open."""
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    with _fd(null):
        want = os.fstat(null)
        for fd in range(3):
            try:
                st = os.fstat(fd)
            except OSError as err:
                if err.errno == errno.EBADF:
                    continue
                raise
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == want.st_rdev:
                os.dup2(null, fd, inheritable=True)
