"""Registry transfers against podman, docker and skopeo, interleaved: W3p push and W3l pull.

Usage: python bench/distribution.py [--runs 3] [--quick] [--out FILE] [--json FILE]
                                    [--workdir DIR] [--no-docker] [--no-podman] [--no-skopeo]

Usually run by the suite's entry point, ``bench/run`` (every workload, one report).

W3's image (``../shared/design/PERFORMANCE.md``): the Debian bookworm minbase rootfs of
``tests/support/rootfs.py`` (~210 MB) plus a layer of 100 MB of random bytes, as a
docker-archive with gzip layers that every engine loads once (untimed); --quick makes it of
the busybox rootfs and 2 MB. Each engine pushes and pulls once untimed (the warm-up), then,
per run and per engine in turn (interleaved):

- W3p: push the image to a fresh ``docker-registry`` (Debian's CNCF distribution registry,
  started for that push on 127.0.0.1, storage under the work directory): every blob moves.
  dockyard keeps layers compressed (like containerd) and uploads them; docker and podman
  keep them unpacked and compress them again while pushing.
- W3l: remove every image of the engine (untimed), then pull it back from that registry:
  download, verify and unpack, nothing local. The image pulled is the next run's source.
- skopeo (no store of its own) is the transfer floor: ``copy`` from an OCI layout to the
  registry (push) and back to a new layout (pull: download and verify, no unpack).

The ratio is dockyard's median over podman's (targets: 0.7x for both); the throughputs are
the image's compressed size (the bytes on the wire) over each median time. Prints
``bench/report.py``'s table, writes it to --out and every raw sample to --json.

Isolation, as in ``bench/containers.py`` (whose private-dockerd helpers this reuses):
the script re-executes itself under ``unshare --mount --net``, with a tmpfs over ``/run`` and
loopback up in the private network namespace, so the registries, the private ``dockerd`` and
every engine's state exist only for the run; everything is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
sys.path.insert(0, str(_HERE.parent))  # tests.support
import containers as base  # noqa: E402 (bench/containers.py: dockerd, isolation)
from report import Suite, Workload, engine_options, output_options, table  # noqa: E402
from timing import Timed, run_timed  # noqa: E402

IMAGE = "w3:latest"
RANDOM_MB = 100  # --quick: 2
PEERS = ("docker", "podman", "skopeo")


# ---- the image -------------------------------------------------------------------------------


def _gzip_file(source: Path, target: Path) -> str:
    """gzip ``source`` into ``target`` (level 1: the engines' own speed is what is timed);
    return the sha256 of the uncompressed bytes (the diff_id)."""
    digest = hashlib.sha256()
    with source.open("rb") as src, gzip.open(target, "wb", compresslevel=1) as out:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    return "sha256:" + digest.hexdigest()


def make_archive(work: Path, quick: bool = False) -> Path:
    """The W3 docker-archive (two gzip layers), under ``work``."""
    from tests.support.rootfs import cached

    layers = work / "layers"
    layers.mkdir(parents=True)
    random_tar = layers / "random.tar"
    data = random.Random(3).randbytes((2 if quick else RANDOM_MB) << 20)
    with tarfile.open(random_tar, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("random.bin")
        info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
        tar.addfile(info, io.BytesIO(data))
    diff_ids = [
        _gzip_file(cached("busybox" if quick else "debian"), layers / "0.tar"),
        _gzip_file(random_tar, layers / "1.tar"),
    ]
    random_tar.unlink()
    config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
              "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created_by": "debootstrap"},
                          {"created_by": "random bytes"}]}  # fmt: skip
    raw = json.dumps(config).encode()
    name = hashlib.sha256(raw).hexdigest() + ".json"
    archive = work / "w3.tar"
    with tarfile.open(archive, "w") as tar:
        _add(tar, name, raw)
        manifest = [{"Config": name, "RepoTags": [IMAGE], "Layers": ["0/layer.tar", "1/layer.tar"]}]
        _add(tar, "manifest.json", json.dumps(manifest).encode())
        for n in (0, 1):
            tar.add(layers / f"{n}.tar", f"{n}/layer.tar")
    shutil.rmtree(layers)
    return archive


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _wire_bytes(archive: Path) -> int:
    """The compressed size of the image (what moves): its two gzip layers."""
    with tarfile.open(archive) as tar:
        return sum(m.size for m in tar.getmembers() if m.name.endswith("layer.tar"))


# ---- registries ------------------------------------------------------------------------------


class Registries:
    """Fresh docker-registry instances, each with its own storage; stopped at the end."""

    def __init__(self, work: Path, stack: contextlib.ExitStack) -> None:
        from tests.support import registries

        self._start = registries.start_registry
        self._work = work
        self._count = 0
        self._running: list[object] = []
        stack.callback(self.stop_all)

    def new(self) -> str:
        """Start a fresh registry (the previous one is stopped and its storage removed)."""
        self.stop_all()
        self._count += 1
        reg = self._start(self._work / f"registry-{self._count}")
        self._running.append(reg)
        return reg.host

    def stop_all(self) -> None:
        for reg in self._running:
            reg.stop()  # type: ignore[attr-defined]
            shutil.rmtree(reg.root, ignore_errors=True)  # type: ignore[attr-defined]
        self._running.clear()


# ---- engines ---------------------------------------------------------------------------------


class Transfer:
    """How one engine pushes ``IMAGE`` to a registry and pulls it back into an empty store."""

    def __init__(self, name: str, engine: base.Engine | None, work: Path) -> None:
        self.name, self.engine, self.work = name, engine, work
        self.version = engine.version if engine else ""
        self.source = IMAGE  # what is local now, to push

    def push(self, host: str) -> float:
        assert self.engine is not None
        target = f"{host}/bench/w3:latest"
        self.engine.run("tag", self.source, target)
        extra = ["--tls-verify=false"] if self.name == "podman" else []
        return self.engine.timed("push", *extra, target).elapsed

    def pull(self, host: str) -> float:
        assert self.engine is not None
        self._remove_all()
        target = f"{host}/bench/w3:latest"
        extra = ["--tls-verify=false"] if self.name == "podman" else []
        took = self.engine.timed("pull", *extra, target).elapsed
        self.source = target
        return took

    def _remove_all(self) -> None:
        assert self.engine is not None
        ids = sorted(set(self.engine.run("images", "-q").split()))
        if ids:
            self.engine.run("rmi", "-f", *ids)
        if self.name == "dockyard":
            self.engine.run("system", "prune", "-f")


class Skopeo(Transfer):
    """skopeo between OCI layouts and the registry: the transfer floor."""

    def __init__(self, work: Path, archive: Path) -> None:
        super().__init__("skopeo", None, work)
        skopeo = shutil.which("skopeo")
        if skopeo is None:
            raise base.BenchError("not installed (apt-get install skopeo)")
        self.skopeo = skopeo
        self.version = _run([skopeo, "--version"]).stdout.strip()
        self.layout = work / "skopeo-layout"
        _run([skopeo, "copy", f"docker-archive:{archive}", f"oci:{self.layout}:w3"])

    def push(self, host: str) -> float:
        return _run([self.skopeo, "copy", "--dest-tls-verify=false", f"oci:{self.layout}:w3",
                     f"docker://{host}/bench/w3:latest"]).elapsed  # fmt: skip

    def pull(self, host: str) -> float:
        target = self.work / "skopeo-pulled"
        shutil.rmtree(target, ignore_errors=True)
        return _run([self.skopeo, "copy", "--src-tls-verify=false",
                     f"docker://{host}/bench/w3:latest", f"oci:{target}:w3"]).elapsed  # fmt: skip


def _run(argv: list[str]) -> Timed:
    done = run_timed(argv, timeout=900)
    if done.returncode != 0:
        raise base.BenchError(f"{' '.join(argv[:3])}: {done.stderr.strip()[-300:]}")
    return done


def _transfers(work: Path, archive: Path, args: argparse.Namespace,
               stack: contextlib.ExitStack) -> tuple[list[Transfer], dict[str, str]]:  # fmt: skip
    ours = Transfer("dockyard", base._dockyard(work), work)
    ours.engine.argv += ["--storage-driver", "overlayfs"]  # type: ignore[union-attr]
    ours.engine.run("load", "-i", str(archive))  # type: ignore[union-attr]
    found, notes = [ours], {}
    makers: dict[str, Callable[[contextlib.ExitStack], Transfer]] = {
        "docker": lambda own: Transfer("docker", base._start_dockerd(work, own), work),
        "podman": lambda own: Transfer("podman", base._podman(work), work),
        "skopeo": lambda own: Skopeo(work, archive),
    }
    for name in PEERS:
        if getattr(args, f"no_{name}"):
            notes[name] = f"skipped (--no-{name})"
            continue
        try:
            with contextlib.ExitStack() as own:
                transfer = makers[name](own)
                if transfer.engine is not None:
                    transfer.engine.run("load", "-i", str(archive))
                stack.enter_context(own.pop_all())
        except (base.BenchError, OSError, subprocess.TimeoutExpired) as err:
            notes[name] = f"not working: {err}"
            continue
        found.append(transfer)
    return found, notes


# ---- the run ---------------------------------------------------------------------------------


WORKLOADS = [
    Workload("W3p", "W3p push to a local docker-registry", "s", "podman", 0.7),
    Workload("W3l", "W3l pull it back, nothing local", "s", "podman", 0.7),
    Workload("W3pMBs", "W3p throughput (median)", "MB/s", "fastest", higher_is_better=True),
    Workload("W3lMBs", "W3l throughput (median)", "MB/s", "fastest", higher_is_better=True),
]


def _measure(transfers: list[Transfer], registries: Registries, runs: int, suite: Suite) -> None:
    for t in transfers:  # the warm-up, untimed
        host = registries.new()
        t.push(host)
        t.pull(host)
    for n in range(runs):
        for t in transfers:
            host = registries.new()
            suite.add("W3p", t.name, t.push(host))
            suite.add("W3l", t.name, t.pull(host))
            print(f"run {n + 1}: {t.name}: push {suite.samples['W3p'][t.name][-1]:.2f} s, "
                  f"pull {suite.samples['W3l'][t.name][-1]:.2f} s", file=sys.stderr)  # fmt: skip


def _throughputs(suite: Suite, wire: int) -> None:
    for key in ("W3p", "W3l"):
        for name, samples in suite.samples.get(key, {}).items():
            suite.add(f"{key}MBs", name, wire / statistics.median(samples) / 1e6)


def _inner(work: Path, args: argparse.Namespace) -> int:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"], check=True)
    base._RUN.mkdir()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    (work / "netns").write_text(f"{os.getpid()} {os.readlink('/proc/self/ns/net')}")
    archive = make_archive(work, args.quick)
    wire = _wire_bytes(archive)
    suite = Suite("distribution", "Registry transfers", ["dockyard", *PEERS], WORKLOADS)
    base_image = "busybox" if args.quick else "Debian minbase"
    random_mb = 2 if args.quick else RANDOM_MB
    image = f"{base_image} + {random_mb} MB random ({wire / 1e6:.0f} MB gzip)"
    suite.begin(runs=str(args.runs), image=image)
    with contextlib.ExitStack() as stack:
        transfers, suite.missing = _transfers(work, archive, args, stack)
        suite.versions = {t.name: t.version for t in transfers if t.version}
        registries = Registries(work, stack)
        _measure(transfers, registries, args.runs, suite)
    suite.end()
    _throughputs(suite, wire)
    suite.write(work / "suite.json")
    (work / "table.md").write_text(table(suite) + "\n")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="busybox + 2 MB, not Debian + 100")
    output_options(parser)
    engine_options(parser, PEERS)
    args = parser.parse_args()
    base.dispatch(args, _inner, _outer)


def _outer(args: argparse.Namespace) -> int:
    """containers.py's outer half: re-execute under unshare, then clean up whatever is left."""
    base.__file__ = __file__  # its re-exec runs this script
    return base._outer(args)


if __name__ == "__main__":
    main()
