"""Runtime state without containers: ids, the state file, the derived status, the verb table,
signal names, the sync protocol and runc's always-allowed device rules."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from dockyard.errors import (
    AlreadyExists,
    DataCorrupted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from dockyard.oci.runtime import default_spec
from dockyard.oci.runtime_resources import DeviceRule
from dockyard.runtime import sync
from dockyard.runtime.create import ALLOWED_DEVICES, cgroup_resources
from dockyard.runtime.kill import parse_signal
from dockyard.runtime.state import (
    FIFO_FILE,
    ContainerState,
    StateStore,
    Status,
    can,
    current_status,
    oci_state,
    process_start_time,
    require,
    validate_id,
)
from dockyard.runtime.sync import SyncType


@pytest.mark.parametrize("good", ["a", "abc-DEF_1.2+3", "x" * 200])
def test_valid_ids(good: str) -> None:
    assert validate_id(good) == good


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a b", "../x", "é"])
def test_invalid_ids(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="container id"):
        validate_id(bad)


def _state(pid: int, start: int, cid: str = "c1") -> ContainerState:
    return ContainerState(
        id=cid,
        bundle="/b",
        rootfs="/b/rootfs",
        pid=pid,
        start_time=start,
        created="2024-01-02T03:04:05.5Z",
        cgroup_path="/dockyard/c1",
        annotations={"k": "v"},
    )


def test_store_round_trip_and_errors(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "root")
    assert store.ids() == []
    store.reserve("c1")
    with pytest.raises(AlreadyExists):
        store.reserve("c1")
    with pytest.raises(NotFound, match="container c1: does not exist"):
        store.load("c1")  # reserved but not yet created
    assert store.ids() == []
    state = _state(1, 2)
    store.save(state)
    assert store.load("c1") == state and store.ids() == ["c1"]
    (store.dir("c1") / "state.json").write_text('{"version": 99}')
    with pytest.raises(DataCorrupted):
        store.load("c1")
    store.remove("c1")
    store.remove("c1")
    assert not store.dir("c1").exists()


def test_status_follows_the_process_and_the_fifo(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    proc = subprocess.Popen(["sleep", "30"])
    try:
        start = process_start_time(proc.pid)
        assert start is not None
        store.reserve("c1")
        state = _state(proc.pid, start)
        os.mkfifo(store.dir("c1") / FIFO_FILE)
        assert current_status(store, state) is Status.CREATED
        (store.dir("c1") / FIFO_FILE).unlink()
        assert current_status(store, state) is Status.RUNNING
        # Same pid, other start time: a recycled pid is not our init.
        assert current_status(store, _state(proc.pid, start + 1)) is Status.STOPPED
        proc.send_signal(signal.SIGKILL)
        while process_start_time(proc.pid) is not None:  # a zombie counts as gone
            pass
        assert current_status(store, state) is Status.STOPPED
    finally:
        proc.kill()
        proc.wait()
    assert current_status(store, state) is Status.STOPPED


def test_oci_state_document() -> None:
    doc = oci_state(_state(42, 1), Status.RUNNING)
    assert doc == {
        "ociVersion": "1.0.2-dev",
        "id": "c1",
        "pid": 42,
        "status": "running",
        "bundle": "/b",
        "rootfs": "/b/rootfs",
        "created": "2024-01-02T03:04:05.5Z",
        "owner": "",
        "annotations": {"k": "v"},
    }
    assert oci_state(_state(42, 1), Status.STOPPED)["pid"] == 0


@pytest.mark.parametrize(
    ("verb", "allowed"),
    [
        ("start", {Status.CREATED}),
        ("delete", {Status.CREATED, Status.STOPPED}),
        ("resume", {Status.PAUSED}),
        ("kill", {Status.CREATED, Status.RUNNING, Status.PAUSED}),
        ("exec", {Status.CREATED, Status.RUNNING}),
    ],
)
def test_transition_table(verb: str, allowed: set[Status]) -> None:
    for status in Status:
        assert can(verb, status) is (status in allowed)
    refused = next(s for s in Status if s not in allowed)
    with pytest.raises(
        FailedPrecondition, match=f"container x: cannot {verb}: status is {refused}"
    ):
        require(verb, "x", refused)


@pytest.mark.parametrize(
    ("text", "number"), [("KILL", 9), ("SIGKILL", 9), ("sigterm", 15), ("9", 9), ("hup", 1)]
)
def test_parse_signal(text: str, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["", "SIGNOPE", "0", "65", "-9"])
def test_parse_signal_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_signal(text)


def test_sync_protocol_round_trip() -> None:
    a, b = sync.socketpair()
    with a, b:
        sync.send(a, SyncType.PID, 1234)
        msg = sync.expect(b, SyncType.PID)
        assert msg is not None and msg.pid == 1234
        sync.send(a, SyncType.CREATED)
        with pytest.raises(DataCorrupted, match="expected go, got created"):
            sync.expect(b, SyncType.GO)
        b.send(b"garbage")
        with pytest.raises(DataCorrupted):
            sync.recv(a)
        a.close()
        assert sync.recv(b) is None


def test_runc_allowed_devices_are_appended() -> None:
    spec = default_spec(["sh"])
    rules = cgroup_resources(spec).devices
    assert rules[0] == DeviceRule(allow=False, access="rwm")
    assert rules[1:] == ALLOWED_DEVICES
    allowed = {(r.major, r.minor) for r in ALLOWED_DEVICES}
    assert {(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2), (136, None)} <= allowed
