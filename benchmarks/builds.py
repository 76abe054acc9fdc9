"""Image builds against Docker and Podman, interleaved: W2 (cold), W2c (cached), W2f (1 file).

Usage: python benchmarks/builds.py [--runs 5] [--out FILE] [--workdir DIR]
                                   [--no-docker] [--no-podman]

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
as ``debian:bookworm`` (``dockyard import`` / ``docker import`` / ``podman import``), followed
by one untimed build (warms caches, proves the engine builds). A peer that is missing or fails
there is left out, and the report says why; one that fails later is dropped with its error.
After the timed runs each engine runs its ``w2`` once (``run --rm w2``, untimed) and the
report says whether it printed 1000.

Isolation and cleanup are those of ``benchmarks/containers.py`` (imported from it): the
script re-executes itself under ``unshare --mount --net`` with a tmpfs over ``/run``; the
state roots live in one temporary directory, run roots on that tmpfs; Docker is a private
``dockerd`` started and stopped by the run; Podman's temporary files (``TMPDIR``) go to the
temporary directory too. Afterwards the outer process kills whatever is still alive in the
run's network namespace or its containers' cgroups, removes the cgroups the run created, the
temporary directory, and the host paths the peers write outside their roots (Podman's global
``/dev/shm/libpod_lock`` among them) when the run created them; it names anything new in
``/var/tmp`` (not removed: it may not be ours). The dockyard sources are byte-compiled
first, and dockyard is the ``dockyard`` console script beside this interpreter.

Prints a Markdown report (medians, ratios against the peer each target names, targets, the
min-max spread, cache hits, the check run, load average at start and end, versions) and writes
it to --out. Needs root and ``unshare`` (util-linux).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/containers.py
from containers import (
    _HOST_PATHS,
    _INNER,
    _PEERS,
    _RUN,
    BenchError,
    Engine,
    _dockyard,
    _podman,
    _start_dockerd,
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
_FILES, _FILE_SIZE = 1000, 200
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


def _context(work: Path) -> Path:
    """W2's context: the Dockerfile and ``files/`` with _FILES files of _FILE_SIZE bytes."""
    ctx = work / "context"
    (ctx / "files").mkdir(parents=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    for i in range(_FILES):
        (ctx / "files" / f"f{i:04d}.txt").write_bytes(_content(f"f{i:04d}.txt", -1))
    return ctx


def _touch_one(ctx: Path, run: int) -> str:
    """Give one file (a different one for each ``run``) new content of the same size."""
    name = f"f{(run * 397 + 11) % _FILES:04d}.txt"  # 397 is prime to 1000: no repeats
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
    start = time.perf_counter()
    proc = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=engine.env,
        timeout=600,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["-"])[-1]
        raise BenchError(f"{engine.name} build {' '.join(flags)}: exit {proc.returncode}: {tail}")
    out = proc.stdout + proc.stderr
    hits = sum(any(mark in line for mark in _HIT_MARKS) for line in out.splitlines())
    return Build(elapsed, iid.read_text().strip(), hits)


def _engines(
    work: Path, ctx: Path, args: argparse.Namespace, stack: contextlib.ExitStack
) -> tuple[list[Engine], dict[str, str]]:
    """dockyard and each peer that imports the base and builds W2 once; ``notes``: why not."""
    from tests.support.rootfs import cached

    debian = cached("debian")
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
    engines: list[Engine], ctx: Path, runs: int, notes: dict[str, str]
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
        changed = _touch_one(ctx, run)
        for name, build in each("W2f").items():
            if build.image == previous[name]:
                check(name, f"W2f run {run + 1}: {changed} changed, same image id")
            previous[name] = build.image
    for engine in live:  # the result works: W2's CMD counts the copied files
        try:
            out = engine.run("run", "--rm", _TAG).strip()
            if out != str(_FILES):
                check(engine.name, f"`run --rm {_TAG}` printed {out!r}, not {_FILES}")
        except (BenchError, subprocess.TimeoutExpired) as err:
            check(engine.name, f"`run --rm {_TAG}` failed: {err}")
    return res, checks


# ---- the table -----------------------------------------------------------------------------

_ROWS = (  # key, label, target peer, target ratio
    ("W2", "W2 cold build (`build --no-cache`)", "podman", 0.8),
    ("W2c", "W2c fully cached rebuild", "docker", 0.25),
    ("W2f", "W2f rebuild after 1 of 1,000 files changed", "podman", 0.5),
)


