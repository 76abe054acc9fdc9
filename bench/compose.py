"""Compose: ``up -d`` and ``down`` of a 10-service project, against Debian's docker-compose (v1,
on a private dockerd) and podman-compose, interleaved.

Usage: python bench/compose.py [--runs 5] [--services 10] [--out FILE] [--json FILE]
                               [--workdir DIR] [--no-docker] [--no-podman] [--install-peers]

Usually run by the suite's entry point, ``bench/run`` (every workload, one report).

The project: ``--services`` busybox services (``sleep 300`` under ``init: true``, so that
``down``'s SIGTERM ends them at once on every engine), on the project's default network, in
one file every tool reads (``version: "3.7"``: docker-compose v1 wants one; dockyard notes it
is obsolete). Each run, engine after engine: ``up -d`` (timed, from the command's start to its
exit), a check that the project's containers all run, then ``down`` (timed). One untimed
``up -d`` + ``down`` per engine first proves it works (a peer that fails there is left out
with the reason).

The peers: Debian's ``docker-compose`` (1.29, Python) on a private ``dockerd``, and Debian's
``podman-compose`` driving ``podman`` with the benchmark's private roots (through a wrapper
script, as ``--podman-path``). They are not installed by the tests; ``--install-peers``
installs the missing ones with apt-get first.

Isolation, cleanup, the engines' private roots and the busybox image are those of
``bench/containers.py`` (imported from it): the script re-executes itself under
``unshare --mount --net`` with a tmpfs over ``/run``; everything the engines create lives in
the benchmark's namespaces and temporary directory and goes with them.

Prints a Markdown report (``bench/report.py``'s table: medians, the ratio against the faster
peer, the target, the min-max spread, load average at start and end, versions), writes it to
--out and every raw sample to --json.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from report import Suite, Workload, engine_options, output_options, table
from timing import run_timed

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/containers.py
from containers import (
    _HOST_PATHS,
    _INNER,
    _PEERS,
    _RUN,
    BenchError,
    Engine,
    _dockyard,
    _podman,
    _prepare,
    _start_dockerd,
    run_isolated,
)

_PROJECT = "bench"
# Podman's lock file is global whatever its --root: removed after the run if the run made it.
_HOST_EXTRA = (Path("/dev/shm/libpod_lock"),)


def _compose_file(work: Path, services: int) -> Path:
    lines = ['version: "3.7"', "services:"]
    for i in range(1, services + 1):
        lines += [f"  s{i}:", "    image: busybox", '    command: ["sleep", "300"]',
                  "    init: true"]  # fmt: skip
    path = work / "project" / "compose.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


class Tool:
    """One compose implementation: its command line and the engine it drives."""

    def __init__(self, name: str, argv: list[str], engine: Engine, env: dict[str, str]) -> None:
        self.name, self.argv, self.engine, self.env = name, argv, engine, env
        self.version = ""

    def run(self, *args: str) -> float:
        """Run ``argv + args`` in the project directory; its wall time."""
        done = run_timed([*self.argv, *args], env=self.env, timeout=600)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["(no stderr)"])[-1]
            raise BenchError(f"{self.name} {' '.join(args)}: exit {done.returncode}: {tail}")
        return done.elapsed

    def running(self) -> int:
        """How many containers of the project run (read through the engine)."""
        fmt = "{{.Names}} {{.State}}" if self.engine.name != "dockyard" else "{{.Names}}"
        out = self.engine.run("ps", "--format", fmt)
        return sum(1 for line in out.splitlines() if line.startswith((f"{_PROJECT}-",
                                                                      f"{_PROJECT}_")))  # fmt: skip


def _tools(work: Path, compose: Path, args: argparse.Namespace,
           stack: contextlib.ExitStack) -> tuple[list[Tool], dict[str, str]]:  # fmt: skip
    from tests.support.rootfs import cached

    busybox = cached("busybox")
    ours = _dockyard(work)
    _prepare(ours, busybox)
    base = ["-p", _PROJECT, "-f", str(compose)]
    tools = [Tool("dockyard", [*ours.argv, "compose", *base], ours, ours.env)]
    tools[0].version = ours.version
    notes: dict[str, str] = {}
    for name in _PEERS:
        if getattr(args, f"no_{name}"):
            notes[name] = f"skipped (--no-{name})"
            continue
        try:
            with contextlib.ExitStack() as own:
                tool = _docker_compose(work, own, base) if name == "docker" else _podman_compose(
                    work, base)  # fmt: skip
                _prepare(tool.engine, busybox)
                _once(tool, args.services)
                stack.enter_context(own.pop_all())
        except (BenchError, OSError, subprocess.TimeoutExpired) as err:
            notes[name] = f"not working: {err}"
            continue
        tools.append(tool)
    _once(tools[0], args.services)
    return tools, notes


def _docker_compose(work: Path, stack: contextlib.ExitStack, base: list[str]) -> Tool:
    found = shutil.which("docker-compose")
    if found is None:
        raise BenchError("docker-compose is not installed (apt-get install docker-compose, "
                         "or --install-peers)")  # fmt: skip
    engine = _start_dockerd(work, stack)
    env = {**os.environ, "DOCKER_HOST": f"unix://{_RUN / 'docker.sock'}"}
    tool = Tool("docker-compose", [found, *base], engine, env)
    version = subprocess.run([found, "version", "--short"], capture_output=True, text=True,
                             env=env, check=False).stdout.strip()  # fmt: skip
    tool.version = f"docker-compose {version} on {engine.version}"
    return tool


def _podman_compose(work: Path, base: list[str]) -> Tool:
    found = shutil.which("podman-compose")
    if found is None:
        raise BenchError("podman-compose is not installed (apt-get install podman-compose, "
                         "or --install-peers)")  # fmt: skip
    engine = _podman(work)
    wrapper = work / "podman-wrapper"
    wrapper.write_text("#!/bin/sh\nexec " + " ".join(engine.argv) + ' "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, **_podman_init(work)}
    engine.env.update(env)
    tool = Tool("podman-compose", [found, "--podman-path", str(wrapper), *base], engine, env)
    out = subprocess.run([found, "version"], capture_output=True, text=True, check=False).stdout
    own = [line.split()[-1] for line in out.splitlines() if "podman-compose" in line]
    tool.version = f"podman-compose {own[0] if own else '?'} on {engine.version}"
    return tool


def _podman_init(work: Path) -> dict[str, str]:
    """``init: true`` needs podman's init binary (catatonit); Debian's podman does not bring
    it, so without it the run points podman at tini (``docker-init``) through a copy of the
    host's containers.conf with ``init_path`` set (``CONTAINERS_CONF``)."""
    if Path("/usr/libexec/podman/catatonit").exists():
        return {}
    init = shutil.which("docker-init") or shutil.which("tini")
    if init is None:
        raise BenchError("no init for podman's --init (apt-get install catatonit or tini)")
    host = Path("/etc/containers/containers.conf")
    text = host.read_text() if host.exists() else ""
    line = f'init_path = "{init}"\n'
    if "[containers]\n" in text:
        text = text.replace("[containers]\n", "[containers]\n" + line, 1)
    else:
        text = "[containers]\n" + line + text
    conf = work / "containers.conf"
    conf.write_text(text)
    return {"CONTAINERS_CONF": str(conf)}


