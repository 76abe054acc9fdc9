"""``docker cp SRC CONTAINER:DEST``: a host path, or a tar stream, into a container's tree.

The destination is resolved inside the container's root (:func:`walk_in_root`: symlinks are
followed but never out of it, as Docker resolves it in the container's scope), stat'ed, and
the rule table (:func:`dockyard.engine.copy_extract.plan_destination`) picks the directory to
extract into; that directory is opened once, and everything is created through it
(:class:`dockyard.engine.copy_extract.Extractor`). A host source is read by
:func:`dockyard.engine.copy_out.copy_out` with ``/`` as its root.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Final

from dockyard.engine.copy_extract import (
    Destination,
    Extractor,
    Owners,
    Plan,
    asserts_dir,
    plan_destination,
    tar_entries,
)
from dockyard.engine.copy_out import Entry, copy_out
from dockyard.engine.copy_walk import walk_in_root
from dockyard.errors import InvalidArgument, NotFound

_DIR_FLAGS: Final = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ROOT_FLAGS: Final = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


def copy_in(
    root: Path,
    dest: str,
    source: str | BinaryIO | list[Entry],
    *,
    archive: bool = False,
    follow_link: bool = False,
) -> None:
    """``docker cp SRC CONTAINER:DEST``: copy a host path, or a tar, into the tree ``root``.

    Args:
        root: the container's root as the host sees it (``/proc/<pid>/root`` or a mounted
            rootfs). ``dest`` and every symlink in it are resolved inside it.
        dest: the container path (``/`` optional), with Docker's trailing ``/`` meaning.
        source: a host path (relative to the working directory; trailing ``/`` and ``/.``
            as Docker), or a binary stream of an uncompressed tar (``-``), extracted as-is
            into ``dest``, which must be a directory; or that tar's members, decoded (a
            list of member and data).
        archive: ``-a``: keep the source's uid/gid; otherwise everything is owned by 0:0.
        follow_link: ``-L``: follow a symlink at the end of the host ``source``.

    Raises:
        NotFound: ``source`` or the directory of ``dest`` does not exist.
        InvalidArgument: the rule table; a tar member that names ``..``, a hostile entry.
        FailedPrecondition: a directory would replace a non-directory or the reverse.
        PermissionDenied, Unavailable: creating an entry failed (EROFS, ENOSPC).
        DataCorrupted: the tar stream is damaged.
    """
    owners = Owners.KEEP if archive else Owners.ROOT
    with contextlib.ExitStack() as stack:
        root_fd = os.open(root, _ROOT_FLAGS)
        stack.callback(os.close, root_fd)
        stream: Iterable[Entry]
        if isinstance(source, str):
            host = source if source.startswith("/") else os.getcwd() + "/" + source
            located = stack.enter_context(copy_out(Path("/"), host, follow_link=follow_link))
            stream, top = located.entries(), located.top_name
            plan, fd = _container_target(root_fd, dest, located.stat.is_dir)
        else:
            stream = source if isinstance(source, list) else tar_entries(source)
            top = None
            plan, fd = _container_target(root_fd, dest, None)
        stack.callback(os.close, fd)
        stack.enter_context(Extractor(fd, owners, top, plan.rename_to)).run(stream)


def _container_target(root_fd: int, dest: str, source_is_dir: bool | None) -> tuple[Plan, int]:
    """The plan for ``dest`` in the root and an ``O_PATH`` descriptor of the directory to
    extract into. ``source_is_dir`` None: a tar stream, extracted into ``dest`` as-is."""
    shown = "/" + posixpath.normpath("/" + dest).lstrip("/")
    try:
        walked = walk_in_root(root_fd, dest, follow_final=True)
    except OSError as err:
        raise NotFound(f"destination directory {posixpath.dirname(shown)} does not exist") from err
    if walked.missing:
        raise NotFound(f"destination directory {posixpath.dirname(shown)} does not exist")
    try:
        try:
            st: os.stat_result | None = os.stat(
                walked.name, dir_fd=walked.parent, follow_symlinks=False
            )
        except FileNotFoundError:
            st = None
        found = Destination(
            name=posixpath.basename(walked.path) if walked.name == "." else walked.name,
            exists=st is not None,
            is_dir=st is not None and stat.S_ISDIR(st.st_mode),
            asserts_dir=asserts_dir(dest),
            shown=dest,
        )
        if source_is_dir is not None:
            plan = plan_destination(source_is_dir, found)
        elif found.is_dir:
            plan = Plan(into_parent=False, rename_to=None)
        else:
            raise InvalidArgument(f"destination {shown} must be a directory")
        if plan.into_parent or walked.name == ".":
            return plan, os.dup(walked.parent)
        return plan, os.open(walked.name, _DIR_FLAGS, dir_fd=walked.parent)
    finally:
        os.close(walked.parent)
