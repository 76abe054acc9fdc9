"""Image builds against Docker and Podman, interleaved: W2 (cold), W2c (cached), W2f (1 file).

Usage: python bench/builds.py [--runs 5] [--quick] [--out FILE] [--json FILE] [--workdir DIR]
                              [--no-docker] [--no-podman]

Usually run by the suite's entry point, ``bench/run`` (every workload, one report).

Workloads (``../shared/design/PERFORMANCE.md``), on W2's Dockerfile and a context of 1,000 files
of 200 bytes under ``files/``, built as ``w2`` by each engine on its own private state:

- W2 cold: ``build --no-cache``, --runs times per engine, interleaved run by run;
- W2c fully cached rebuild: ``build`` with nothing changed, after one untimed cached build
  that settles every engine's cache (each W2c run must give that build's image id again);
- W2f: before each run one file of the 1,000 (a different one each run) gets new content of
  the same size, then each engine rebuilds (the image id must change, and the steps before
  COPY must come from the cache).

Every build is ``build -t w2 --iidfile FILE CONTEXT``, timed from the CLI's start to its exit.
The builders: dockyard's own, Docker 20.10's classic ("legacy") builder, chosen explicitly
with ``DOCKER_BUILDKIT=0`` (the context is sent to dockerd as a tar, each step commits an
image), and Podman's (Buildah, ``--layers`` by default). The report counts the cache hits each
engine printed per build ("Using cache" for the peers, "CACHED" for dockyard) so that a cache
that silently misses shows.

Base image: Docker Hub is not reachable, so the cached Debian bookworm minbase rootfs of
``tests/support/rootfs.py`` (made with debootstrap when missing) is imported into each engine
as ``debian:bookworm`` (``dockyard import`` / ``docker import`` / ``podman import``; --quick
imports the busybox rootfs under that name instead, and makes 100 files), followed
by one untimed build (warms caches, proves the engine builds). A peer that is missing or fails
there is left out, and the report says why; one that fails later is dropped with its error.
After the timed runs each engine runs its ``w2`` once (``run --rm w2``, untimed) and the
report says whether it printed 1000.

Isolation and cleanup are those of ``bench/containers.py`` (imported from it): the
script re-executes itself under ``unshare --mount --net`` with a tmpfs over ``/run``; the
state roots live in one temporary directory, run roots on that tmpfs; Docker is a private
``dockerd`` started and stopped by the run; Podman's temporary files (``TMPDIR``) go to the
temporary directory too. Afterwards the outer process kills whatever is still alive in the
run's network namespace or its containers' cgroups, removes the cgroups the run created, the
temporary directory, and the host paths the peers write outside their roots (Podman's global
``/dev/shm/libpod_lock`` among them) when the run created them; it names anything new in
``/var/tmp`` (not removed: it may not be ours). The dockyard sources are byte-compiled
first, and dockyard is the ``dockyard`` console script beside this interpreter.

Prints a Markdown report (``bench/report.py``'s table: medians, ratios against the peer each
target names, targets, the min-max spread; cache hits, the check run, load average at start and
end, versions), writes it to --out and every raw sample to --json. Needs root and
``unshare`` (util-linux).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from report import Suite, Workload, engine_options, output_options, table
from timing import run_timed

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/containers.py
from containers import (
    _HOST_PATHS,
    _PEERS,
    _RUN,
    BenchError,
    Engine,
    _dockyard,
    _podman,
    _start_dockerd,
    dispatch,
    run_isolated,
)

DOCKERFILE = """\
FROM debian:bookworm
ENV APP_HOME=/app LANG=C.UTF-8
WORKDIR /app
RUN mkdir -p gen && for i in $(seq 1 200); do echo "generated $i" > gen/g$i.txt; done
COPY files/ /app/files/
CMD ["/bin/sh", "-c", "ls /app/files | wc -l"]
"""
_FILES, _FILE_SIZE = 1000, 200  # --quick: 100 files
_TAG = "w2"
_HIT_MARKS = ("Using cache", "  CACHED")  # a cache hit in the peers' / dockyard's build output
_TMP_SCAN = Path("/var/tmp")  # where Buildah puts temporary files when TMPDIR is not set
# Podman's lock file is global whatever its --root: removed after the run if the run made it.
_HOST_EXTRA = (Path("/dev/shm/libpod_lock"),)


# ---- the context ---------------------------------------------------------------------------


def _content(name: str, run: int) -> bytes:
    """Exactly _FILE_SIZE bytes for file ``name``; ``run`` >= 0: the content of W2f's run."""
    head = f"{name}: original\n" if run < 0 else f"{name}: changed in W2f run {run}\n"
    return (head + "x" * (_FILE_SIZE - len(head) - 1) + "\n").encode()


