"""The spec's ``linux.seccomp`` compiled, in the parent, to the BPF bytes the child loads.

The runtime compiles before it forks (runc does the same in its Go parent), so the container's
init loads a finished program with one seccomp(2) call and never touches libseccomp::

    oci Seccomp --to_profile--> linux SeccompProfile --build_filter--> libseccomp ctx
        --export_bpf--> bytes  ...fork...  load_bpf(bytes, load_flags(seccomp))

When to load it is :mod:`dockyard.runtime.process`'s business (before dropping capabilities
without ``noNewPrivileges``, as the last step before exec with it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from dockyard.linux.seccomp import (
    FILTER_FLAGS,
    SeccompArg,
    SeccompProfile,
    SeccompRule,
    build_filter,
)
from dockyard.oci.runtime_seccomp import Seccomp, SeccompFlag, SyscallRule

# Flags that only matter with a user-notification listener, which we do not support (a
# NOTIFY action is refused when compiling): accepted and not passed to the kernel.
_LISTENER_FLAGS: Final = frozenset({SeccompFlag.WAIT_KILLABLE_RECV})


def _rule(rule: SyscallRule) -> SeccompRule:
    return SeccompRule(
        names=rule.names,
        action=str(rule.action),
        errno_ret=rule.errno_ret,
        args=tuple(
            SeccompArg(index=a.index, value=a.value, value_two=a.value_two, op=str(a.op))
            for a in rule.args
        ),
    )


def to_profile(seccomp: Seccomp) -> SeccompProfile:
    """The :class:`dockyard.linux.seccomp.SeccompProfile` for the spec's ``linux.seccomp``
    (pure). Listener-only flags are dropped; the listener path itself is ignored."""
    return SeccompProfile(
        default_action=str(seccomp.default_action),
        default_errno_ret=seccomp.default_errno_ret,
        architectures=tuple(str(a) for a in seccomp.architectures),
        flags=tuple(str(f) for f in seccomp.flags if f not in _LISTENER_FLAGS),
        rules=tuple(_rule(r) for r in seccomp.syscalls),
    )


def load_flags(seccomp: Seccomp | None) -> int:
    """The SECCOMP_FILTER_FLAG_* bits to pass to ``load_bpf`` for ``seccomp`` (0 for None)."""
    if seccomp is None:
        return 0
    bits = 0
    for flag in seccomp.flags:
        if flag not in _LISTENER_FLAGS:
            bits |= FILTER_FLAGS[str(flag)][0]
    return bits


def compile_seccomp(seccomp: Seccomp | None) -> bytes | None:
    """Compile the spec's ``linux.seccomp`` to a BPF program; None when there is none.

    Syscall names libseccomp does not know on this architecture are skipped, as runc does.

    Raises:
        InvalidArgument: an action, operator, argument index, architecture or errnoRet that
            libseccomp refuses; the message names the ``syscalls[n]`` entry.
        Unsupported: a ``SCMP_ACT_NOTIFY`` action.
        Unavailable: libseccomp is not installed.
        OSError: libseccomp refused a rule; the message names the syscall.
    """
    if seccomp is None:
        return None
    with build_filter(to_profile(seccomp)) as compiled:
        return compiled.export_bpf()


def cached_compile(seccomp: Seccomp, cache: Path) -> bytes | None:
    """:func:`compile_seccomp` through a cache of programs keyed by the profile's digest (and
    the machine): compiling docker's default profile takes ~20 ms of every container start,
    and most containers share a handful of profiles.

    The cache lives under the runtime's root (root-only, on tmpfs: a reboot or a libseccomp
    upgrade followed by a reboot starts afresh); entries are written atomically, so a reader
    sees a whole program or none.
    """
    import hashlib
    import json
    import os

    text = json.dumps([os.uname().machine, seccomp.to_json()], sort_keys=True)
    path = cache / hashlib.sha256(text.encode()).hexdigest()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    program = compile_seccomp(seccomp)
    if program is not None:
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_bytes(program)
        os.replace(tmp, path)
    return program
