"""Root filesystem tarballs for tests and the demo, made from Debian's own packages.

``busybox``: a minimal tree around Debian's ``busybox-static`` (``/bin/busybox`` and a symlink
per applet), built in Python, deterministic, no root needed.
``debian``: a bookworm ``minbase`` from ``debootstrap``, fetched from the mirror this machine's
apt is configured with (slow: cached).

Usage: ``python3 tests/support/rootfs.py busybox|debian OUT.tar``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
CACHE = Path(os.environ.get("DOCKYARD_TEST_CACHE", "/var/cache/dockyard-test"))
_EPOCH = 1_700_000_000

_ETC = {
    "etc/passwd": (
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    ),
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/hostname": "busybox\n",
    "etc/os-release": 'NAME="Dockyard busybox"\nID=busybox\n',
}


def busybox_tar(out: Path) -> Path:
    """Write the busybox rootfs tarball to ``out`` (deterministic bytes)."""
    if not BUSYBOX.exists():
        raise SystemExit("busybox-static is not installed: apt-get install busybox-static")
    applets = subprocess.run(
        [str(BUSYBOX), "--list-full"], check=True, capture_output=True, text=True
    ).stdout.split()
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for d, mode in (("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("proc", 0o555),
                        ("root", 0o700), ("sbin", 0o755), ("sys", 0o555), ("tmp", 0o1777),
                        ("usr", 0o755), ("usr/bin", 0o755), ("usr/sbin", 0o755),
                        ("var", 0o755), ("home", 0o755)):  # fmt: skip
            tar.addfile(_info(d + "/", tarfile.DIRTYPE, mode))
        data = BUSYBOX.read_bytes()
        tar.addfile(_info("bin/busybox", tarfile.REGTYPE, 0o755, len(data)), io.BytesIO(data))
        for path in sorted(set(applets)):
            rel = path.lstrip("/")
            if rel == "bin/busybox" or not re.fullmatch(r"(usr/)?s?bin/[\w.\-\[]+", rel):
                continue
            info = _info(rel, tarfile.SYMTYPE, 0o777)
            info.linkname = "/bin/busybox"
            tar.addfile(info)
        for name, text in sorted(_ETC.items()):
            raw = text.encode()
            tar.addfile(_info(name, tarfile.REGTYPE, 0o644, len(raw)), io.BytesIO(raw))
    return out


def _info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, _EPOCH
    info.uname = info.gname = ""
    return info


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (never a hard-coded host)."""
    texts = [p.read_text() for p in Path("/etc/apt/sources.list.d").glob("*.sources")]
    for text in texts:
        for block in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", block, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", block, re.M)
            if uris and suites and "bookworm" in suites.group(1).split():
                return uris.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        m = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", legacy.read_text(), re.M)
        if m:
            return m.group(1)
    raise SystemExit("no bookworm mirror found in apt's sources")


def debian_tar(out: Path) -> Path:
    """debootstrap a bookworm minbase and tar it to ``out`` (minutes: callers cache it)."""
    if shutil.which("debootstrap") is None:
        raise SystemExit("debootstrap is not installed: apt-get install debootstrap")
    with tempfile.TemporaryDirectory(prefix="dockyard-debootstrap-") as tmp:
        target = Path(tmp) / "rootfs"
        subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(target), apt_mirror()],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        partial = out.with_suffix(".partial")
        subprocess.run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(target), "-cf", str(partial),
             "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./dev/*", "."],
            check=True,
        )  # fmt: skip
        partial.replace(out)
    return out


def cached(kind: str) -> Path:
    """The cached tarball of ``kind`` ("busybox" or "debian"), made when missing."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{kind}-rootfs.tar"
    if not path.exists():
        (busybox_tar if kind == "busybox" else debian_tar)(path)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("busybox", "debian"):
        raise SystemExit(__doc__)
    maker = busybox_tar if sys.argv[1] == "busybox" else debian_tar
    maker(Path(sys.argv[2]))
