"""TCP throughput through a published port on 127.0.0.1 against the container's own address.

Usage: python bench/network.py [--mib 256] [--runs 5] [--out FILE] [--json FILE]

Usually run by the suite's entry point, ``bench/run`` (every workload, one report).

One busybox container on the default bridge network runs a sink (``nc -ll -p 5001 -e sh -c
'cat >/dev/null'``) published with ``-p 127.0.0.1:PORT:5001``. This process streams --mib MiB
into it, alternating (A B A B ...) between the container's address (the bridge, no NAT) and
127.0.0.1:PORT (nftables DNAT from loopback, ``route_localnet``, masquerade: the kernel path,
no userland proxy), --runs times each after a warm-up, and reports (``bench/report.py``'s
table; --out, and every raw sample to --json) the median MB/s of each and their ratio (target:
published >= 0.5x direct, issue 6). ``iperf3`` is not needed: both paths carry the
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO))  # for tests.support.rootfs

from report import Suite, Workload, emit, output_options  # noqa: E402
from tests.support import rootfs  # noqa: E402

CHUNK = b"\0" * (1 << 20)
WORKLOADS = [
    Workload("port", "TCP stream through a published port", "MB/s", "direct", 0.5, True),
]


def _stream(addr: tuple[str, int], mib: int) -> float:
    """Send ``mib`` MiB to ``addr``; MB/s."""
    with socket.create_connection(addr, timeout=30) as sock:
        start = time.perf_counter()
        for _ in range(mib):
            sock.sendall(CHUNK)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)  # the sink closes when it has read everything
        return mib * 1.048576 / (time.perf_counter() - start)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    output_options(parser)
    args = parser.parse_args()
    suite = Suite("network", "Networking: TCP into a container", ["dockyard", "direct"], WORKLOADS)
    suite.begin(runs=str(args.runs), stream=f"{args.mib} MiB")
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
        for _ in range(args.runs):
            suite.add("port", "direct", _stream((ip, 5001), args.mib))
            suite.add("port", "dockyard", _stream(("127.0.0.1", port), args.mib))
    finally:
        subprocess.run([exe, "rm", "-f", *_ids(exe, env)], env=env, capture_output=True,
                       check=False)  # fmt: skip
        from dockyard.network.client import stop

        for sock in (work / "run" / "networks").glob("*.sock"):
            stop(work / "run", sock.stem)
        shutil.rmtree(work, ignore_errors=True)
    suite.end()
    suite.notes.append(
        "dockyard: through the port published on 127.0.0.1 (nftables DNAT); direct: to the "
        "container's own address on the bridge."
    )
    emit(suite, args)
    return 0


def _ids(exe: str, env: dict[str, str]) -> list[str]:
    out = subprocess.run([exe, "ps", "-aq"], env=env, capture_output=True, text=True, check=False)
    return out.stdout.split()


if __name__ == "__main__":
    sys.exit(main())
