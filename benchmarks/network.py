"""TCP throughput through a published port on 127.0.0.1 against the container's own address.

Usage: python benchmarks/network.py [--mib 256] [--runs 5] [--out FILE]

One busybox container on the default bridge network runs a sink (``nc -ll -p 5001 -e sh -c
'cat >/dev/null'``) published with ``-p 127.0.0.1:PORT:5001``. This process streams --mib MiB
into it, alternating (A B A B ...) between the container's address (the bridge, no NAT) and
127.0.0.1:PORT (nftables DNAT from loopback, ``route_localnet``, masquerade: the kernel path,
no userland proxy), --runs times each, and reports the median MiB/s of each and their ratio
(target: published >= 0.5x direct, issue 6). ``iperf3`` is not needed: both paths carry the
same Python socket stream, so the ratio isolates the port publishing.

The run uses a private state root, bridge name and address pool, and removes its container
and network helper at the end. Traffic stays on this host. Needs root and the busybox rootfs
tarball (``tests/support/rootfs.py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO))  # for tests.support.rootfs

from tests.support import rootfs  # noqa: E402

CHUNK = b"\0" * (1 << 20)


def _stream(addr: tuple[str, int], mib: int) -> float:
    """Send ``mib`` MiB to ``addr``; MiB/s."""
    with socket.create_connection(addr, timeout=30) as sock:
        start = time.perf_counter()
        for _ in range(mib):
            sock.sendall(CHUNK)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)  # the sink closes when it has read everything
        return mib / (time.perf_counter() - start)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dockyard-netbench-"))
    exe = str(Path(sys.executable).parent / "dockyard")
    env = {**os.environ, "DOCKYARD_ROOT": str(work / "root"), "DOCKYARD_RUNROOT": str(work / "run"),
           "DOCKYARD_BRIDGE": "dybench0", "DOCKYARD_ADDRESS_POOLS": "10.239.0.0/16:24"}  # fmt: skip

    def dockyard(*argv: str) -> str:
        return subprocess.run([exe, *argv], env=env, check=True, capture_output=True,
                              text=True).stdout.strip()  # fmt: skip

    port = _free_port()
    try:
        dockyard("import", str(rootfs.cached("busybox")), "busybox")
        cid = dockyard("run", "-d", "-p", f"127.0.0.1:{port}:5001", "busybox",
                       "nc", "-ll", "-p", "5001", "-e", "sh", "-c", "cat >/dev/null")  # fmt: skip
        ip = dockyard("inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid)
        time.sleep(0.3)
        _stream((ip, 5001), 16)  # warm-up
        direct, published = [], []
        for _ in range(args.runs):
            direct.append(_stream((ip, 5001), args.mib))
            published.append(_stream(("127.0.0.1", port), args.mib))
    finally:
        subprocess.run([exe, "rm", "-f", *_ids(exe, env)], env=env, capture_output=True,
                       check=False)  # fmt: skip
        from dockyard.network.client import stop

        for sock in (work / "run" / "networks").glob("*.sock"):
            stop(work / "run", sock.stem)
        shutil.rmtree(work, ignore_errors=True)
    d, p = statistics.median(direct), statistics.median(published)
    ratio = p / d
    report = (
        "| path | MiB/s (median) | min-max |\n| --- | --- | --- |\n"
        f"| container address (direct) | {d:.0f} | {min(direct):.0f}-{max(direct):.0f} |\n"
        f"| 127.0.0.1 published port | {p:.0f} | {min(published):.0f}-{max(published):.0f} |\n"
        f"\nratio published/direct: **{ratio:.2f}x** (target >= 0.5x: "
        f"{'met' if ratio >= 0.5 else 'not met'}); {args.runs} runs of {args.mib} MiB each.\n"
    )
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


def _ids(exe: str, env: dict[str, str]) -> list[str]:
    out = subprocess.run([exe, "ps", "-aq"], env=env, capture_output=True, text=True, check=False)
    return out.stdout.split()


if __name__ == "__main__":
    sys.exit(main())
