"""Layer throughput: dockyard.archive against GNU tar, gzip and pigz, in one interleaved run.

Usage: python bench/layers.py [--size-mb 300] [--runs 3] [--out FILE] [--json FILE]
                              [--workdir DIR]

Usually run by the suite's entry point, ``bench/run`` (every workload, one report).

Builds a tree of about --size-mb MB (a few large files, many small ones, text-like compressible
data with some random bytes), then times, median of --runs:

- apply: ``apply_layer`` (NATIVE) from an uncompressed tar vs ``tar -xf`` of the same tar, and
  from a gzip layer vs ``tar -xzf``;
- gzip creation: ``write_layer`` (GZIP) vs ``tar -c | gzip`` and ``tar -c | pigz``;
- zstd creation: ``write_layer`` (ZSTD) vs ``tar -c | zstd -3`` (when zstd is installed).

One untimed warm-up of every case, then --runs interleaved; each run starts after ``sync``
(untimed), so none pays for another's writeback. Samples are throughputs (the tar's size over
the time). Prints ``bench/report.py``'s table (and writes it to --out; every raw sample to
--json). Targets (PERFORMANCE.md spirit): apply at least 0.8x GNU tar's speed, gzip creation
at least 2x ``tar -c | gzip``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from report import Suite, Workload, emit, output_options

from dockyard.archive import Compression, WhiteoutMode, apply_layer, write_layer

_WORDS = [
    b"layer", b"image", b"container", b"digest", b"manifest", b"config", b"rootfs", b"lib",
    b"usr", b"bin", b"share", b"python3", b"import", b"return", b"def", b"class", b"self",
    b"\n", b"    ", b"0x", b"{", b"}", b"(", b")", b";", b"=", b"#include", b"static",
]  # fmt: skip


def _pool(size: int, seed: int) -> bytes:
    """Text-like data (gzip -6 gets it to roughly a third) with a fifth of random bytes."""
    rng = random.Random(seed)
    parts: list[bytes] = []
    total = 0
    while total < size:
        if rng.random() < 0.2:
            chunk = rng.randbytes(4096)
        else:
            chunk = b" ".join(
                rng.choice(_WORDS) + str(rng.randrange(1000)).encode() for _ in range(600)
            )
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)[:size]


def build_tree(root: Path, size_mb: int) -> int:
    """Create the tree; return its byte count. 50% large files, 30% medium, 20% small."""
    rng = random.Random(42)
    pool = _pool(8 << 20, 7)
    total = size_mb << 20
    made = 0

    def write(path: Path, size: int) -> None:
        nonlocal made
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            left = size
            while left:
                start = rng.randrange(0, len(pool) - 1)
                piece = pool[start : start + min(left, len(pool) - start)]
                f.write(piece)
                left -= len(piece)
        made += size

    for i in range(6):
        write(root / "opt" / "big" / f"blob{i}.bin", total // 12)
    medium = 0
    while medium < total * 3 // 10:
        size = rng.randrange(100 << 10, 2 << 20)
        write(root / "usr" / "lib" / f"m{medium % 7}" / f"lib{medium}.so", size)
        medium += size
    small = 0
    while small < total // 5:
        size = rng.randrange(200, 16 << 10)
        write(root / "usr" / "share" / f"d{small % 97}" / f"file{small}.txt", size)
        small += size
    for i in range(200):
        link = root / "usr" / "share" / f"d{i % 97}" / f"link{i}"
        link.parent.mkdir(parents=True, exist_ok=True)  # small trees have fewer directories
        os.symlink(f"../lib/m{i % 7}", link)
    return made


def _timed(action: Callable[[], object], reset: Callable[[], None]) -> float:
    reset()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _sh(command: str) -> Callable[[], object]:
    return lambda: subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True)


def _fresh(path: Path) -> Callable[[], None]:
    def reset() -> None:
        if path.exists():
            shutil.rmtree(path)
        path.mkdir()
        os.sync()  # no run pays for the previous one's writeback

    return reset


def _unlink(path: Path) -> Callable[[], None]:
    def reset() -> None:
        path.unlink(missing_ok=True)
        os.sync()

    return reset


WORKLOADS = [
    Workload("apply", "apply an uncompressed layer", "MB/s", "GNU tar", 0.8, True),
    Workload("apply-gz", "apply a gzip layer", "MB/s", "GNU tar", higher_is_better=True),
    Workload("gzip", "create a gzip layer", "MB/s", "gzip", 2.0, True),
    Workload("gzip-pigz", "create a gzip layer, against pigz", "MB/s", "pigz",
             higher_is_better=True),
    Workload("zstd", "create a zstd layer", "MB/s", "zstd", higher_is_better=True),
]  # fmt: skip
TOOLS = ["dockyard", "GNU tar", "gzip", "pigz", "zstd"]


def run(size_mb: int, runs: int, work: Path, suite: Suite) -> None:
    tree = work / "tree"
    tree.mkdir()
    build_tree(tree, size_mb)
    plain = work / "layer.tar"
    subprocess.run(["tar", "--numeric-owner", "-cf", str(plain), "-C", str(tree), "."], check=True)
    tar_mb = plain.stat().st_size / 1e6
    out_dir = work / "out"
    blob = work / "blob"
    gzipped = work / "layer.tar.gz"
    with gzipped.open("wb") as out:
        write_layer(tree, out, compression=Compression.GZIP)

    def ours_apply(layer: Path) -> Callable[[], None]:
        def apply() -> None:
            with layer.open("rb") as stream:
                apply_layer(stream, out_dir, mode=WhiteoutMode.NATIVE)

        return apply

    def ours_write(compression: Compression) -> Callable[[], None]:
        def write() -> None:
            with blob.open("wb") as out:
                write_layer(tree, out, compression=compression)

        return write

    c = f"tar --numeric-owner -cf - -C {tree} ."
    cases: list[tuple[list[str], Callable[[], object], Callable[[], None], str]] = [
        (["apply"], ours_apply(plain), _fresh(out_dir), "dockyard"),
        (["apply"], _sh(f"tar -xf {plain} -C {out_dir}"), _fresh(out_dir), "GNU tar"),
        (["apply-gz"], ours_apply(gzipped), _fresh(out_dir), "dockyard"),
        (["apply-gz"], _sh(f"tar -xzf {gzipped} -C {out_dir}"), _fresh(out_dir), "GNU tar"),
        (["gzip", "gzip-pigz"], ours_write(Compression.GZIP), _unlink(blob), "dockyard"),
        (["gzip"], _sh(f"{c} | gzip -c > {blob}"), _unlink(blob), "gzip"),
    ]
    missing = {"pigz": "not installed (apt-get install pigz)",
               "zstd": "not installed (apt-get install zstd)"}  # fmt: skip
    if shutil.which("pigz"):
        cases.append((["gzip-pigz"], _sh(f"{c} | pigz -c > {blob}"), _unlink(blob), "pigz"))
        del missing["pigz"]
    if shutil.which("zstd"):
        cases.append((["zstd"], ours_write(Compression.ZSTD), _unlink(blob), "dockyard"))
        cases.append((["zstd"], _sh(f"{c} | zstd -q -3 -c > {blob}"), _unlink(blob), "zstd"))
        del missing["zstd"]
    suite.missing = missing
    suite.meta["tar"] = f"{tar_mb:.0f} MB"
    for _, action, reset, _ in cases:  # the warm-up
        _timed(action, reset)
    for _ in range(runs):  # interleaved, so drift on a shared machine hits every case alike
        for keys, action, reset, who in cases:
            speed = tar_mb / _timed(action, reset)
            for key in keys:
                suite.add(key, who, speed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    output_options(parser)
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a temp dir)")
    args = parser.parse_args()
    suite = Suite("layers", "Layers", TOOLS, WORKLOADS)
    suite.versions = {"tar": _version(["tar", "--version"]), "gzip": _version(["gzip", "-V"])}
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir=args.workdir))
    try:
        suite.begin(runs=str(args.runs), scratch=str(work.parent))
        run(args.size_mb, args.runs, work, suite)
        suite.end()
    finally:
        shutil.rmtree(work)
    suite.notes.append(
        "Creation peers are `tar -c | gzip`, `tar -c | pigz` and `tar -c | zstd -3`; "
        "dockyard's gzip is ISA-L's fastest level in worker threads."
    )
    emit(suite, args)
    return 0


def _version(argv: list[str]) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    return (out.splitlines() or [argv[0]])[0]


if __name__ == "__main__":
    sys.exit(main())