def _once(tool: Tool, services: int) -> None:
    """One untimed up + down that must bring up every service."""
    tool.run("up", "-d")
    try:
        if tool.running() != services:
            states = tool.engine.run("ps", "-a", "--format", "{{.Names}}: {{.Status}}")
            raise BenchError(
                f"{tool.name}: up -d ran {tool.running()} of {services} services "
                f"({'; '.join(states.splitlines()[:3]) or 'no containers'})"
            )
    finally:
        tool.run("down")


WORKLOADS = [  # up -d <= 0.3x the faster peer (issue 9)
    Workload("up", "`up -d` of the project", "s", "fastest", 0.3),
    Workload("down", "`down` of the project", "s", "fastest"),
]
_TOOLS = {"docker": "docker-compose", "podman": "podman-compose"}  # peer engine -> its tool


def _measure(tools: list[Tool], runs: int, services: int, suite: Suite) -> None:
    for _ in range(runs):
        for tool in list(tools):
            try:
                up = tool.run("up", "-d")
                count = tool.running()
                if count != services:
                    raise BenchError(f"{tool.name}: {count} of {services} services run after up")
                down = tool.run("down")
            except (BenchError, subprocess.TimeoutExpired) as err:
                if tool.name == "dockyard":
                    raise
                suite.missing[tool.name] = f"dropped: {err}"
                tools.remove(tool)
                with contextlib.suppress(BenchError, subprocess.TimeoutExpired):
                    tool.run("down")
                continue
            suite.add("up", tool.name, up)
            suite.add("down", tool.name, down)


def _inner(work: Path, args: argparse.Namespace) -> int:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"], check=True)
    _RUN.mkdir()
    (work / "netns").write_text(f"{os.getpid()} {os.readlink('/proc/self/ns/net')}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the finally blocks clean up
    suite = Suite("compose", "Compose", ["dockyard", *_TOOLS.values()], WORKLOADS)
    suite.begin(runs=str(args.runs), services=str(args.services))
    compose = _compose_file(work, args.services)
    with contextlib.ExitStack() as stack:
        tools, notes = _tools(work, compose, args, stack)
        suite.missing = {_TOOLS[peer]: why for peer, why in notes.items()}
        suite.versions = {t.name: t.version for t in tools}
        print("measuring " + ", ".join(t.name for t in tools), file=sys.stderr)
        try:
            _measure(tools, args.runs, args.services, suite)
        finally:
            for tool in tools:
                with contextlib.suppress(BenchError, subprocess.TimeoutExpired):
                    tool.run("down")
    suite.end()
    suite.write(work / "suite.json")
    (work / "table.md").write_text(table(suite) + "\n")
    return 0


def _outer(args: argparse.Namespace) -> int:
    """Run the measurement in private namespaces; clean up whatever happens; the report."""
    return run_isolated(Path(__file__), args, host_paths=(*_HOST_PATHS, *_HOST_EXTRA))


def _install_peers() -> None:
    missing = [p for p in ("docker-compose", "podman-compose") if shutil.which(p) is None]
    if missing:
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed up/down pairs per tool")
    parser.add_argument("--services", type=int, default=10, help="services in the project")
    output_options(parser)
    engine_options(parser, _PEERS)
    parser.add_argument(
        "--install-peers",
        action="store_true",
        help="apt-get install docker-compose and podman-compose if missing",
    )
    args = parser.parse_args()
    inner = os.environ.get(_INNER)
    if inner:
        sys.exit(_inner(Path(inner), args))
    if args.install_peers:
        _install_peers()
    sys.exit(_outer(args))


if __name__ == "__main__":
    main()