def _context(work: Path, files: int) -> Path:
    """W2's context: the Dockerfile and ``files/`` with ``files`` files of _FILE_SIZE bytes."""
    ctx = work / "context"
    (ctx / "files").mkdir(parents=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    for i in range(files):
        (ctx / "files" / f"f{i:04d}.txt").write_bytes(_content(f"f{i:04d}.txt", -1))
    return ctx


def _touch_one(ctx: Path, run: int, files: int) -> str:
    """Give one file (a different one for each ``run``) new content of the same size."""
    name = f"f{(run * 397 + 11) % files:04d}.txt"  # 397 is prime to 1000 and 100: no repeats
    (ctx / "files" / name).write_bytes(_content(name, run))
    return name


# ---- engines -------------------------------------------------------------------------------


class Build:
    """The outcome of one build: wall time, image id, and the cache hits its output printed."""

    def __init__(self, elapsed: float, image: str, hits: int) -> None:
        self.elapsed, self.image, self.hits = elapsed, image, hits


def _build(engine: Engine, ctx: Path, *flags: str) -> Build:
    """``build -t w2 --iidfile F [flags] ctx`` by ``engine``. Raises BenchError on failure."""
    iid = ctx.parent / f"iid-{engine.name}"
    iid.unlink(missing_ok=True)
    argv = [*engine.argv, "build", "-t", _TAG, "--iidfile", str(iid), *flags, str(ctx)]
    done = run_timed(argv, env=engine.env, timeout=600)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["-"])[-1]
        raise BenchError(f"{engine.name} build {' '.join(flags)}: exit {done.returncode}: {tail}")
    out = done.stdout + done.stderr
    hits = sum(any(mark in line for mark in _HIT_MARKS) for line in out.splitlines())
    return Build(done.elapsed, iid.read_text().strip(), hits)


def _engines(
    work: Path, ctx: Path, args: argparse.Namespace, stack: contextlib.ExitStack
) -> tuple[list[Engine], dict[str, str]]:
    """dockyard and each peer that imports the base and builds W2 once; ``notes``: why not."""
    from tests.support.rootfs import cached

    debian = cached("busybox" if args.quick else "debian")
    ours = _dockyard(work)
    ours.run("import", str(debian), "debian:bookworm", timeout=600)
    _build(ours, ctx)
    engines, notes = [ours], {}
    for name in _PEERS:
        if getattr(args, f"no_{name}"):
            notes[name] = f"skipped (--no-{name})"
            continue
        try:
            with contextlib.ExitStack() as own:  # a peer that fails is stopped at once
                if name == "docker":
                    engine = _start_dockerd(work, own)
                    engine.env["DOCKER_BUILDKIT"] = "0"  # the classic builder, said explicitly
                else:
                    engine = _podman(work)
                    (work / "tmp").mkdir(exist_ok=True)
                    engine.env["TMPDIR"] = str(work / "tmp")
                engine.run("import", str(debian), "debian:bookworm", timeout=600)
                _build(engine, ctx)
                stack.enter_context(own.pop_all())
        except (BenchError, OSError, subprocess.TimeoutExpired) as err:
            notes[name] = f"not working: {err}"
            continue
        engines.append(engine)
    return engines, notes


# ---- workloads -----------------------------------------------------------------------------

Results = dict[str, dict[str, list[Build]]]  # workload -> engine -> builds


