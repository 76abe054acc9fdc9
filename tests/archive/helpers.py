"""Building tars in tests and describing trees so two of them can be compared."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Entry:
    """One tar member to build with Python's tarfile (independent of the code under test)."""

    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    linkname: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 1_600_000_000
    devmajor: int = 0
    devminor: int = 0
    pax: dict[str, str] = field(default_factory=dict)


def file(name: str, data: bytes = b"", **kw: Any) -> Entry:
    return Entry(name=name, type=tarfile.REGTYPE, data=data, **kw)


def dir_(name: str, **kw: Any) -> Entry:
    kw.setdefault("mode", 0o755)
    return Entry(name=name, type=tarfile.DIRTYPE, **kw)


def symlink(name: str, target: str, **kw: Any) -> Entry:
    kw.setdefault("mode", 0o777)
    return Entry(name=name, type=tarfile.SYMTYPE, linkname=target, **kw)


def hardlink(name: str, target: str, **kw: Any) -> Entry:
    return Entry(name=name, type=tarfile.LNKTYPE, linkname=target, **kw)


def device(name: str, major: int, minor: int, **kw: Any) -> Entry:
    return Entry(name=name, type=tarfile.CHRTYPE, devmajor=major, devminor=minor, **kw)


def tar_bytes(entries: list[Entry], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = e.type
            info.mode = e.mode
            info.uid, info.gid = e.uid, e.gid
            info.mtime = e.mtime
            info.linkname = e.linkname
            info.devmajor, info.devminor = e.devmajor, e.devminor
            info.pax_headers = dict(e.pax)
            info.size = len(e.data) if e.type == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(e.data) if info.size else None)
    return buf.getvalue()


def describe(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root`` (not root itself) with its type, metadata and content.

    Hardlinked files are grouped by the first path (in sorted order) of their inode.
    """
    result: dict[str, tuple[object, ...]] = {}
    first_of_inode: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            if stat.S_ISREG(st.st_mode):
                content: object = hashlib.sha256(path.read_bytes()).hexdigest()
                if st.st_nlink > 1:
                    content = (content, first_of_inode.setdefault(st.st_ino, rel))
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                content = (os.major(st.st_rdev), os.minor(st.st_rdev))
            else:
                content = None
            xattrs = _xattrs(path)
            mtime = st.st_mtime_ns // 1_000_000_000
            result[rel] = (
                kind,
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                mtime,
                content,
                xattrs,
            )
    return result


def _xattrs(path: Path) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    return tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False)) for n in names))


def tree_hash(root: Path, skip: Path | None = None) -> str:
    """A digest of everything under ``root`` (metadata and content), ``skip`` excluded."""
    items = describe(root)
    if skip is not None:
        rel = str(skip.relative_to(root))
        items = {k: v for k, v in items.items() if k != rel and not k.startswith(rel + "/")}
    return hashlib.sha256(repr(sorted(items.items())).encode()).hexdigest()
