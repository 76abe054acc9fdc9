"""CVE-2019-5736, second half: never exec the runtime's own binary inside the container.

A container whose command is (a symlink to) ``/proc/self/exe`` makes the runtime exec
*itself*, a host binary, inside the container, where the container may then reach it
through ``/proc/<pid>/exe``. :func:`runtime_identity`, taken before pivot_root or setns
(while ``sys.executable`` still resolves), names the interpreter by (st_dev, st_ino);
:func:`refuse_runtime_binary` opens a command as execve would (following symlinks and magic
links) and refuses it when it is that file (:class:`~.child.ExecDenied`, exit 126). The
first half, the non-dumpable stages, lives in :mod:`.init`.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Collection

from dockyard.runtime.child import ExecDenied


def runtime_identity() -> frozenset[tuple[int, int]]:
    """(st_dev, st_ino) of the runtime's own binary: the running interpreter
    (``/proc/self/exe``) and ``sys.executable``. Take it before pivot_root or setns into the
    container's mount namespace, where ``sys.executable`` no longer resolves (what cannot be
    stat'ed is left out; ``/proc/self/exe`` works anywhere).
    """
    ids: set[tuple[int, int]] = set()
    for path in ("/proc/self/exe", sys.executable):
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            continue
        ids.add((st.st_dev, st.st_ino))
    return frozenset(ids)


def refuse_runtime_binary(
    path: str, runtime_ids: Collection[tuple[int, int]], root: str = "/"
) -> None:
    """Raise if ``path`` (symlinks and magic links such as ``/proc/self/exe`` followed)
    opens the runtime's own binary (CVE-2019-5736).

    Raises:
        ExecDenied: it does (exit 126).
    """
    host = path if root == "/" else os.path.join(root, path.lstrip("/"))
    try:
        fd = os.open(host, os.O_PATH | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
    except OSError:
        return  # execve reports a missing or unreachable file itself
    if (st.st_dev, st.st_ino) in runtime_ids:
        raise ExecDenied(
            f"exec {path}: refusing to execute the runtime's own binary inside the container",
            errno=errno.EACCES,
            hint="CVE-2019-5736: the command resolves to the runtime (/proc/self/exe?)",
        )
