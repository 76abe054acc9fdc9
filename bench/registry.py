"""The registry server against Debian's ``docker-registry``, same client, interleaved.

Usage: python bench/registry.py [--runs 5] [--random-mb 100] [--no-debian]
                                [--workdir DIR] [--out FILE] [--json FILE]

Usually run by the suite's entry point, ``bench/run`` (every workload, one report).

W3's image (``../shared/design/PERFORMANCE.md``): the Debian bookworm minbase rootfs of
``tests/support/rootfs.py`` plus a layer of 100 MB of random bytes, as an OCI layout with gzip
layers (made once, untimed; ``--no-debian`` uses the busybox rootfs instead). One client,
``skopeo`` (it keeps no store, so the registry is what differs), then one untimed warm-up run
per server and, per run, for each server in turn (the order alternates between runs):

- start a fresh server on 127.0.0.1 with empty storage under the work directory, no access
  control (``dockyard registry serve --auth none``; ``docker-registry`` with its default
  config: filesystem storage, no auth);
- W3p: ``skopeo copy oci:LAYOUT docker://HOST/w3:latest`` (every blob uploaded);
- W3l: ``skopeo copy docker://HOST/w3:latest oci:NEW`` (every blob downloaded and verified);
- stop the server, remove its storage.

Samples are MB/s: the image's compressed size (the bytes on the wire) over each time; the
ratio is dockyard's throughput over docker-registry's (target: >= 0.8x for push and for pull).
Prints ``bench/report.py``'s table (--out; every raw sample to --json). Traffic stays on
127.0.0.1; everything is removed at the end.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO))  # tests.support.rootfs

from report import Suite, Workload, emit, output_options  # noqa: E402

WORKLOADS = [
    Workload("server push", "W3p push to the server (skopeo)", "MB/s", "docker-registry", 0.8,
             True),
    Workload("server pull", "W3l pull from the server (skopeo)", "MB/s", "docker-registry", 0.8,
             True),
]  # fmt: skip
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


# ---- the image -------------------------------------------------------------------------------


def _blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return "sha256:" + digest, len(data)


def _gzip_layer(layout: Path, tar_bytes: bytes) -> tuple[dict[str, object], str]:
    compressed = gzip.compress(tar_bytes, compresslevel=1, mtime=0)
    digest, size = _blob(layout, compressed)
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    return {"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": size}, diff_id


def make_layout(work: Path, random_mb: int, debian: bool) -> tuple[Path, int]:
    """The W3 image as an OCI layout; return it and its wire size (the blobs' bytes)."""
    from tests.support.rootfs import cached

    layout = work / "layout"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    base = cached("debian" if debian else "busybox").read_bytes()
    data = random.Random(3).randbytes(random_mb << 20)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("random.bin")
        info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
        tar.addfile(info, io.BytesIO(data))
    layers, diff_ids = zip(*(_gzip_layer(layout, t) for t in (base, out.getvalue())), strict=True)
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": list(diff_ids)}}  # fmt: skip
    cdigest, csize = _blob(layout, json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": cdigest, "size": csize}, "layers": list(layers)}  # fmt: skip
    mdigest, msize = _blob(layout, json.dumps(manifest).encode())
    ref = {"org.opencontainers.image.ref.name": "latest"}
    entry = {"mediaType": OCI_MANIFEST, "digest": mdigest, "size": msize, "annotations": ref}
    index = {"schemaVersion": 2, "manifests": [entry]}
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    wire = sum(int(d["size"]) for d in layers) + csize + msize  # type: ignore[call-overload]
    return layout, wire


# ---- servers ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def start(kind: str, root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start a fresh server of ``kind`` ("dockyard" or "docker-registry"); it and its host."""
    port = _free_port()
    root.mkdir(parents=True)
    if kind == "dockyard":
        argv = [sys.executable, "-m", "dockyard", "registry", "serve", "--auth", "none",
                "--addr", f"127.0.0.1:{port}", "--root", str(root / "data")]  # fmt: skip
    else:
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
        )
        argv = ["docker-registry", "serve", str(config)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait(port, proc)
    return proc, f"127.0.0.1:{port}"


def _skopeo(*args: str) -> float:
    start_time = time.perf_counter()
    subprocess.run(["skopeo", *args], check=True, capture_output=True, timeout=600)
    return time.perf_counter() - start_time


def one_run(kind: str, work: Path, layout: Path, n: int) -> tuple[float, float]:
    """Push and pull against a fresh server; (push s, pull s)."""
    root = work / f"{kind}-{n}"
    proc, host = start(kind, root)
    try:
        ref = f"docker://{host}/w3/run{n}:latest"
        push = _skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", ref)
        pull = _skopeo("copy", "--src-tls-verify=false", ref, f"oci:{root / 'pulled'}:latest")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    return push, pull


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--random-mb", type=int, default=100)
    parser.add_argument("--no-debian", action="store_true", help="busybox base, not debian")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    output_options(parser)
    args = parser.parse_args()
    missing = [t for t in ("skopeo", "docker-registry") if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"needs {', '.join(missing)} (apt-get install skopeo docker-registry)")
    suite = Suite("registry", "Registry server", ["dockyard", "docker-registry"], WORKLOADS)
    suite.versions = {"skopeo": f"client skopeo {_version(['skopeo', '--version'])}"}
    work = Path(tempfile.mkdtemp(prefix="dockyard-regbench-", dir=args.workdir))
    try:
        layout, wire = make_layout(work, args.random_mb, not args.no_debian)
        base = "Debian minbase" if not args.no_debian else "busybox"
        image = f"{base} + {args.random_mb} MB random ({wire / 1e6:.0f} MB gzip)"
        suite.begin(runs=str(args.runs), image=image)
        kinds = ["dockyard", "docker-registry"]
        for kind in kinds:  # the warm-up
            one_run(kind, work, layout, -1)
        for n in range(args.runs):
            for kind in kinds if n % 2 == 0 else kinds[::-1]:
                push, pull = one_run(kind, work, layout, n)
                suite.add("server push", kind, wire / 1e6 / push)
                suite.add("server pull", kind, wire / 1e6 / pull)
                print(f"run {n + 1} {kind}: push {push:.2f} s, pull {pull:.2f} s", file=sys.stderr)
        suite.end()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit(suite, args)
    return 0


def _version(argv: list[str]) -> str:
    out = subprocess.run(argv, capture_output=True, text=True).stdout.split()
    return out[2] if len(out) > 2 else "?"


if __name__ == "__main__":
    sys.exit(main())
