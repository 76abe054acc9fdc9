"""Layer throughput: dockyard.archive against GNU tar, gzip and pigz, in one interleaved run.

Usage: python benchmarks/layers.py [--size-mb 300] [--runs 3] [--out FILE] [--workdir DIR]

Builds a tree of about --size-mb MB (a few large files, many small ones, text-like compressible
data with some random bytes), then times, median of --runs:

- apply: ``apply_layer`` (NATIVE) from an uncompressed tar vs ``tar -xf`` of the same tar, and
  from a gzip layer vs ``tar -xzf``;
- gzip creation: ``write_layer`` (GZIP) vs ``tar -c | gzip`` and ``tar -c | pigz``;
- zstd creation: ``write_layer`` (ZSTD) vs ``tar -c | zstd -3`` (when zstd is installed).

Each run starts after ``sync`` (untimed), so none pays for another's writeback. Prints a
Markdown table (and writes it to --out). Targets (PERFORMANCE.md spirit): apply at
least 0.8x GNU tar's speed, gzip creation at least 2x ``tar -c | gzip``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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
        os.symlink(f"../lib/m{i % 7}", root / "usr" / "share" / f"d{i % 97}" / f"link{i}")
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


def run(size_mb: int, runs: int, work: Path) -> list[tuple[str, str, float, float, str]]:
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
    cases: list[tuple[str, Callable[[], object], Callable[[], None], str]] = [
        ("apply", ours_apply(plain), _fresh(out_dir), "dockyard"),
        ("apply", _sh(f"tar -xf {plain} -C {out_dir}"), _fresh(out_dir), "tar -x"),
        ("apply .tar.gz", ours_apply(gzipped), _fresh(out_dir), "dockyard"),
        ("apply .tar.gz", _sh(f"tar -xzf {gzipped} -C {out_dir}"), _fresh(out_dir), "tar -xz"),
        ("gzip", ours_write(Compression.GZIP), _unlink(blob), "dockyard"),
        ("gzip", _sh(f"{c} | gzip -c > {blob}"), _unlink(blob), "tar -c | gzip"),
    ]
    if shutil.which("pigz"):
        cases.append(("gzip", _sh(f"{c} | pigz -c > {blob}"), _unlink(blob), "tar -c | pigz"))
    if shutil.which("zstd"):
        cases.append(("zstd", ours_write(Compression.ZSTD), _unlink(blob), "dockyard"))
        cases.append(("zstd", _sh(f"{c} | zstd -q -3 -c > {blob}"), _unlink(blob), "tar -c | zstd"))
    times: dict[tuple[str, str], list[float]] = {(op, who): [] for op, _, _, who in cases}
    for _ in range(runs):  # interleaved, so drift on a shared machine hits every case alike
        for op, action, reset, who in cases:
            times[(op, who)].append(_timed(action, reset))
    rows = []
    for (op, who), samples in times.items():
        median = statistics.median(samples)
        ours = statistics.median(times[(op, "dockyard")])
        rows.append((op, who, median, tar_mb / median, f"{median / ours:.2f}x"))
    return rows


def table(rows: list[tuple[str, str, float, float, str]], size_mb: float, runs: int) -> str:
    lines = [
        f"Layer benchmark: {size_mb:.0f} MB tar, median of {runs} runs, {os.cpu_count()} CPUs",
        "",
        "| operation | tool | median s | MB/s | dockyard speed-up |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for op, who, seconds, mb_s, ratio in rows:
        tool = who.replace("|", "\\|")
        lines.append(f"| {op} | {tool} | {seconds:.2f} | {mb_s:.0f} | {ratio} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a temp dir)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir=args.workdir))
    try:
        rows = run(args.size_mb, args.runs, work)
    finally:
        shutil.rmtree(work)
    tar_mb = rows[0][3] * rows[0][2]
    text = table(rows, tar_mb, args.runs)
    sys.stdout.write(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
