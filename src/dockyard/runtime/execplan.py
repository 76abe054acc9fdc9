"""The decision half of the container process's last steps: what to exec, and how (pure).

:func:`prepare_exec` decides, as root and before anything is dropped, the :class:`ExecPlan`
that :func:`.process.finalize_and_exec` carries out: the executable resolved against the
container's ``PATH`` like Go's ``exec.LookPath`` in runc (``exec: "foo": executable file not
found in $PATH`` -> exit 127; not executable or a directory -> 126), the environment with
``HOME`` filled in from the container's ``/etc/passwd`` as runc does, and the five capability
masks for this kernel (:func:`plan_capabilities`). It refuses a command that resolves to the
runtime's own binary (:mod:`.selfexe`, CVE-2019-5736).

Errors raised here are :class:`dockyard.runtime.child.ChildError` subclasses;
:func:`dockyard.runtime.child.run_child` reports them to the parent.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from dockyard.linux.caps import last_cap, split_known
from dockyard.oci.runtime import Capabilities, Process, User
from dockyard.runtime.child import ExecDenied, ExecNotFound, SetupFailed
from dockyard.runtime.selfexe import refuse_runtime_binary, runtime_identity

DEFAULT_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_UMASK: Final = 0o022
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


def go_error(number: int) -> str:
    """``strerror(number)`` as Go (and so runc and docker) prints it."""
    # Go (and so runc and docker) print errno strings in lower case.
    text = os.strerror(number)
    return text[:1].lower() + text[1:]


def read_text(path: str) -> str:
    """The text of ``path``, decoded without importing a codec."""
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
        message = f'exec: "{name}": stat {path}: {go_error(err.errno or 0)}'
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
            home = home_for(uid, read_text(_in_root(root, "/etc/passwd")))
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