def _median(res: Results, key: str, name: str) -> float | None:
    builds = res.get(key, {}).get(name)
    return statistics.median(b.elapsed for b in builds) if builds else None


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def _ratio(res: Results, key: str, peer: str, target: float) -> tuple[str, str]:
    ours, theirs = _median(res, key, "dockyard"), _median(res, key, peer)
    goal = f"<= {target:g}x {peer}"
    if ours is None or theirs is None:
        return f"n/a ({peer} not measured)", goal
    ratio = ours / theirs
    return f"{ratio:.2f}x {peer}", f"{goal}: {'met' if ratio <= target else '**missed**'}"


def _table(
    res: Results, notes: dict[str, str], checks: dict[str, str], engines: list[Engine],
    meta: dict[str, str],
) -> str:  # fmt: skip
    """The Markdown report: medians, ratios and targets; spread; cache hits; notes."""
    names = ["dockyard", *_PEERS]
    lines = [
        f"Builds, {meta['date']}: {meta['machine']}; {meta['fs']}; --runs {meta['runs']}; "
        f"load average at start {meta['load']}, at end {meta['load_end']}",
        "",
        "| workload | dockyard | docker | podman | ratio | target |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for key, label, peer, target in _ROWS:
        cells = [_s(_median(res, key, n)) for n in names]
        ratio, goal = _ratio(res, key, peer, target)
        lines.append(f"| {label} | {' | '.join(cells)} | {ratio} | {goal} |")
    lines += ["", "Spread (min - max), and cache hits per build (min - max):", ""]
    lines += ["| workload | dockyard | docker | podman |", "| --- | ---: | ---: | ---: |"]
    for key, *_ in _ROWS:
        builds = [res.get(key, {}).get(n) for n in names]
        times = [
            f"{_s(min(b.elapsed for b in v))} - {_s(max(b.elapsed for b in v))}" if v else "-"
            for v in builds
        ]
        hits = [f"{min(b.hits for b in v)} - {max(b.hits for b in v)}" if v else "-"
                for v in builds]  # fmt: skip
        lines.append(f"| {key} time | {' | '.join(times)} |")
        lines.append(f"| {key} cache hits | {' | '.join(hits)} |")
    ok = [e.name for e in engines if e.name not in checks and e.name not in notes]
    lines += [
        "",
        "Measured: " + "; ".join(e.version for e in engines) + ". Docker's builder: the classic "
        "builder (`DOCKER_BUILDKIT=0`).",
        f"Checks passed (W2c same image, W2f new image, `run --rm {_TAG}` prints {_FILES}): "
        + (", ".join(ok) or "none") + ".",
    ]  # fmt: skip
    lines += [f"Check failed: {name}: {why}." for name, why in checks.items()]
    lines += [f"Not measured: {name}: {why}." for name, why in notes.items()]
    return "\n".join(lines)


# ---- inside the namespaces -----------------------------------------------------------------


def _fstype(path: Path) -> str:
    """The type of the filesystem ``path`` is on (``findmnt``), e.g. ext4 or tmpfs."""
    argv = ["findmnt", "-n", "-o", "FSTYPE", "--target", str(path)]
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (out.stdout.split() or ["unknown filesystem"])[-1]  # stacked mounts: the top one


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _inner(work: Path, args: argparse.Namespace) -> int:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"], check=True)
    _RUN.mkdir()
    (work / "netns").write_text(f"{os.getpid()} {os.readlink('/proc/self/ns/net')}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the finally blocks clean up
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "runs": str(args.runs),
        "machine": f"{os.cpu_count()} cores, Linux {platform.release()}", "load": _load(),
        "fs": f"state roots and context in {work.parent} ({_fstype(work)})",
    }  # fmt: skip
    ctx = _context(work)
    with contextlib.ExitStack() as stack:
        engines, notes = _engines(work, ctx, args, stack)
        print("measuring " + ", ".join(e.name for e in engines), file=sys.stderr)
        res, checks = _measure(engines, ctx, args.runs, notes)
    meta["load_end"] = _load()
    (work / "table.md").write_text(_table(res, notes, checks, engines, meta) + "\n")
    return 0


# ---- outside: isolation and the cleanup that cannot fail -----------------------------------


def _outer(args: argparse.Namespace) -> int:
    return run_isolated(
        Path(__file__), args, host_paths=(*_HOST_PATHS, *_HOST_EXTRA), tmp_scan=_TMP_SCAN
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed builds per workload/engine")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--workdir", type=Path, help="where the state roots go (default /tmp)")
    parser.add_argument("--no-docker", action="store_true")
    parser.add_argument("--no-podman", action="store_true")
    args = parser.parse_args()
    inner = os.environ.get(_INNER)
    sys.exit(_inner(Path(inner), args) if inner else _outer(args))


if __name__ == "__main__":
    main()
