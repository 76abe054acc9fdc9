"""Building the container's root filesystem inside its new mount namespace (runc's
``prepareRootfs``/``finalizeRootfs``), by running :func:`.mountplan.plan`'s steps.

:func:`setup_rootfs` runs in stage2 while the host filesystem is still visible: root
propagation, the rootfs bind, every spec mount, ``/dev``, the ``before_pivot`` callback,
pivot_root. :func:`finish_rootfs` runs after it (and after the console): read-only ``/dev``
and ``/``, host and domain names, sysctls, read-only and masked paths.

Defences (SECURITY.md 1.11, section 2):
- every destination is resolved inside the rootfs (:func:`dockyard.linux.fs.secure_join`)
  and mounted on ``/proc/self/fd/N`` of the resolved ``O_PATH`` fd, never by re-walking a
  host path (CVE-2021-30465); the resolved path is checked to be inside the rootfs and,
  unless allow-listed, outside ``/proc``;
- ``/proc`` and ``/sys`` must be ordinary directories, and what lands on ``/proc`` must be
  procfs by statfs(2) magic (CVE-2019-19921, CVE-2023-27561);
- after a mount, the target is resolved again and must be a new mount (``mnt_id``): the
  kernel mounts over an fd's dentry, so the old fd names what lies *under* the new mount.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from dockyard.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from dockyard.linux import mount as m
from dockyard.linux.fs import create_file_in_root, mkdir_all_in_root, proc_fd_path, secure_join
from dockyard.linux.ns import pivot_root, setdomainname, sethostname
from dockyard.linux.statfs import CGROUP2_SUPER_MAGIC, is_procfs, statfs_type
from dockyard.oci.runtime import Spec
from dockyard.oci.runtime_linux import NamespaceType
from dockyard.runtime import cgroupmounts as cg
from dockyard.runtime import devices
from dockyard.runtime import mountplan as mp
from dockyard.runtime import mountsteps as ms

_DIR_FLAGS: Final = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
# statvfs(3) ST_* bits -> MS_* bits (they differ above MS_NODIRATIME: ST_RELATIME is 4096).
_ST_TO_MS: Final = (
    (os.ST_RDONLY, m.MS_RDONLY),
    (os.ST_NOSUID, m.MS_NOSUID),
    (os.ST_NODEV, m.MS_NODEV),
    (os.ST_NOEXEC, m.MS_NOEXEC),
    (os.ST_NOATIME, m.MS_NOATIME),
    (os.ST_NODIRATIME, m.MS_NODIRATIME),
    (os.ST_RELATIME, m.MS_RELATIME),
)
_LOCKABLE: Final = m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC


@dataclass(slots=True, kw_only=True)
class _Context:
    spec: Spec
    bundle: Path
    rootfs: str = ""  # real host path, set by BindRootfs; "" after pivot_root
    root_fd: int = -1
    bind_devices: bool = False
    before_pivot: Callable[[], None] = lambda: None
    stack: ExitStack = field(default_factory=ExitStack)
    dev_null: int = -1


def setup_rootfs(
    spec: Spec, bundle: Path, *, before_pivot: Callable[[], None] = lambda: None
) -> None:
    """Build the rootfs and pivot into it. Call in stage2: new mount namespace, root.

    Args:
        spec: the container's configuration; ``root.path`` is relative to ``bundle``.
        bundle: the bundle directory (also the base of relative bind-mount sources).
        before_pivot: run after the mounts and /dev, before pivot_root (createContainer
            hooks run there).

    Raises:
        InvalidArgument: a missing rootfs, a refused mount (the message names it).
        PermissionDenied: a destination resolved outside the rootfs.
        OSError: a mount or file operation failed; the message names the step.
    """
    steps = mp.plan(spec)
    ctx = _Context(spec=spec, bundle=bundle, before_pivot=before_pivot)
    ctx.bind_devices = _in_user_namespace() or spec.namespace(NamespaceType.USER) is not None
    with ctx.stack:
        _run(ctx, steps[: steps.index(ms.FINISH)])


def finish_rootfs(spec: Spec) -> None:
    """After pivot_root (and the console): read-only /dev and /, hostname, domainname,
    sysctls, read-only paths, masked paths.

    Raises:
        InvalidArgument: a sysctl the container may not set.
        FailedPrecondition: the container's /dev/null is not char 1:3 (masking refused).
        OSError: a mount or write failed; the message names the step.
    """
    steps = mp.plan(spec)
    ctx = _Context(spec=spec, bundle=Path("/"))
    with ctx.stack:
        ctx.root_fd = _keep(ctx, os.open("/", _DIR_FLAGS))
        _run(ctx, steps[steps.index(ms.FINISH) + 1 :])


def mount_console(slave_path: str) -> None:
    """Bind the pty slave over ``/dev/console`` (after pivot_root); see
    :func:`.devices.mount_console`."""
    devices.mount_console(slave_path)


def _keep(ctx: _Context, fd: int) -> int:
    ctx.stack.callback(os.close, fd)
    return fd


def _run(ctx: _Context, steps: Sequence[ms.Step]) -> None:
    for step in steps:
        try:
            _do(ctx, step)
        except OSError as err:
            what = step.where if isinstance(step, ms.MountStep) else step.describe()
            raise OSError(err.errno, f"rootfs: {what}: {err.strerror or err}") from err


def _do(ctx: _Context, step: ms.Step) -> None:
    match step:
        case ms.PropagateRoot(flags=flags):
            m.mount("", "/", "", flags)
        case ms.BindRootfs(path=path):
            _bind_rootfs(ctx, path)
        case ms.MountStep():
            _mount(ctx, step)
        case ms.DeviceNode(node=node):
            devices.make_node(ctx.root_fd, node, bind=ctx.bind_devices)
        case ms.Symlink(target=target, path=path, replace=replace, if_exists=needed):
            if not needed or os.path.exists(needed):
                devices.make_symlink(ctx.root_fd, target, path, replace=replace)
        case ms.ConsolePlaceholder():
            devices.console_placeholder(ctx.root_fd)
        case ms.BeforePivot():
            ctx.before_pivot()
        case ms.PivotRoot():
            _pivot(ctx.rootfs)
            ctx.rootfs = ""
        case ms.ReopenDevNull():
            devices.reopen_dev_null()
        case ms.MakeDir(path=path):
            with _opened(os.open("/", _DIR_FLAGS)) as root:
                os.close(mkdir_all_in_root(root, path))
        case ms.Remount(destination=dest, flags=flags):
            _remount(dest, flags)
        case ms.SetName(what=what, value=value):
            (sethostname if what == "hostname" else setdomainname)(value)
        case ms.Sysctl(name=name, value=value):
            _write_sysctl(name, value)
        case ms.ReadonlyPath(path=path):
            _readonly_path(ctx, path)
        case ms.MaskPath(path=path):
            _mask_path(ctx, path)
        case ms.Stage():
            pass


@contextmanager
def _opened(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def _in_user_namespace() -> bool:
    # runc's RunningInUserNS: the initial user namespace maps the whole uid range.
    try:
        text = Path("/proc/self/uid_map").read_text()
    except OSError:
        return False
    return text.split() != ["0", "0", "4294967295"]


def _bind_rootfs(ctx: _Context, path: str) -> None:
    full = ctx.bundle / path
    if not full.is_dir():
        raise InvalidArgument(
            f"bundle {ctx.bundle}: root.path {path!r}: rootfs {full} is missing or not a directory"
        )
    rootfs = os.path.realpath(full)
    _make_parent_private(rootfs)
    m.mount(rootfs, rootfs, "", m.MS_BIND | m.MS_REC)
    ctx.rootfs = rootfs
    ctx.root_fd = _keep(ctx, os.open(rootfs, _DIR_FLAGS))


def _make_parent_private(rootfs: str) -> None:
    # runc's rootfsParentMountPrivate: pivot_root refuses a shared parent mount, and a bind
    # under a shared mount would propagate to the host's namespace.
    infos = m.parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    parents = [i for i in infos if mp.is_inside(rootfs, i.mount_point)]
    if not parents:
        return
    parent = max(parents, key=lambda i: len(i.mount_point))
    if any(tag.startswith("shared:") for tag in parent.optional):
        m.mount("", parent.mount_point, "", m.MS_PRIVATE)


def _pivot(rootfs: str) -> None:
    # runc's pivotRoot: pivot_root(".", ".") stacks the old root on the new one; detach it
    # after making it a slave, so the unmount does not propagate to the host.
    with _opened(os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)) as old:
        with _opened(os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)) as new:
            os.fchdir(new)
            pivot_root(".", ".")
        os.fchdir(old)
        m.mount("", ".", "", m.MS_SLAVE | m.MS_REC)
        m.umount(".", m.MNT_DETACH)
    os.chdir("/")


def container_path(ctx: _Context, fd: int) -> str:
    """The container path ``fd`` names (its ``/proc/self/fd`` link, rootfs prefix cut).

    Raises:
        PermissionDenied: it lies outside the rootfs.
    """
    host = os.readlink(proc_fd_path(fd))
    if not ctx.rootfs:
        return host
    if not mp.is_inside(host, ctx.rootfs):
        raise PermissionDenied(f"rootfs {ctx.rootfs}: {host!r} resolved outside the rootfs")
    return "/" + host[len(ctx.rootfs) :].lstrip("/")


def mount_id(fd: int) -> int:
    """The id of the mount ``fd`` lies on (``mnt_id`` of ``/proc/self/fdinfo/N``)."""
    for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "mnt_id":
            return int(value)
    raise FailedPrecondition(f"/proc/self/fdinfo/{fd}: no mnt_id")


def _reopen(ctx: _Context, dest: str, below: int) -> int:
    """Resolve ``dest`` again after mounting on ``below`` and check it is the new mount."""
    fd = _keep(ctx, secure_join(ctx.root_fd, dest))
    if mount_id(fd) == mount_id(below):
        raise FailedPrecondition(f"rootfs: mount on {dest}: the mount did not land there")
    return fd


def _target(ctx: _Context, dest: str, *, directory: bool) -> tuple[int, int | None]:
    """An ``O_PATH`` fd of ``dest`` (made when missing) and, when it existed, its mode."""
    try:
        fd = secure_join(ctx.root_fd, dest)
    except FileNotFoundError:
        make = mkdir_all_in_root if directory else create_file_in_root
        return _keep(ctx, make(ctx.root_fd, dest)), None
    return _keep(ctx, fd), os.fstat(fd).st_mode


def _require_directory(ctx: _Context, dest: str, fstype: str) -> None:
    # runc: "filesystem proc must be mounted on ordinary directory" -- a /proc symlink
    # would take procfs (and our later checks) elsewhere (CVE-2019-19921, CVE-2023-27561).
    parent, _, name = dest.rpartition("/")
    try:
        fd = secure_join(ctx.root_fd, parent or "/")
    except FileNotFoundError:
        return
    with _opened(fd):
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(
            f"rootfs {ctx.rootfs}: {dest}: filesystem {fstype!r} must be mounted on an "
            f"ordinary directory, found {stat.filemode(st.st_mode)}"
        )


def _mount(ctx: _Context, step: ms.MountStep) -> None:
    if step.kind is ms.MountKind.CGROUP:
        _mount_cgroup(ctx, step)
        return
    if step.kind in (ms.MountKind.PROC, ms.MountKind.SYSFS):
        _require_directory(ctx, step.destination, step.fstype)
    source, directory = step.source, True
    if step.kind is ms.MountKind.BIND:
        source = os.path.join(ctx.bundle, step.source)
        directory = os.path.isdir(source)  # stat follows: the source is the caller's
        if not os.path.exists(source):
            raise InvalidArgument(f"config.json: {step.where}: source {source} does not exist")
    fd, old_mode = _target(ctx, step.destination, directory=directory)
    resolved = container_path(ctx, fd)
    on_proc = mp.is_inside(resolved, "/proc")
    if on_proc:
        _check_proc(ctx, step, resolved, source)
    m.mount(source, proc_fd_path(fd), step.fstype, step.flags, step.data)
    top = _reopen(ctx, step.destination, fd)
    if on_proc and resolved == "/proc" and not is_procfs(top):
        raise FailedPrecondition(f"config.json: {step.where}: /proc is not procfs after mounting")
    for flags in step.propagation:
        m.mount("", proc_fd_path(top), "", flags)
    if step.kind is ms.MountKind.TMPFS and old_mode is not None:
        os.chmod(proc_fd_path(top), stat.S_IMODE(old_mode))  # runc 1.1 keeps the dir's mode
    if step.remount is not None:
        _remount(proc_fd_path(top), step.remount)


def _check_proc(ctx: _Context, step: ms.MountStep, resolved: str, source: str) -> None:
    where = f"config.json: {step.where}: resolved to {resolved}"
    is_bind = step.kind is ms.MountKind.BIND
    if resolved == "/proc" and is_bind and not is_procfs(source):
        raise InvalidArgument(f"{where}: only a procfs may be bound on /proc")
    if resolved != "/proc" and resolved not in mp.PROC_ALLOWED:
        raise InvalidArgument(f"{where}: cannot be mounted because it is inside /proc")
    if resolved == "/proc" and not is_bind and step.fstype != "proc":
        raise InvalidArgument(f"{where}: /proc may only have a filesystem of type proc")


def _locked_flags(path: str) -> int:
    st = os.statvfs(path)
    return sum(ms for st_bit, ms in _ST_TO_MS if st.f_flag & st_bit)


def _remount(target: str, flags: int) -> None:
    try:
        m.mount("", target, "", flags)
    except PermissionError:
        # In a user namespace the kernel refuses to clear flags it locked (nosuid, nodev,
        # noexec, atime): keep those the mount has (runc's remount fallback).
        m.mount("", target, "", flags | (_locked_flags(target) & ~m.MS_RDONLY))


def _mount_cgroup(ctx: _Context, step: ms.MountStep) -> None:
    own = cg.parse_proc_cgroup(Path("/proc/self/cgroup").read_text())
    private = ctx.spec.namespace(NamespaceType.CGROUP) is not None
    if statfs_type("/sys/fs/cgroup") == CGROUP2_SUPER_MAGIC:
        first, fallback = cg.cgroup_v2_steps(step, own)
        try:
            _mount(ctx, first)
        except OSError as err:
            # runc: without a cgroup namespace (a user namespace) cgroup2 cannot be
            # mounted; bind the container's own cgroup directory instead.
            if err.errno not in (errno.EPERM, errno.EBUSY):
                raise
            _mount(ctx, fallback)
        return
    hierarchies = m.parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    for sub in cg.cgroup_v1_steps(step, hierarchies, own, private=private):
        _mount(ctx, sub)
    for target, link in cg.cgroup_v1_links(step, hierarchies, own):
        devices.make_symlink(ctx.root_fd, target, link)


def _write_sysctl(name: str, value: str) -> None:
    path = "/proc/sys/" + name.replace(".", "/")
    with _opened(os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)) as fd:
        if not is_procfs(fd):
            raise FailedPrecondition(f"sysctl {name}: {path} is not on procfs")
        os.write(fd, value.encode())


def _readonly_path(ctx: _Context, path: str) -> None:
    # runc's readonlyPath: bind on itself, remount ro keeping nosuid/nodev/noexec.
    try:
        fd = _keep(ctx, secure_join(ctx.root_fd, path))
    except FileNotFoundError:
        return
    m.mount(proc_fd_path(fd), proc_fd_path(fd), "", m.MS_BIND | m.MS_REC)
    top = proc_fd_path(_reopen(ctx, path, fd))
    flags = m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | (_locked_flags(top) & _LOCKABLE)
    m.mount("", top, "", flags)


def _mask_path(ctx: _Context, path: str) -> None:
    # runc's maskPath: /dev/null over files, a read-only tmpfs over directories.
    try:
        fd = _keep(ctx, secure_join(ctx.root_fd, path))
    except FileNotFoundError:
        return
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        m.mount("tmpfs", proc_fd_path(fd), "tmpfs", m.MS_RDONLY, ms.MASK_TMPFS_DATA)
        return
    if ctx.dev_null < 0:
        ctx.dev_null = _keep(ctx, devices.open_dev_null(ctx.root_fd))
    m.mount(proc_fd_path(ctx.dev_null), proc_fd_path(fd), "", m.MS_BIND)
