"""Concurrency and load (issue 11): one name raced by 20 ``run``s, N containers started in
parallel while ``ps`` and ``inspect`` watch, parallel builds sharing the cache, parallel pulls
of one image, and a create/start/stop/rm soak that must not grow fds, memory, mounts or the
database.

Sizes: ``$DOCKYARD_LOAD_CONTAINERS`` (default 100) containers, ``$DOCKYARD_SOAK_CYCLES``
(default 30; 60 and more by hand) soak cycles.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import DockyardRunner
from tests.robustness import faults
from tests.support.registries import free_port

pytestmark = [pytest.mark.root, pytest.mark.overlay, pytest.mark.cgroup, pytest.mark.netns]

SERVE = "trap 'exit 0' TERM; sleep 31338 & wait"
CONTAINERS = int(os.environ.get("DOCKYARD_LOAD_CONTAINERS") or 100)
SOAK = int(os.environ.get("DOCKYARD_SOAK_CYCLES") or 30)


@pytest.fixture
def engine(dockyard: DockyardRunner, busybox_tar: Path) -> Iterator[DockyardRunner]:
    dockyard("import", "-c", 'CMD ["sh"]', str(busybox_tar), "bb")
    yield dockyard
    ids = dockyard.out("ps", "-aq").split()
    if ids:
        dockyard("rm", "-f", *ids, check=False)


def _parallel(
    engine: DockyardRunner, argvs: list[list[str]], workers: int = 8
) -> list[subprocess.CompletedProcess[bytes]]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda argv: engine(*argv, check=False), argvs))


def test_same_name_one_wins(engine: DockyardRunner) -> None:
    runs = _parallel(engine, [["run", "-d", "--name", "same", "bb", "sh", "-c", SERVE]] * 20,
                     workers=20)  # fmt: skip
    won = [r for r in runs if r.returncode == 0]
    assert len(won) == 1, [r.stderr.decode() for r in runs]
    for lost in runs:
        if lost.returncode != 0:
            faults.no_traceback(lost)
            err = lost.stderr.decode()
            assert "Conflict" in err and '"/same"' in err, err
    assert engine.out("ps", "-q", "--no-trunc").split() == [won[0].stdout.decode().strip()]
    faults.check_clean(engine)


class Watcher:
    """``ps`` and ``inspect`` in a loop until stopped; records every failure or torn view."""

    def __init__(self, engine: DockyardRunner) -> None:
        self.engine = engine
        self.problems: list[str] = []
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            ps = self.engine("ps", "-aq", "--no-trunc", check=False)
            if ps.returncode != 0:
                self.problems.append(f"ps: {ps.stderr.decode()}")
                continue
            ids = ps.stdout.decode().split()
            if ids:
                self._inspect(ids)
            self.rounds += 1

    def _inspect(self, ids: list[str]) -> None:
        out = self.engine("inspect", *ids, check=False)
        if out.returncode != 0:
            self.problems.append(f"inspect: {out.stderr.decode()}")
            return
        for doc in json.loads(out.stdout):
            state = doc["State"]
            running = state["Status"] in ("running", "paused", "restarting")
            if state["Running"] != running or (running and state["Pid"] <= 0):
                self.problems.append(f"torn state of {doc['Name']}: {state}")


@pytest.mark.slow
def test_many_containers_in_parallel(dockyard: DockyardRunner, busybox_tar: Path) -> None:
    dockyard.pools = dockyard.pools.replace(":27", ":25")  # the default bridge: 126 addresses
    dockyard("import", "-c", 'CMD ["sh"]', str(busybox_tar), "bb")
    engine = dockyard
    names = [f"load{i}" for i in range(CONTAINERS)]
    with Watcher(engine) as watcher:
        runs = _parallel(engine, [["run", "-d", "--name", n, "bb", "sh", "-c", SERVE]
                                  for n in names])  # fmt: skip
        assert [r.stderr.decode() for r in runs if r.returncode != 0] == []
        running = engine.out("ps", "--format", "{{.Names}}").split()
        assert sorted(running) == sorted(names)
        stops = _parallel(engine, [["stop", n] for n in names])
        assert [r.stderr.decode() for r in stops if r.returncode != 0] == []
    assert watcher.problems == []
    assert watcher.rounds > 0
    assert engine.out("ps", "-q") == ""
    assert engine("rm", *names).returncode == 0
    faults.check_clean(engine)


def test_parallel_builds_share_the_cache(engine: DockyardRunner, tmp_path: Path) -> None:
    """Four builds of one Dockerfile at once: every layer is built once (a second build of the
    timestamp step would make another image), the others take it from the cache."""
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(
        "FROM bb\nRUN date +%s%N > /stamp && sleep 0.5\nRUN cat /stamp > /copy\n"
    )
    builds = _parallel(engine, [["build", "-q", "-t", f"par{i}", str(tmp_path / "ctx")]
                                for i in range(4)])  # fmt: skip
    assert [b.stderr.decode() for b in builds if b.returncode != 0] == []
    ids = {engine.out("images", "-q", "--no-trunc", f"par{i}").strip() for i in range(4)}
    assert len(ids) == 1, ids
    faults.check_clean(engine)


def test_parallel_pulls_fetch_each_blob_once(engine: DockyardRunner, tmp_path: Path) -> None:
    server = faults.RegistryServer(tmp_path / "registry", free_port())
    with faults.serving(server):
        engine("tag", "bb", f"{server.host}/bb")
        engine("push", f"{server.host}/bb")
        puller = DockyardRunner(tmp_path / "puller" / "state")
        puller.root.mkdir(parents=True)
        before = len(server.blob_gets())
        pulls = _parallel(puller, [["pull", f"{server.host}/bb"]] * 6)
        assert [p.stderr.decode() for p in pulls if p.returncode != 0] == []
        gets = server.blob_gets()[before:]
    assert len(gets) == len(set(gets)) == 2, gets  # the config and the one layer
    puller("run", "--rm", f"{server.host}/bb", "true")
    faults.check_clean(puller)


def _usage(engine: DockyardRunner) -> dict[str, int]:
    """What must not grow: the test process's fds, the network helper's fds and memory,
    mounts under the state root, the database, and the files in the container store."""
    helper = [p for p in os.listdir("/proc") if p.isdigit() and "dockyard.network.helper" in
              faults._cmdline(p) and str(engine.root) in faults._cmdline(p)]  # fmt: skip
    usage = {"fds": len(os.listdir("/proc/self/fd"))}
    for pid in helper:
        usage["helper fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        status = Path(f"/proc/{pid}/status").read_text().split("\n")
        usage["helper rss kB"] = next(int(s.split()[1]) for s in status if s.startswith("VmRSS"))
    mounts = Path("/proc/self/mountinfo").read_text()
    usage["mounts"] = mounts.count(str(engine.root.parent))
    usage["db bytes"] = sum(p.stat().st_size for p in engine.root.glob("metadata.db*"))
    usage["store entries"] = sum(1 for _ in (engine.root / "containers").iterdir())
    return usage


@pytest.mark.slow
def test_soak_create_start_stop_rm(engine: DockyardRunner) -> None:
    def cycle() -> None:
        cid = engine.out("create", "bb", "sh", "-c", SERVE).strip()
        engine("start", cid)
        engine("stop", cid)
        engine("rm", cid)

    for _ in range(5):  # warm up: the network helper, the database's pages
        cycle()
    before = _usage(engine)
    for _ in range(SOAK):
        cycle()
    after = _usage(engine)
    bounds = {"helper rss kB": 4096, "db bytes": 64 << 10}
    grown = {k: (before[k], after.get(k)) for k in before
             if after.get(k, 0) > before[k] + bounds.get(k, 0)}  # fmt: skip
    assert grown == {}, f"grew over {SOAK} cycles: {grown}"
    faults.check_clean(engine)
