"""``docker cp``: the operations on a container's tree, given its root as a directory.

- :func:`copy_out` locates a source in the root (``docker cp CTR:SRC …``) and returns a
  :class:`CopyOut`: its :class:`PathStat` and its content as tar members, written with
  :meth:`CopyOut.write_tar` (``DEST`` is ``-``) or copied to the host by
  :func:`copy_to_host`; :func:`extract_to_host` does the same from the tar stream.
- :func:`copy_in` copies a host path, or a tar stream (``-``), into the root.

Nothing follows a symlink out of the root: sources are found by
:mod:`dockyard.engine.copy_out`, destinations written by :mod:`dockyard.engine.copy_extract`
(see their docstrings for Docker's rules and the safety argument). On the host, the
destination path is the user's own and resolved as usual; below it, nothing is followed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
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
from dockyard.engine.copy_in import copy_in
from dockyard.engine.copy_out import CopyOut, Entry, PathStat, copy_out, go_file_mode
from dockyard.errors import NotFound

__all__ = [
    "CopyOut",
    "Destination",
    "Owners",
    "PathStat",
    "Plan",
    "copy_in",
    "copy_out",
    "copy_to_host",
    "extract_to_host",
    "go_file_mode",
    "plan_destination",
]

_HOST_DIR_FLAGS: Final = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


def copy_to_host(source: CopyOut, dest: str) -> None:
    """``docker cp CONTAINER:SRC DEST``: copy a located source to the host path ``dest``.

    Args:
        source: from :func:`dockyard.engine.copy_out.copy_out` (read here; not closed).
        dest: a host path; relative ones are taken from the working directory; a trailing
            ``/`` means a directory. (``-`` is the caller's: :meth:`CopyOut.write_tar`.)

    Raises:
        NotFound, InvalidArgument: the rule table (:func:`plan_destination`); the parent
            of ``dest`` does not exist.
        FailedPrecondition: a directory would replace a non-directory or the reverse.
        PermissionDenied, Unavailable: creating an entry failed (EACCES, ENOSPC).
    """
    _to_host(source.entries(), dest, source.stat.is_dir, source.top_name)


def extract_to_host(tar_stream: BinaryIO, dest: str, src: PathStat) -> None:
    """As :func:`copy_to_host`, from the tar :meth:`CopyOut.write_tar` wrote (``src`` is that
    source's stat: its name is the archive's top member, ``.`` or ``/`` its contents).

    Raises:
        as :func:`copy_to_host`; DataCorrupted: the tar is damaged.
    """
    top = b"." if src.name in (".", "/") else os.fsencode(src.name)
    _to_host(tar_entries(tar_stream), dest, src.is_dir, top)


def _to_host(stream: Iterable[Entry], dest: str, source_is_dir: bool, top: bytes) -> None:
    path = os.path.abspath(dest)
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            path = os.path.realpath(path)  # the destination is the link's target (Docker)
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except NotADirectoryError as err:
        raise NotFound(f"destination directory {os.path.dirname(path)} does not exist") from err
    found = Destination(
        name=os.path.basename(path),
        exists=st is not None,
        is_dir=st is not None and stat.S_ISDIR(st.st_mode),
        asserts_dir=asserts_dir(dest),
        shown=dest,
    )
    plan = plan_destination(source_is_dir, found)
    directory = os.path.dirname(path) if plan.into_parent else path
    try:
        fd = os.open(directory, _HOST_DIR_FLAGS)
    except (FileNotFoundError, NotADirectoryError) as err:
        raise NotFound(f"destination directory {directory} does not exist") from err
    with contextlib.ExitStack() as stack:
        stack.callback(os.close, fd)
        stack.enter_context(Extractor(fd, Owners.CALLER, top, plan.rename_to)).run(stream)