def _measure(
    engines: list[Engine], ctx: Path, runs: int, files: int, notes: dict[str, str]
) -> tuple[Results, dict[str, str]]:
    """W2, W2c and W2f, interleaved; a peer whose build fails is dropped with its error.

    Returns the results and ``checks``: engine name -> problems seen (ids that did not
    behave as the workload requires)."""
    res: Results = {}
    checks: dict[str, str] = {}
    live = list(engines)

    def each(key: str, *flags: str) -> dict[str, Build]:
        done: dict[str, Build] = {}
        for engine in list(live):
            try:
                done[engine.name] = build = _build(engine, ctx, *flags)
            except (BenchError, subprocess.TimeoutExpired) as err:
                if engine.name == "dockyard":
                    raise
                notes[engine.name] = f"failed during {key or 'the untimed cached build'}: {err}"
                live.remove(engine)
                continue
            if key:
                res.setdefault(key, {}).setdefault(engine.name, []).append(build)
        return done

    def check(name: str, problem: str) -> None:
        checks[name] = f"{checks[name]}; {problem}" if name in checks else problem

    for _ in range(runs):
        each("W2", "--no-cache")
    reference = {name: b.image for name, b in each("").items()}  # settles the caches, untimed
    for run in range(runs):
        for name, build in each("W2c").items():
            if build.image != reference[name]:
                check(name, f"W2c run {run + 1} made a new image (cache missed)")
    previous = dict(reference)
    for run in range(runs):
        changed = _touch_one(ctx, run, files)
        for name, build in each("W2f").items():
            if build.image == previous[name]:
                check(name, f"W2f run {run + 1}: {changed} changed, same image id")
            previous[name] = build.image
    for engine in live:  # the result works: W2's CMD counts the copied files
        try:
            out = engine.run("run", "--rm", _TAG).strip()
            if out != str(files):
                check(engine.name, f"`run --rm {_TAG}` printed {out!r}, not {files}")
        except (BenchError, subprocess.TimeoutExpired) as err:
            check(engine.name, f"`run --rm {_TAG}` failed: {err}")
    return res, checks


# ---- the report ----------------------------------------------------------------------------

WORKLOADS = [
    Workload("W2", "W2 cold build (`build --no-cache`)", "s", "podman", 0.8),
    Workload("W2c", "W2c fully cached rebuild", "s", "docker", 0.25),
    Workload("W2f", "W2f rebuild after 1 of the files changed", "s", "podman", 0.5),
    Workload("W2chits", "cache hits per W2c build", "count"),
    Workload("W2fhits", "cache hits per W2f build", "count"),
]


def _suite(res: Results, checks: dict[str, str], files: int, suite: Suite) -> None:
    """Times and cache hits as samples; the checks as notes."""
    for key, builds in res.items():
        for name, done in builds.items():
            for build in done:
                suite.add(key, name, build.elapsed)
                if key != "W2":
                    suite.add(f"{key}hits", name, build.hits)
    ok = [n for n in suite.tools if n in suite.versions and n not in checks]
    suite.notes += [
        "Docker's builder: the classic builder (`DOCKER_BUILDKIT=0`).",
        f"Checks passed (W2c same image, W2f new image, `run --rm {_TAG}` prints {files}): "
        + (", ".join(ok) or "none") + ".",
        *(f"Check failed: {name}: {why}." for name, why in checks.items()),
    ]  # fmt: skip


# ---- inside the namespaces -----------------------------------------------------------------


def _fstype(path: Path) -> str:
    """The type of the filesystem ``path`` is on (``findmnt``), e.g. ext4 or tmpfs."""
    argv = ["findmnt", "-n", "-o", "FSTYPE", "--target", str(path)]
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (out.stdout.split() or ["unknown filesystem"])[-1]  # stacked mounts: the top one


def _inner(work: Path, args: argparse.Namespace) -> int:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"], check=True)
    _RUN.mkdir()
    (work / "netns").write_text(f"{os.getpid()} {os.readlink('/proc/self/ns/net')}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the finally blocks clean up
    files = 100 if args.quick else _FILES
    suite = Suite("builds", "Builds", ["dockyard", *_PEERS], WORKLOADS)
    suite.begin(
        runs=str(args.runs), context=f"{files} files",
        base="busybox" if args.quick else "Debian minbase",
        fs=f"state roots and context in {work.parent} ({_fstype(work)})",
    )  # fmt: skip
    ctx = _context(work, files)
    with contextlib.ExitStack() as stack:
        engines, suite.missing = _engines(work, ctx, args, stack)
        suite.versions = {e.name: e.version for e in engines}
        print("measuring " + ", ".join(e.name for e in engines), file=sys.stderr)
        res, checks = _measure(engines, ctx, args.runs, files, suite.missing)
    suite.end()
    _suite(res, checks, files, suite)
    suite.write(work / "suite.json")
    (work / "table.md").write_text(table(suite) + "\n")
    return 0


# ---- outside: isolation and the cleanup that cannot fail -----------------------------------


def _outer(args: argparse.Namespace) -> int:
    return run_isolated(
        Path(__file__), args, host_paths=(*_HOST_PATHS, *_HOST_EXTRA), tmp_scan=_TMP_SCAN
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed builds per workload/engine")
    parser.add_argument("--quick", action="store_true", help="busybox base, 100 files")
    output_options(parser)
    engine_options(parser, _PEERS)
    args = parser.parse_args()
    dispatch(args, _inner, _outer)


if __name__ == "__main__":
    main()
