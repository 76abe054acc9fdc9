"""Container workloads against Docker and Podman, interleaved: W1, W1n, W4, W4p, W4r, W5, monitor.

Usage: python bench/containers.py [--runs 10] [--count 50] [--quick] [--out FILE]
                                  [--json FILE] [--workdir DIR] [--no-docker] [--no-podman]

Usually run by the suite's entry point, ``bench/run`` (every workload, one report).

Workloads (``../shared/design/PERFORMANCE.md``), each engine on its own private state:

- W1 ``run --rm busybox /bin/true`` and W1n the same with ``--network none``: --runs each,
  interleaved (dockyard, docker, podman, then ``python -c pass`` as the interpreter floor),
  after one untimed warm-up run per engine; the peak RSS of the W1 command (``wait4``);
- W4 ``run -d busybox sleep 300``, --count containers per engine, interleaved container by
  container (median per container); W4p ``ps`` with them running (median of --runs); W4r one
  ``rm -f`` of all of them (total time);
- monitor memory: RSS and PSS (``/proc/PID/smaps_rollup``) of the process that watches each
  running container (dockyard: ``monitor_pid`` of state.json; docker: the
  containerd-shim, parent of the container's init; podman: conmon), median over 10 of the
  W4 containers, measured while all W4 containers run;
- W5 disk: ``du`` of each engine's state root before and after 10 containers of the cached
  Debian minbase rootfs (``tests/support/rootfs.py``, ~200 MB; busybox with --quick) each ran
  ``true``.

Images: the busybox and Debian rootfs tarballs of ``tests/support/rootfs.py``, imported into
each engine (``dockyard import`` / ``docker import`` / ``podman import``): no registry needed.

Isolation (so the run leaves nothing behind, even on failure): the script re-executes itself
under ``unshare --mount --net`` with a tmpfs over ``/run``. Inside, every engine's state root
lives in one temporary directory and its run root on that tmpfs (dockyard's DOCKYARD_RUNROOT,
dockerd's exec-root, podman's runroot and tmpdir), so mounts, network namespaces, bridges,
veths and iptables rules the engines create exist only in the benchmark's namespaces. Docker
is a private ``dockerd`` started for the run (default bridge and iptables, inside the private
network namespace) and stopped after it; a daemon already running elsewhere is not used. The
outer process then kills whatever is still alive in the benchmark's network namespace or in
the cgroups of its containers, removes the cgroup directories the run created, and deletes the
temporary directory.

Like ``bench/runtime.py``, the dockyard sources are byte-compiled first, and dockyard is
the ``dockyard`` console script beside this interpreter (never a pyenv shim). Podman gets
``--runtime runc --cgroup-manager cgroupfs`` on its command line; it still needs the
``default_ulimits`` of ``/etc/containers/containers.conf`` (PERFORMANCE.md). A peer that is
missing or fails its first ``run`` is left out, and the report says why.

Prints a Markdown report (``bench/report.py``'s table) and writes it to --out, and every raw
sample to --json: the medians (workload, dockyard, docker,
podman, ratio, target; ratios only against peers measured), the min-max spread of the timed
workloads, the interpreter floors (``python -c pass`` in the W1 loop; the RSS and PSS of an
idle ``python -I -S``, the least any Python monitor costs), the load average at start and end
(the machines are shared: read the ratios, not the absolute times), and the versions.
Needs root, ``unshare`` (util-linux) and ``du``.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from report import Suite, Workload, engine_options, fmt, output_options, table
from timing import Timed, run_timed

import dockyard

_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO))  # for tests.support.rootfs

_INNER = "DOCKYARD_BENCH_INNER"  # set in the re-executed (namespaced) process: the work dir
_RUN = Path("/run/dockyard-bench")  # on the private tmpfs, inside the namespaces only
_PEERS = ("docker", "podman")
_CG_PARENTS = ("docker", "libpod_parent", "dockyard")
# Host paths the peers write outside their roots (podman's blob-info cache, dockerd's identity):
# removed after the run when they were not there before it.
_HOST_PATHS = (Path("/var/lib/containers"), Path("/etc/docker/key.json"))


class BenchError(Exception):
    """A command of the benchmark failed."""


class Engine:
    """One engine's command line, private roots, and how to find a container's monitor."""

    def __init__(self, name: str, argv: list[str], root: Path, env: dict[str, str]) -> None:
        self.name, self.argv, self.root, self.env = name, argv, root, env
        self.version = ""
        self.monitor = ""  # the monitor process's name, once measured

    def run(self, *args: str, timeout: float = 300) -> str:
        """Run ``argv + args``; its stdout. Raises BenchError on a non-zero exit."""
        return self.timed(*args, timeout=timeout).stdout

    def timed(self, *args: str, timeout: float = 300) -> Timed:
        """Run ``argv + args``: wall time, peak RSS and output. Raises BenchError on a
        non-zero exit."""
        done = run_timed([*self.argv, *args], env=self.env, timeout=timeout)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["(no stderr)"])[-1]
            raise BenchError(f"{self.name} {' '.join(args[:4])}: exit {done.returncode}: {tail}")
        return done

    def monitor_pid(self, cid: str) -> int:
        """The pid of the process that watches container ``cid`` while it runs."""
        if self.name == "dockyard":
            state = json.loads((self.root / "containers" / cid / "state.json").read_text())
            return int(state["monitor_pid"])
        if self.name == "podman":
            return int(self.run("inspect", "-f", "{{.State.ConmonPid}}", cid))
        init = int(self.run("inspect", "-f", "{{.State.Pid}}", cid))
        stat = Path(f"/proc/{init}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[1])  # ppid: the containerd-shim

    def remove_all(self) -> None:
        """``rm -f`` every container of this engine (teardown; errors are ignored)."""
        now = ["-t", "0"] if self.name == "podman" else []  # podman's rm -f waits 10 s first
        try:
            ids = self.run("ps", "-aq").split()
            if ids:
                print(f"teardown: {self.name}: rm -f {len(ids)} containers", file=sys.stderr)
                self.run("rm", "-f", *now, *ids)
        except (BenchError, subprocess.TimeoutExpired) as err:
            print(f"teardown: {err}", file=sys.stderr)


# ---- engines ---------------------------------------------------------------------------------


def _dockyard(work: Path) -> Engine:
    script = Path(sys.executable).parent / "dockyard"  # not a pyenv shim (~50 ms of bash)
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "dockyard"]
    env = {**os.environ, "DOCKYARD_RUNROOT": str(_RUN / "dockyard")}
    engine = Engine("dockyard", [*argv, "--root", str(work / "dockyard")], work / "dockyard", env)
    engine.version = f"dockyard {getattr(dockyard, '__version__', '(dev)')}"
    return engine


def _start_dockerd(work: Path, stack: contextlib.ExitStack) -> Engine:
    """Start a private dockerd for the run (stopped by ``stack``); its client as an Engine."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise BenchError("no dockerd installed (client only: apt-get install docker.io)")
    beside = Path(dockerd).resolve().parent.parent / "bin" / "docker"  # the matching client
    client = str(beside) if beside.exists() else shutil.which("docker")
    if client is None:
        raise BenchError("dockerd without a docker client")
    sock = f"unix://{_RUN / 'docker.sock'}"
    log = (work / "dockerd.log").open("wb")
    stack.callback(log.close)
    proc = subprocess.Popen(
        [dockerd, "--data-root", str(work / "docker"), "--exec-root", str(_RUN / "docker"),
         "--pidfile", str(work / "dockerd.pid"), "-H", sock],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # a ^C reaches the benchmark, which then stops dockerd in order
    )  # fmt: skip
    stack.callback(_stop, proc)
    engine = Engine("docker", [client, "-H", sock], work / "docker", dict(os.environ))
    for _ in range(150):
        with contextlib.suppress(BenchError, subprocess.TimeoutExpired):
            fmt = "client {{.Client.Version}}, daemon {{.Server.Version}}"
            engine.version = "docker " + engine.run("version", "-f", fmt, timeout=10).strip()
            return engine
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise BenchError(f"dockerd did not come up (see its log: {work / 'dockerd.log'})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _podman(work: Path) -> Engine:
    podman = shutil.which("podman")
    if podman is None:
        raise BenchError("not installed (apt-get install podman)")
    argv = [podman, "--root", str(work / "podman"), "--runroot", str(_RUN / "podman"),
            "--tmpdir", str(_RUN / "libpod"), "--runtime", "runc",
            "--cgroup-manager", "cgroupfs"]  # fmt: skip
    engine = Engine("podman", argv, work / "podman", dict(os.environ))
    engine.version = engine.run("--version").strip()
    return engine


def _prepare(engine: Engine, busybox: Path) -> None:
    """Import busybox, then one untimed ``run --rm`` (warms caches, proves the engine works)."""
    engine.run("import", str(busybox), "busybox")
    engine.run("run", "--rm", "busybox", "/bin/true")


def _engines(
    work: Path, args: argparse.Namespace, stack: contextlib.ExitStack
) -> tuple[list[Engine], dict[str, str]]:
    """dockyard and each peer that works; ``notes``: peer name -> why it is missing."""
    from tests.support.rootfs import cached

    busybox = cached("busybox")
    ours = _dockyard(work)
    stack.callback(ours.remove_all)
    _prepare(ours, busybox)
    engines, notes = [ours], {}
    makers: dict[str, Callable[[contextlib.ExitStack], Engine]] = {
        "docker": lambda own: _start_dockerd(work, own),
        "podman": lambda own: _podman(work),
    }
    for name in _PEERS:
        if getattr(args, f"no_{name}"):
            notes[name] = f"skipped (--no-{name})"
            continue
        try:
            with contextlib.ExitStack() as own:  # a peer that fails is stopped at once
                engine = makers[name](own)
                own.callback(engine.remove_all)
                _prepare(engine, busybox)
                stack.enter_context(own.pop_all())
        except (BenchError, OSError, subprocess.TimeoutExpired) as err:
            notes[name] = f"not working: {err}"
            continue
        engines.append(engine)
    return engines, notes


# ---- workloads -------------------------------------------------------------------------------

_FLOOR = "python"  # the interpreter floor's pseudo tool name in the samples

WORKLOADS = [
    Workload("W1", "W1 `run --rm busybox /bin/true`", "s", "docker", 0.35),
    Workload("W1n", "W1n same with `--network none`", "s", "docker", 0.20),
    Workload("W1rss", "peak RSS of the W1 command (client)", "kB"),
    Workload("W4", "W4 `run -d busybox sleep 300`, per container", "s", "podman", 0.4),
    Workload("W4p", "W4p `ps` with the W4 containers running", "ms", "docker", 1.5),
    Workload("W4r", "W4r `rm -f` of all W4 containers, one command", "s", "docker", 0.3),
    Workload("W5", "W5 disk for 10 containers of the W5 image", "+bytes", "podman", 1.0,
             goal="no more than podman"),
    Workload("RSS", "monitor RSS per running container", "kB", limit=10 * 1024),
    Workload("PSS", "monitor PSS per running container", "kB"),
]  # fmt: skip


def _w1(engines: list[Engine], runs: int, suite: Suite) -> None:
    for _ in range(runs):
        for engine in engines:
            for key, extra in (("W1", ()), ("W1n", ("--network", "none"))):
                done = engine.timed("run", "--rm", *extra, "busybox", "/bin/true")
                suite.add(key, engine.name, done.elapsed)
                if key == "W1":
                    suite.add("W1rss", engine.name, done.max_rss_kb)
        floor = run_timed([sys.executable, "-c", "pass"])
        suite.add("W1", _FLOOR, floor.elapsed)


def _w4(engines: list[Engine], count: int, runs: int, suite: Suite) -> None:
    ids: dict[str, list[str]] = {e.name: [] for e in engines}
    try:
        for _ in range(count):
            for engine in engines:
                done = engine.timed("run", "-d", "busybox", "sleep", "300")
                ids[engine.name].append(done.stdout.split()[-1])
                suite.add("W4", engine.name, done.elapsed)
        for _ in range(runs):
            for engine in engines:
                done = engine.timed("ps")
                if len(done.stdout.splitlines()) != count + 1:
                    running = len(done.stdout.splitlines()) - 1
                    raise BenchError(f"{engine.name} ps: {running} running")
                suite.add("W4p", engine.name, done.elapsed)
        _monitors(engines, ids, suite)
    finally:  # W4r, also the cleanup of the W4 containers when something above failed
        for engine in engines:
            if ids[engine.name]:
                suite.add("W4r", engine.name, engine.timed("rm", "-f", *ids[engine.name]).elapsed)


def _monitors(engines: list[Engine], ids: dict[str, list[str]], suite: Suite) -> None:
    """RSS and PSS of 10 monitors per engine, and of an idle ``python -I -S`` (the floor)."""
    time.sleep(1.0)  # let every monitor settle (dockyard's exec's its small loop)
    monitors = []
    for engine in engines:
        step = max(1, len(ids[engine.name]) // 10)
        for cid in ids[engine.name][::step][:10]:
            fields = _smaps_rollup(engine.monitor_pid(cid))
            suite.add("RSS", engine.name, fields["Rss"])
            suite.add("PSS", engine.name, fields["Pss"])
        cmdline = Path(f"/proc/{engine.monitor_pid(ids[engine.name][0])}/cmdline").read_bytes()
        program = os.path.basename(cmdline.split(b"\0")[0].decode())
        monitors.append(f"{engine.name} `{program}`")
    suite.notes.append("Monitor processes: " + ", ".join(monitors) + ".")
    idle = subprocess.Popen([sys.executable, "-I", "-S", "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)
        fields = _smaps_rollup(idle.pid)
        suite.add("RSS", _FLOOR, fields["Rss"])
        suite.add("PSS", _FLOOR, fields["Pss"])
    finally:
        idle.kill()
        idle.wait()


def _smaps_rollup(pid: int) -> dict[str, float]:
    """kB figures of /proc/PID/smaps_rollup (Rss, Pss, ...)."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        out[key] = float(rest.split()[0])
    return out


def _w5(engines: list[Engine], suite: Suite, image: Path, containers: int = 10) -> None:
    for engine in engines:
        engine.run("import", str(image), "w5-image", timeout=600)
    before = {e.name: _du(e.root) for e in engines}
    names = [f"bench-w5-{i}" for i in range(containers)]
    try:
        for name in names:
            for engine in engines:
                engine.run("run", "--name", name, "w5-image", "true")
        for engine in engines:
            suite.add("W5", engine.name, float(_du(engine.root) - before[engine.name]))
    finally:
        for engine in engines:
            with contextlib.suppress(BenchError):
                engine.run("rm", "-f", *names)


def _du(path: Path) -> int:
    """Bytes allocated under ``path`` (``du -sx``: active overlay mounts are not entered)."""
    out = subprocess.run(
        ["du", "-sx", "--block-size=1", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return int(out.split()[0])


def _floors(suite: Suite) -> None:
    floor = [suite.median(k, _FLOOR) for k in ("W1", "RSS", "PSS")]
    suite.notes.append(
        f"Interpreter floors: `python -c pass` {fmt(floor[0], 'ms')} (median, in the W1 loop); "
        f"an idle `python -I -S`: RSS {fmt(floor[1], 'kB')}, PSS {fmt(floor[2], 'kB')}."
    )


# ---- inside the namespaces -------------------------------------------------------------------


def _inner(work: Path, args: argparse.Namespace) -> int:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"], check=True)
    _RUN.mkdir()
    (work / "netns").write_text(f"{os.getpid()} {os.readlink('/proc/self/ns/net')}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the finally blocks clean up
    from tests.support.rootfs import cached

    image = "busybox" if args.quick else "debian"
    suite = Suite("containers", "Containers", ["dockyard", *_PEERS], WORKLOADS)
    suite.begin(runs=str(args.runs), containers=f"{args.count} W4", W5=f"{image} image")
    with contextlib.ExitStack() as stack:
        engines, suite.missing = _engines(work, args, stack)
        suite.versions = {e.name: e.version for e in engines}
        print("measuring " + ", ".join(e.name for e in engines), file=sys.stderr)
        _w1(engines, args.runs, suite)
        _w4(engines, args.count, args.runs, suite)
        _w5(engines, suite, cached(image))
    suite.end()
    _floors(suite)
    suite.write(work / "suite.json")
    (work / "table.md").write_text(table(suite) + "\n")
    return 0


# ---- outside: isolation and the cleanup that cannot fail -------------------------------------


def _cgroup_dirs() -> set[Path]:
    """Directories named like a peer's or dockyard's cgroup parent, in every hierarchy."""
    found: set[Path] = set()
    for hierarchy in [Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").iterdir()]:
        for name in _CG_PARENTS:
            if (hierarchy / name).is_dir():
                found.add(hierarchy / name)
    return found


def _our_ids(work: Path) -> set[str]:
    """Ids of the containers the run created (from the engines' private state roots)."""
    ids: set[str] = set()
    for sub in ("dockyard/containers", "docker/containers", "podman/overlay-containers"):
        if (work / sub).is_dir():
            ids.update(p.name for p in (work / sub).iterdir() if len(p.name) == 64)
    return ids


class _Netns:
    """A reference to the run's network namespace, held by the outer process.

    Holding it keeps the namespace's inode number from being reused by another namespace
    (someone else's container) before the leftover scan compares against it."""

    def __init__(self, work: Path) -> None:
        self.work, self.fd, self.name = work, -1, ""

    def grab(self) -> None:
        """Take the reference once the inner process has written ``PID NS`` (idempotent)."""
        if self.fd >= 0 or not (self.work / "netns").exists():
            return
        pid, name = (self.work / "netns").read_text().split()
        with contextlib.suppress(OSError):
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            if os.readlink(f"/proc/{pid}/ns/net") == name != os.readlink("/proc/self/ns/net"):
                self.fd, self.name = fd, name
            else:
                os.close(fd)

    def members(self) -> Iterator[int]:
        """Pids of the processes in the namespace (none when no reference was taken)."""
        if self.fd < 0:
            return
        for proc in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                if proc.name.isdigit() and os.readlink(proc / "ns/net") == self.name:
                    yield int(proc.name)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _in_cgroups(ids: set[str], parents: set[str]) -> Iterator[int]:
    """Pids whose cgroup path names one of ``ids`` or lies under one of ``parents``."""
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if not proc.name.isdigit():
                continue
            paths = [line.split(":", 2)[2] for line in (proc / "cgroup").read_text().splitlines()]
            if any(i in path for i in ids for path in paths) or any(
                path.startswith(f"/{parent}/") for parent in parents for path in paths
            ):
                yield int(proc.name)


def _cleanup(work: Path, netns: _Netns, cgroups_before: set[Path]) -> list[str]:
    """Kill what the run left alive, remove its cgroups and ``work``; what had to be done."""
    done: list[str] = []
    ids = _our_ids(work)
    fresh = {p.name for p in _cgroup_dirs() - cgroups_before if p.name != "dockyard"}
    for pid in {*netns.members(), *_in_cgroups(ids, fresh)}:
        with contextlib.suppress(OSError):
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            os.kill(pid, signal.SIGKILL)
            done.append(f"killed leftover pid {pid} ({comm})")
    if done:
        time.sleep(1.0)
    netns.release()
    for parent in _cgroup_dirs():  # ours by id; docker/ and libpod_parent/ whole if ours
        mine = [p for p in parent.rglob("*") if p.is_dir() and any(i in p.name for i in ids)]
        if parent not in cgroups_before and parent.name != "dockyard":
            mine += [parent, *(p for p in parent.rglob("*") if p.is_dir())]
        for path in sorted(set(mine), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                path.rmdir()  # only empty cgroups go
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if (mnt := line.split()[4]).startswith(str(work)):  # none expected: mounts were private
            subprocess.run(["umount", "-l", mnt], check=False)
            done.append(f"unmounted {mnt}")
    shutil.rmtree(work, ignore_errors=True)
    return done


def _outer(args: argparse.Namespace) -> int:
    return run_isolated(Path(__file__), args)


def run_isolated(
    script: Path,
    args: argparse.Namespace,
    *,
    host_paths: tuple[Path, ...] = _HOST_PATHS,
    tmp_scan: Path | None = None,
) -> int:
    """Re-run ``script`` under ``unshare --mount --net`` (its ``_INNER`` side measures and
    writes ``table.md``), clean up whatever happens, print the table (and write ``--out``).
    ``host_paths`` the peers may create outside their roots are removed when they were not
    there before; new entries of ``tmp_scan`` are reported (not ours to remove)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        raise SystemExit("needs root and unshare (util-linux)")
    compileall.compile_dir(str(Path(dockyard.__file__).parent), quiet=1)
    parent = str(args.workdir) if args.workdir else None
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir=parent))
    cgroups_before, netns, rc, report = _cgroup_dirs(), _Netns(work), 1, None
    fresh = [p for p in host_paths if not p.exists()]
    scanned = set(tmp_scan.iterdir()) if tmp_scan is not None and tmp_scan.is_dir() else set()
    argv = ["unshare", "--mount", "--net", "--propagation", "private", "--",
            sys.executable, str(script.resolve()), *sys.argv[1:]]  # fmt: skip
    try:
        child = subprocess.Popen(argv, env={**os.environ, _INNER: str(work)}, cwd=_REPO)
        while True:  # on ^C the child gets SIGINT too and cleans up: wait for it
            with contextlib.suppress(KeyboardInterrupt, subprocess.TimeoutExpired):
                netns.grab()
                rc = child.wait(timeout=0.2)
                break
        if (work / "table.md").exists():
            report = (work / "table.md").read_text()
            if args.json:
                shutil.copyfile(work / "suite.json", args.json)
        elif (work / "dockerd.log").exists():
            print((work / "dockerd.log").read_text()[-3000:], file=sys.stderr)
    finally:
        for what in _cleanup(work, netns, cgroups_before):
            print(f"cleanup: {what}", file=sys.stderr)
        for path in fresh:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()
        if tmp_scan is not None and tmp_scan.is_dir():  # a peer that ignored TMPDIR
            for path in set(tmp_scan.iterdir()) - scanned:
                print(f"cleanup: new in {tmp_scan} during the run: {path}", file=sys.stderr)
    if report is None:
        return rc or 1
    print(report, end="")
    if args.out:
        args.out.write_text(report)
    return rc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of W1, W1n and W4p")
    parser.add_argument("--count", type=int, default=50, help="W4 containers per engine")
    parser.add_argument("--quick", action="store_true", help="W5 with busybox, not Debian")
    output_options(parser)
    engine_options(parser, _PEERS)
    args = parser.parse_args()
    dispatch(args, _inner, _outer)


def dispatch(
    args: argparse.Namespace,
    inner: Callable[[Path, argparse.Namespace], int],
    outer: Callable[[argparse.Namespace], int],
) -> None:
    """Exit with ``inner``'s code inside the namespaces (re-executed), else ``outer``'s."""
    work = os.environ.get(_INNER)
    sys.exit(inner(Path(work), args) if work else outer(args))


if __name__ == "__main__":
    main()
