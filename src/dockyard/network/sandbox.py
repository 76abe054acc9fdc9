"""A container's network namespace as a file (``<runroot>/netns/<container id>``), like
``ip netns add``: the engine creates it before the container starts, the runtime joins it, the
network helpers plumb veths into it, ``exec`` joins the container's processes anyway, and
removing the container unmounts it.

Made in a short-lived thread: unshare(CLONE_NEWNET) moves only the calling thread, and
``/proc/thread-self/ns/net`` is then bind-mounted on the file (no fork, so this is safe in a
threaded process too).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from pathlib import Path

from dockyard.linux.mount import MNT_DETACH, MS_BIND, mount, umount
from dockyard.linux.ns import CLONE_NEWNET, unshare


def is_pinned(path: Path) -> bool:
    """Whether a namespace is mounted on ``path`` (nsfs has a device of its own)."""
    try:
        return os.stat(path).st_dev != os.stat(path.parent).st_dev
    except OSError:
        return False


def create(path: Path) -> Path:
    """Make a new, empty network namespace (only ``lo``, down) and pin it at ``path``.

    An existing namespace file is kept (a restarted container keeps its namespace).

    Raises:
        OSError: unshare or the bind mount failed (not root, no netns support).
    """
    if is_pinned(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.touch(mode=0o444, exist_ok=True)
    failure: list[BaseException] = []

    def pin() -> None:
        try:
            unshare(CLONE_NEWNET)
            mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", str(path), "", MS_BIND)
        except BaseException as err:  # reported by the caller's thread
            failure.append(err)

    worker = threading.Thread(target=pin, name="netns")
    worker.start()
    worker.join()
    if failure:
        with contextlib.suppress(OSError):
            path.unlink()
        raise failure[0]
    return path


def remove(path: Path) -> None:
    """Unpin and delete the namespace file (the namespace dies with its last process).
    Nothing there is fine."""
    try:
        umount(str(path), MNT_DETACH)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOENT):
            raise
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
