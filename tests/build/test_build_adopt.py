"""A build step's container becomes its layer's snapshot (no second unpack): on the layers
below, it shows exactly the tree that its layer blob, unpacked, shows."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

from dockyard.archive import WhiteoutMode, apply_layer
from dockyard.image.store import ImageStore
from dockyard.oci.digest import Digest
from dockyard.oci.image import chain_ids

pytestmark = [pytest.mark.root, pytest.mark.overlay]

DOCKERFILE = """\
FROM busybox
RUN mkdir -p /app/sub && echo one > /app/a && ln -s a /app/link && ln /app/a /app/hard \\
 && chmod 0750 /app/sub && chown 12:34 /app/a && rm /bin/true && rm -rf /usr/sbin \\
 && mkdir /usr/sbin && echo only > /usr/sbin/new && touch -d @1000000 /app/sub \
 && echo hi > /etc/motd && touch -d @2000000 /etc
COPY files/ /app/files/
RUN echo more >> /app/a && setfattr -n user.k -v v /app/a 2>/dev/null; true
"""


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root``: type, mode, owner, mtime (seconds), size, content digest,
    link target, device, xattrs (overlay's opaque mark included)."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            data = ""
            if stat.S_ISREG(st.st_mode):
                data = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
            xattrs = tuple(
                sorted((k, os.getxattr(path, k, follow_symlinks=False))
                       for k in os.listxattr(path, follow_symlinks=False)
                       if not k.startswith("trusted.overlay.") or k == "trusted.overlay.opaque")
            )  # fmt: skip
            out[os.path.relpath(path, root)] = (
                stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                int(st.st_mtime), st.st_size if not stat.S_ISDIR(st.st_mode) else 0, data,
                link, st.st_rdev, st.st_nlink if stat.S_ISREG(st.st_mode) else 0, xattrs,
            )  # fmt: skip
    return out


@contextlib.contextmanager
def _merged(at: Path, layers: list[Path]) -> Iterator[Path]:
    """The read-only overlay of ``layers`` (top first) at ``at``, for the block."""
    at.mkdir()
    lower = ":".join(str(p) for p in layers)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"ro,lowerdir={lower}", str(at)],
                   check=True)  # fmt: skip
    try:
        yield at
    finally:
        subprocess.run(["umount", str(at)], check=True)


def test_each_step_snapshot_is_what_its_layer_unpacks_to(
    box: DockyardRunner, tmp_path: Path
) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "files" / "deep").mkdir(parents=True)
    for i in range(20):
        (ctx / "files" / f"f{i}").write_text(f"file {i}\n")
    (ctx / "files" / "deep" / "x").write_text("x\n")
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    box("build", "-q", "-t", "adopted", str(ctx))
    store = ImageStore(box.root)
    image = store.resolve("adopted")
    manifest, config = store.manifest(image), store.config(image)
    chains = chain_ids(list(config.rootfs.diff_ids))
    assert len(manifest.layers) == 4  # busybox, RUN, COPY, RUN
    for i, (desc, chain) in enumerate(zip(manifest.layers, chains, strict=True)):
        if i == 0:
            continue  # imported, not built
        unpacked = tmp_path / f"layer{i}"
        unpacked.mkdir()
        with store.content.open(Digest.parse(str(desc.digest))) as blob:
            apply_layer(blob, unpacked, mode=WhiteoutMode.OVERLAY)
        below = [store.snapshots.upper_dir(str(c)) for c in reversed(chains[:i])]
        with _merged(tmp_path / f"a{i}", [store.snapshots.upper_dir(str(chain)), *below]) as a, \
                _merged(tmp_path / f"b{i}", [unpacked, *below]) as b:  # fmt: skip
            assert _tree(a) == _tree(b), f"layer {i}"
    assert box.out("run", "--rm", "adopted", "sh", "-c",
                   "cat /app/a; ls /usr/sbin; ls /app/files | wc -l; ls /bin/true 2>&1 | wc -l"
                   ).split() == ["one", "more", "new", "21", "1"]  # fmt: skip
    # /etc kept the time the RUN gave it: taking the mount point stubs out did not change it
    assert (store.snapshots.upper_dir(str(chains[1])) / "etc").stat().st_mtime == 2000000
    assert box.out("system", "check").strip().endswith("ok: no problems found")
