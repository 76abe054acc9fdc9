"""The container process's last steps: decide what to exec, finalise the process, exec.

Two halves, as the style guide asks (decide purely, then act thinly):

- :func:`prepare_exec` decides, as root and before anything is dropped, the
  :class:`ExecPlan`: the executable resolved against the container's ``PATH`` like Go's
  ``exec.LookPath`` in runc (``exec: "foo": executable file not found in $PATH`` -> exit
  127; not executable or a directory -> 126), the environment with ``HOME`` filled in from the
  container's ``/etc/passwd`` as runc does, and the five capability masks for this kernel.
- :func:`finalize_and_exec` applies it in runc's order (``finalizeNamespace`` in
  ``libcontainer/init_linux.go`` and ``standard_init_linux.go``)::

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

:func:`prepare_exec`, and :func:`finalize_and_exec` again before any seccomp filter, refuse a
command that resolves to the runtime's own binary (:mod:`.selfexe`, CVE-2019-5736).

Errors raised here are :class:`dockyard.runtime.child.ChildError` subclasses (or OSError from
the syscall seam); :func:`dockyard.runtime.child.run_child` reports them to the parent.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, NoReturn

from dockyard.linux.caps import (
    CAP_NUMBERS,
    apply_capabilities,
    drop_bounding,
    last_cap,
    split_known,
)
from dockyard.linux.proc import (
    close_fds_except,
    set_dumpable,
    set_keep_caps,
    set_no_new_privs,
    set_rlimit,
)
from dockyard.oci.runtime import Capabilities, Process, Rlimit, User
from dockyard.runtime.child import ExecDenied, ExecNotFound, SetupFailed
from dockyard.runtime.selfexe import refuse_runtime_binary, runtime_identity

DEFAULT_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_UMASK: Final = 0o022
_CAP_SYS_ADMIN: Final = CAP_NUMBERS["CAP_SYS_ADMIN"]
_CAP_SETS: Final = ("bounding", "effective", "permitted", "inheritable", "ambient")


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilityPlan:
    """The five capability sets as bitmasks, and the spec's names this kernel lacks (runc
    ignores those with a warning; the caller may warn)."""

    bounding: int = 0
    effective: int = 0
    permitted: int = 0
    inheritable: int = 0
    ambient: int = 0
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecPlan:
    """What :func:`finalize_and_exec` does: exec ``path`` with ``args`` and ``env`` in
    ``cwd``, as ``user``, with ``caps``."""

    path: str
    args: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str
    user: User
    umask: int
    caps: CapabilityPlan
    no_new_privileges: bool
    runtime_ids: frozenset[tuple[int, int]] = frozenset()


def plan_capabilities(caps: Capabilities | None, last: int) -> CapabilityPlan:
    """The masks for ``caps`` on a kernel whose highest capability is ``last`` (pure).

    No ``capabilities`` object means every set empty, as in runc.
    """
    if caps is None:
        return CapabilityPlan()
    masks: dict[str, int] = {}
    ignored: list[str] = []
    for name in _CAP_SETS:
        masks[name], skipped = split_known(getattr(caps, name), last)
        ignored.extend(s for s in skipped if s not in ignored)
    return CapabilityPlan(**masks, ignored=tuple(ignored))


def _go_error(number: int) -> str:
    # Go (and so runc and docker) print errno strings in lower case.
    text = os.strerror(number)
    return text[:1].lower() + text[1:]


def _read_text(path: str) -> str:
    # Bytes, then UTF-8: after pivot_root the interpreter's stdlib is out of reach, so a
    # codec that is not loaded yet (``encoding="ascii"``) cannot be imported any more.
    with open(path, "rb") as source:
        return source.read().decode("utf-8", errors="replace")


def _in_root(root: str, path: str) -> str:
    return path if root == "/" else os.path.join(root, path.lstrip("/"))


def _check_executable(name: str, path: str, root: str) -> None:
    """Go's ``findExecutable``: raise unless ``path`` is a file we may execute."""
    host = _in_root(root, path)
    try:
        st = os.stat(host)
    except OSError as err:
        message = f'exec: "{name}": stat {path}: {_go_error(err.errno or 0)}'
        cls = ExecNotFound if isinstance(err, (FileNotFoundError, NotADirectoryError)) else None
        raise (cls or ExecDenied)(message, errno=err.errno) from err
    if stat.S_ISDIR(st.st_mode):
        raise ExecDenied(f'exec: "{name}": is a directory', errno=21)
    if not os.access(host, os.X_OK, effective_ids=True):
        raise ExecDenied(f'exec: "{name}": permission denied', errno=13)


