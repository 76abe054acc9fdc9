"""The container process's last steps: finalise the calling process as planned, then exec.

:func:`.execplan.prepare_exec` decides (purely, before anything is dropped) the
:class:`~.execplan.ExecPlan`; :func:`finalize_and_exec` applies it in runc's order
(``finalizeNamespace`` in ``libcontainer/init_linux.go`` and ``standard_init_linux.go``)::

    dumpable 0 -> fd sweep -> [seccomp, without noNewPrivileges] -> drop bounding set
    -> chdir (as root) -> keep-caps, setgroups, setresgid, setresuid, clear keep-caps
    -> umask -> chdir (retry as the user) -> verify cwd -> capset + ambient
    -> no_new_privs -> [seccomp, with noNewPrivileges] -> execve

The fd sweep closes every descriptor but 0-2 and the intended ones (CVE-2024-21626: a
leaked fd to a host directory plus ``cwd: /proc/self/fd/N`` put the process outside the
container); the cwd check refuses a working directory outside the container root. Seccomp
goes as late as possible so that few syscalls run under it, but without
``noNewPrivileges`` the kernel only lets a CAP_SYS_ADMIN holder load it, so it goes before
the capabilities are dropped unless the final effective set keeps CAP_SYS_ADMIN. The
process stays non-dumpable (CVE-2019-5736) until execve resets that for the new program.
Before any seccomp filter, :func:`finalize_and_exec` again refuses a command that resolves to
the runtime's own binary (:mod:`.selfexe`, CVE-2019-5736).

Errors raised here are :class:`dockyard.runtime.child.ChildError` subclasses (or OSError from
the syscall seam); :func:`dockyard.runtime.child.run_child` reports them to the parent.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from typing import Final, NoReturn

from dockyard.linux.caps import CAP_NUMBERS, apply_capabilities, drop_bounding
from dockyard.linux.proc import (
    close_fds_except,
    set_dumpable,
    set_keep_caps,
    set_no_new_privs,
    set_rlimit,
)
from dockyard.oci.runtime import Process, Rlimit, User
from dockyard.runtime.child import ExecDenied, ExecNotFound, SetupFailed
from dockyard.runtime.execplan import ExecPlan, go_error, prepare_exec, read_text
from dockyard.runtime.selfexe import refuse_runtime_binary

_CAP_SYS_ADMIN: Final = CAP_NUMBERS["CAP_SYS_ADMIN"]


def apply_rlimits(rlimits: Iterable[Rlimit], pid: int = 0) -> None:
    """Set each rlimit on ``pid`` (0: the caller) with prlimit(2). The parent does this for
    ``create``; an ``exec`` child calls it on itself before :func:`finalize_and_exec`, while it
    still has CAP_SYS_RESOURCE to raise hard limits.

    Raises:
        OSError: the kernel refused (EPERM raising a hard limit); the message names the limit.
    """
    for limit in rlimits:
        set_rlimit(str(limit.type), limit.soft, limit.hard, pid)


def sweep_fds(keep_fds: Collection[int], runtime_fds: Collection[int]) -> None:
    """Close every fd >= 3 except ``keep_fds`` (made inheritable: the container gets them)
    and ``runtime_fds`` (made close-on-exec: ours until execve, e.g. the error pipe)."""
    close_fds_except({*keep_fds, *runtime_fds})
    for fd in keep_fds:
        if fd > 2:
            os.set_inheritable(fd, True)
    for fd in runtime_fds:
        if fd > 2 and fd not in keep_fds:
            os.set_inheritable(fd, False)


def _chdir(cwd: str, *, retry_later: bool) -> bool:
    """chdir to ``cwd``; False when it was refused and ``retry_later`` allows another try
    as the container user (runc tries as root first: the user may lack search permission
    on a parent the runtime can read)."""
    try:
        os.chdir(cwd)
    except PermissionError:
        if retry_later:
            return False
        raise SetupFailed(f"process.cwd {cwd!r}: chdir: permission denied", errno=13) from None
    except OSError as err:
        reason = go_error(err.errno or 0)
        raise SetupFailed(f"process.cwd {cwd!r}: chdir: {reason}", errno=err.errno) from err
    return True


def verify_cwd(cwd: str) -> None:
    """Refuse a working directory outside the container root (CVE-2024-21626).

    The kernel reports a directory not under our root as ``(unreachable)/...``, which glibc
    turns into ENOENT; a directory that is reachable must be ``cwd`` with its symlinks
    resolved.

    Raises:
        SetupFailed: the working directory is outside the root or not the one asked for.
    """
    breakout = f"process.cwd {cwd!r}: the working directory is outside the container root"
    try:
        actual = os.getcwd()
    except FileNotFoundError as err:
        raise SetupFailed(breakout, errno=err.errno, hint="possible container breakout") from err
    if not actual.startswith("/"):
        raise SetupFailed(breakout, hint="possible container breakout")
    expected = os.path.realpath(cwd)
    if actual != expected:
        raise SetupFailed(f"process.cwd {cwd!r}: working directory is {actual!r}, not {expected!r}")


def _set_groups(gids: tuple[int, ...]) -> None:
    try:
        denied = read_text("/proc/self/setgroups").strip() == "deny"
    except OSError:
        denied = False
    if denied:
        if gids:
            raise SetupFailed(
                "process.user.additionalGids: setgroups is denied in this user namespace"
            )
        return
    os.setgroups(list(gids))


def switch_user(user: User) -> None:
    """Become ``user`` (groups, then gid, then uid) keeping the permitted capabilities, as
    runc's ``setupUser`` between SetKeepCaps and ClearKeepCaps.

    Raises:
        SetupFailed: a call failed; the message names it.
    """
    step = "prctl PR_SET_KEEPCAPS"
    try:
        set_keep_caps(True)
        step = f"setgroups {list(user.additional_gids)}"
        _set_groups(user.additional_gids)
        step = f"setresgid {user.gid}"
        os.setresgid(user.gid, user.gid, user.gid)
        step = f"setresuid {user.uid}"
        os.setresuid(user.uid, user.uid, user.uid)
        step = "prctl PR_SET_KEEPCAPS"
        set_keep_caps(False)
    except OSError as err:
        reason = go_error(err.errno or 0)
        raise SetupFailed(f"process.user: {step}: {reason}", errno=err.errno) from err


def _load_seccomp(bpf: bytes, flags: int) -> None:
    # Loaded before pivot_root/setns by ``init.preload(..., seccomp=True)`` (and by the
    # parent's compile_seccomp); a spec without seccomp never pays for the module.
    from dockyard.linux.seccomp import load_bpf

    try:
        load_bpf(bpf, flags)
    except OSError as err:
        reason = go_error(err.errno or 0)
        raise SetupFailed(f"linux.seccomp: load filter: {reason}", errno=err.errno) from err


def _execve(plan: ExecPlan) -> NoReturn:
    try:
        os.execve(plan.path, list(plan.args), dict(plan.env))
    except OSError as err:
        message = f"exec {plan.path}: {go_error(err.errno or 0)}"
        cls = ExecNotFound if isinstance(err, FileNotFoundError) else ExecDenied
        raise cls(message, errno=err.errno) from err


def finalize_and_exec(
    process: Process,
    *,
    seccomp_bpf: bytes | None,
    seccomp_flags: int,
    keep_fds: Collection[int] = (),
    runtime_fds: Collection[int] = (),
    plan: ExecPlan | None = None,
) -> NoReturn:
    """Finalise the calling process as ``process`` asks and exec it (see the module doc).

    Run it in a forked child under :func:`dockyard.runtime.child.run_child`, after
    pivot_root; it never returns.

    Args:
        process: the spec's ``process`` (used to :func:`prepare_exec` when ``plan`` is None).
        seccomp_bpf: the program from ``runtime.seccomp.compile_seccomp``, or None.
        seccomp_flags: its SECCOMP_FILTER_FLAG_* bits (``runtime.seccomp.load_flags``).
        keep_fds: fds the container process gets besides 0-2 (made inheritable).
        runtime_fds: fds the runtime needs until execve (the error pipe); made close-on-exec.
        plan: an :class:`ExecPlan` prepared earlier.

    Raises:
        SetupFailed: a step before exec failed (exit 1).
        ExecNotFound, ExecDenied: the command cannot be found (127) or executed (126).
    """
    set_dumpable(False)
    sweep_fds(keep_fds, runtime_fds)
    plan = plan or prepare_exec(process)
    # Again, before any seccomp filter: the container may have swapped the file since
    # prepare_exec (between create and start).
    refuse_runtime_binary(plan.path, plan.runtime_ids)
    caps = plan.caps
    late = plan.no_new_privileges or bool(caps.effective >> _CAP_SYS_ADMIN & 1)
    if seccomp_bpf is not None and not late:
        _load_seccomp(seccomp_bpf, seccomp_flags)
    drop_bounding(caps.bounding)
    entered = _chdir(plan.cwd, retry_later=True)
    switch_user(plan.user)
    os.umask(plan.umask)
    if not entered:
        _chdir(plan.cwd, retry_later=False)
    verify_cwd(plan.cwd)
    # runc only warns when the ambient set cannot be raised (kernels before 4.3).
    apply_capabilities(
        bounding=caps.bounding,
        effective=caps.effective,
        permitted=caps.permitted,
        inheritable=caps.inheritable,
        ambient=caps.ambient,
    )
    if plan.no_new_privileges:
        set_no_new_privs()
    if seccomp_bpf is not None and late:
        _load_seccomp(seccomp_bpf, seccomp_flags)
    _execve(plan)
