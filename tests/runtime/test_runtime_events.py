"""``dockyard-runtime events``: ``--stats`` shows the spec's limits, the stream reports an OOM
kill and ends when the container stops; the pure parts (durations, the stats shape)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.runtime.test_runtime_lifecycle_harness import (
    Config,
    Runtime,
    assert_nothing_left,
    dockyard_runtime,
    linux_of,
    make_bundle,
    new_id,
    probe_binary,
    set_args,
)

from dockyard.cgroups import Stats
from dockyard.cli.runtime_main import main
from dockyard.errors import InvalidArgument
from dockyard.runtime.events import UNLIMITED_MEMORY, Event, EventType, parse_duration

MiB = 1024 * 1024


def _resources(memory: int, pids: int, *args: str) -> Callable[[Config], None]:
    def edit(config: Config) -> None:
        set_args(*args)(config)
        linux_of(config)["resources"] = {
            "memory": {"limit": memory, "swap": memory},
            "pids": {"limit": pids},
        }

    return edit


@pytest.mark.root
@pytest.mark.cgroup
def test_events_stats_shows_the_spec_limits(tmp_path: Path, busybox_tar: Path) -> None:
    cid = new_id()
    edit = _resources(64 * MiB, 50, "/bin/sleep", "600")
    bundle = make_bundle(tmp_path / cid, busybox_tar, probe_binary(), cid, edit)
    rt = dockyard_runtime(tmp_path / "state")
    rt("run", "--detach", "--bundle", str(bundle), cid)
    try:
        lines = rt("events", "--stats", cid).stdout.decode().splitlines()
    finally:
        rt("delete", "--force", cid)
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert (event["type"], event["id"]) == ("stats", cid)
    memory, pids = event["data"]["memory"]["usage"], event["data"]["pids"]
    assert memory["limit"] == 64 * MiB and 0 < memory["usage"] <= memory["max"]
    assert pids == {"current": 1, "limit": 50}
    assert event["data"]["cpu"]["usage"]["total"] > 0
    assert_nothing_left(rt, cid, bundle)


@pytest.mark.root
@pytest.mark.cgroup
def test_events_reports_the_oom_kill(tmp_path: Path, busybox_tar: Path) -> None:
    cid = new_id()
    edit = _resources(32 * MiB, 50, "/probe", "alloc", "256")
    bundle = make_bundle(tmp_path / cid, busybox_tar, probe_binary(), cid, edit)
    rt: Runtime = dockyard_runtime(tmp_path / "state")
    rt("create", "--bundle", str(bundle), cid)
    watcher = rt.popen("events", "--interval", "200ms", cid, stdout=subprocess.PIPE)
    try:
        assert watcher.stdout is not None
        first = json.loads(watcher.stdout.readline())  # the watcher has its baseline now
        assert first["type"] == "stats" and first["data"]["memory"]["usage"]["failcnt"] == 0
        rt("start", cid)
        rest, _ = watcher.communicate(timeout=30)  # it ends by itself: the container stops
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
        rt("delete", "--force", cid)
    assert watcher.returncode == 0
    events = [json.loads(line) for line in rest.decode().splitlines()]
    assert {"type": "oom", "id": cid} in events
    assert_nothing_left(rt, cid, bundle)


def test_events_of_unknown_or_bad_interval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(tmp_path), "events", "ghost"]) == 1
    assert "container ghost: does not exist" in capsys.readouterr().err
    assert main(["--root", str(tmp_path), "events", "--stats", "ghost"]) == 1
    assert "container ghost: does not exist" in capsys.readouterr().err
    assert main(["--root", str(tmp_path), "events", "--interval", "soon", "ghost"]) == 1
    assert '--interval "soon": not a duration' in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5.0), ("100ms", 0.1), ("1m30s", 90.0), ("1.5h", 5400.0), ("250us", 250e-6),
     ("2m", 120.0), (".5s", 0.5)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "5 s", "-1s", "0s", "1x", "1s2", "1.2.3s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument, match="--interval"):
        parse_duration(text)


def test_event_json_shapes() -> None:
    stats = Stats(memory_usage=10, memory_max_usage=20, memory_failcnt=3, cpu_usage_ns=7,
                  pids_current=2)  # fmt: skip
    assert Event(type=EventType.STATS, id="c1", stats=stats).to_json() == {
        "type": "stats",
        "id": "c1",
        "data": {
            "cpu": {"usage": {"total": 7}},
            "memory": {"usage": {"usage": 10, "limit": UNLIMITED_MEMORY, "max": 20, "failcnt": 3}},
            "pids": {"current": 2, "limit": 0},
        },
    }
    assert Event(type=EventType.OOM, id="c1").to_json() == {"type": "oom", "id": "c1"}