def find_executable(name: str, *, search_path: str, cwd: str, root: str = "/") -> str:
    """Resolve ``name`` (``args[0]``) like Go's ``exec.LookPath``, inside ``root``.

    A name with a slash is taken as it is (relative to ``cwd``); otherwise each entry of
    ``search_path`` is tried in order ("" means ``cwd``) and the first executable file wins.

    Returns:
        The absolute path, as seen inside the container.

    Raises:
        ExecNotFound: nothing found (exit 127).
        ExecDenied: a named path that is a directory or not executable (exit 126).
    """
    if "/" in name:
        path = os.path.normpath(os.path.join(cwd, name))
        _check_executable(name, path, root)
        return path
    for entry in search_path.split(":"):
        path = os.path.normpath(os.path.join(cwd, entry or ".", name))
        try:
            _check_executable(name, path, root)
        except (ExecNotFound, ExecDenied):
            continue
        return path
    raise ExecNotFound(f'exec: "{name}": executable file not found in $PATH', errno=2)


def home_for(uid: int, passwd: str) -> str | None:
    """The home directory of ``uid`` in ``passwd`` (``/etc/passwd`` text), or None."""
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 6 and fields[2].strip() == str(uid):
            return fields[5] or None
    return None


def build_env(env: Iterable[str], uid: int, *, root: str = "/") -> dict[str, str]:
    """``process.env`` as a mapping (a later entry wins, as in runc); HOME comes from the
    container's ``/etc/passwd`` for ``uid``, else "/", when the spec leaves it unset or empty.

    Raises:
        SetupFailed: an entry without ``=`` or with an empty name.
    """
    result: dict[str, str] = {}
    for number, entry in enumerate(env):
        key, sep, value = entry.partition("=")
        if not sep or not key:
            raise SetupFailed(f"process.env[{number}] {entry!r}: not NAME=value")
        result[key] = value
    if not result.get("HOME"):
        try:
            home = home_for(uid, _read_text(_in_root(root, "/etc/passwd")))
        except OSError:
            home = None
        result["HOME"] = home or "/"
    return result


def prepare_exec(
    process: Process,
    *,
    env_path: str | None = None,
    root: str = "/",
    last: int | None = None,
    runtime_ids: frozenset[tuple[int, int]] | None = None,
) -> ExecPlan:
    """Decide what :func:`finalize_and_exec` will do; call it before dropping privileges.

    Args:
        process: the spec's ``process``.
        env_path: the PATH to search; None means the ``PATH`` of ``process.env``, or
            :data:`DEFAULT_PATH` when it has none.
        root: the container's root as the caller sees it; "/" after pivot_root.
        last: the kernel's highest capability number (default: read from /proc).
        runtime_ids: :func:`runtime_identity`, taken before pivot_root (default: now).

    Raises:
        ExecNotFound: ``args[0]`` not found (exit 127).
        ExecDenied: ``args[0]`` is a directory, not executable, or the runtime's own
            binary (exit 126).
        SetupFailed: no args, or a malformed env entry.
    """
    if not process.args:
        raise SetupFailed("process.args: no command to run")
    env = build_env(process.env, process.user.uid, root=root)
    search = env_path if env_path is not None else env.get("PATH", DEFAULT_PATH)
    path = find_executable(process.args[0], search_path=search, cwd=process.cwd, root=root)
    ids = runtime_identity() if runtime_ids is None else runtime_ids
    refuse_runtime_binary(path, ids, root)
    return ExecPlan(
        path=path,
        args=process.args,
        env=env,
        cwd=process.cwd,
        user=process.user,
        umask=DEFAULT_UMASK if process.user.umask is None else process.user.umask,
        caps=plan_capabilities(process.capabilities, last_cap() if last is None else last),
        no_new_privileges=process.no_new_privileges,
        runtime_ids=ids,
    )


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
        reason = _go_error(err.errno or 0)
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
        denied = _read_text("/proc/self/setgroups").strip() == "deny"
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
        reason = _go_error(err.errno or 0)
        raise SetupFailed(f"process.user: {step}: {reason}", errno=err.errno) from err


def _load_seccomp(bpf: bytes, flags: int) -> None:
    # Loaded before pivot_root/setns by ``init.preload(..., seccomp=True)`` (and by the
    # parent's compile_seccomp); a spec without seccomp never pays for the module.
    from dockyard.linux.seccomp import load_bpf

    try:
        load_bpf(bpf, flags)
    except OSError as err:
        reason = _go_error(err.errno or 0)
        raise SetupFailed(f"linux.seccomp: load filter: {reason}", errno=err.errno) from err


def _execve(plan: ExecPlan) -> NoReturn:
    try:
        os.execve(plan.path, list(plan.args), dict(plan.env))
    except OSError as err:
        message = f"exec {plan.path}: {_go_error(err.errno or 0)}"
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
