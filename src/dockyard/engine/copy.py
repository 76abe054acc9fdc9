"""``docker cp``: the operations on a container's tree, given its root as a directory.

- :func:`copy_out` locates a source in the root (``docker cp CTR:SRC …``) and returns a
  :class:`CopyOut`: its :class:`PathStat` and its content as tar members, written with
  :meth:`CopyOut.write_tar` (``DEST`` is ``-``) or copied with :func:`copy_to_host`.
  :func:`extract_to_host` does the same from the tar stream.
- :func:`copy_in` copies a host path, or a tar stream (``-``), into the root.

Nothing here follows a symlink out of the root: sources are found by
:mod:`dockyard.engine.copy_out`, destinations are written by :mod:`dockyard.engine.copy_in`
(see their docstrings for Docker's rules and the safety argument).
"""

from __future__ import annotations

from dockyard.engine.copy_in import (
    Destination,
    Owners,
    Plan,
    copy_in,
    copy_to_host,
    extract_to_host,
    plan_destination,
)
from dockyard.engine.copy_out import CopyOut, PathStat, copy_out, go_file_mode

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
