"""The overlayfs snapshotter: each snapshot's ``fs`` holds only its own changes.

An active snapshot with a parent mounts as ``overlay`` with ``upperdir=<id>/fs``,
``workdir=<id>/work`` and ``lowerdir=`` the parents' ``fs`` directories, nearest first. A
base (no parent) is a read-write bind mount of its ``fs``. Whiteouts in ``fs`` are overlay's
own: a 0/0 character device hides a lower file, ``trusted.overlay.opaque=y`` a lower
directory's content.

Depth limit: the kernel reads one page (4096 bytes) of mount data, and the options name every
lower directory, so the chain depth is bounded by the length of ``root``:
:func:`max_depth` gives it (82 layers for ``/var/lib/dockyard/snapshots``; Docker's overlay2
allows 128 through short symlinks and a chdir, which a returned ``Mount`` cannot carry).
Deeper chains are refused with ``LimitExceeded`` at prepare, before anything is written.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dockyard.errors import LimitExceeded
from dockyard.linux.mount import MAX_DATA, parse_options
from dockyard.snapshot.base import Info
from dockyard.snapshot.mount import Mount
from dockyard.snapshot.store import DirectorySnapshotter

_ID_LEN = 16


def max_depth(root: Path) -> int:
    """The most parents an active overlay snapshot under ``root`` can have and still mount."""
    length = len(os.fsencode(str(Path(root))))
    fixed = len("workdir=,upperdir=,lowerdir=") + 2 * (length + 1 + _ID_LEN) + len("/work/fs")
    per_layer = length + 1 + _ID_LEN + len("/fs") + len(":")
    return (MAX_DATA - fixed + len(":")) // per_layer


class OverlaySnapshotter(DirectorySnapshotter):
    """Snapshots as overlayfs layers under ``root`` (layout: :mod:`dockyard.snapshot.store`)."""

    name = "overlayfs"

    def _active_mounts(self, info: Info, chain: list[Info]) -> list[Mount]:
        fs = self.fs_dir(info)
        if not chain:
            return [Mount(type="bind", source=str(fs), options=("rw", "rbind"))]
        options = (
            f"workdir={self.root / info.id / 'work'}",
            f"upperdir={fs}",
            f"lowerdir={self._lowerdir(chain)}",
        )
        return [Mount(type="overlay", source="overlay", options=options)]

    def _view_mounts(self, info: Info, chain: list[Info]) -> list[Mount]:
        if len(chain) <= 1:
            fs = self.fs_dir(chain[0] if chain else info)
            return [Mount(type="bind", source=str(fs), options=("ro", "rbind"))]
        # Overlay with lower directories only is read-only by construction.
        return [
            Mount(type="overlay", source="overlay", options=(f"lowerdir={self._lowerdir(chain)}",))
        ]

    def _lowerdir(self, chain: list[Info]) -> str:
        return ":".join(str(self.fs_dir(parent)) for parent in chain)

    def _check(self, info: Info, chain: list[Info]) -> None:
        for mount in self._mounts(info, chain):
            size = len(os.fsencode(parse_options(mount.options)[1]))
            if size > MAX_DATA:
                raise LimitExceeded(
                    f"snapshot {info.name}: {len(chain)} parents need {size} bytes of overlay "
                    f"options, over the kernel's {MAX_DATA}",
                    hint=f"under {self.root} at most {max_depth(self.root)} layers fit; "
                    "use a shorter root or squash the image",
                )

    def _seal(self, info: Info) -> None:
        # A committed snapshot is never an upper again; overlay's scratch space can go.
        work = self.root / info.id / "work"
        for entry in list(work.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
