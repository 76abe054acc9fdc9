"""The helpers' locks: one helper per network (parallel clients start several), and the
host-wide bridge lock: two state roots configured with one bridge name never run helpers on
it at once (each would delete the other's bridge and rules)."""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dockyard.errors import Conflict
from dockyard.network import client, helper
from dockyard.network.model import HelperConfig, Network


def test_a_second_root_waits_then_is_refused_naming_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helper, "BRIDGE_WAIT", 0.3)
    first = helper._claim_bridge("dytlock0", Path("/roots/one"), tmp_path)
    try:
        with pytest.raises(Conflict, match=r"bridge dytlock0 is in use .*state root /roots/one"):
            helper._claim_bridge("dytlock0", Path("/roots/two"), tmp_path)
        other = helper._claim_bridge("dytlock1", Path("/roots/two"), tmp_path)  # another name
        os.close(other)
    finally:
        os.close(first)
    again = helper._claim_bridge("dytlock0", Path("/roots/two"), tmp_path)  # released: free
    assert (tmp_path / "dockyard-bridge-dytlock0.lock").read_text() == "/roots/two"
    os.close(again)


def test_the_bridge_lock_file_goes_with_its_holder_and_a_waiter_locks_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder deletes the file as it lets go; a waiter that had opened the deleted file
    must not take a lock nobody else sees: it locks the path's new file."""
    path = tmp_path / "dockyard-bridge-dytlock2.lock"
    first = helper._claim_bridge("dytlock2", Path("/roots/one"), tmp_path)
    claimed: list[int] = []
    waiter = threading.Thread(
        target=lambda: claimed.append(
            helper._claim_bridge("dytlock2", Path("/roots/two"), tmp_path)
        )
    )
    waiter.start()
    time.sleep(0.3)  # the waiter polls the file the first one holds
    helper._release_bridge(first, "dytlock2", tmp_path)
    waiter.join(10)
    assert claimed, "the waiter never got the lock"
    try:
        assert os.fstat(claimed[0]).st_ino == os.stat(path).st_ino
        assert path.read_text() == "/roots/two"
        monkeypatch.setattr(helper, "BRIDGE_WAIT", 0.3)
        with pytest.raises(Conflict, match="state root /roots/two"):  # and it excludes others
            helper._claim_bridge("dytlock2", Path("/roots/three"), tmp_path)
    finally:
        helper._release_bridge(claimed[0], "dytlock2", tmp_path)
    assert not path.exists()


def _hold_network_lock(runroot: Path, network_id: str) -> int:
    path = client.socket_path(runroot, network_id).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_helper_started_beside_a_starting_one_leaves_it_the_network(tmp_path: Path) -> None:
    """Parallel clients each start a helper: the later ones see the first answer and exit
    (they used to queue on its lock and take the network over after it, and linger)."""
    held = _hold_network_lock(tmp_path, "a" * 64)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def answer_soon() -> None:  # the first helper finishes its set-up and serves
        time.sleep(0.2)
        listener.bind(str(client.socket_path(tmp_path, "a" * 64)))
        listener.listen(1)
        conn, _ = listener.accept()
        with conn:
            conn.recv(100)
            conn.sendall(b'{"ok": true}\n')

    thread = threading.Thread(target=answer_soon)
    thread.start()
    try:
        assert helper._lock(tmp_path, "a" * 64) is None
    finally:
        thread.join()
        listener.close()
        os.close(held)


def test_a_helper_takes_over_after_one_shutting_down(tmp_path: Path) -> None:
    held = _hold_network_lock(tmp_path, "b" * 64)
    timer = threading.Timer(0.2, os.close, (held,))  # the old helper exits: its lock is free
    timer.start()
    fd = helper._lock(tmp_path, "b" * 64)
    timer.join()
    assert fd is not None
    os.close(fd)


def test_a_stale_bridge_lock_is_dropped_a_held_one_kept(tmp_path: Path) -> None:
    """``system prune``/``network rm`` after a killed helper: its lock file goes, unless a
    helper (of any state root) holds it."""
    path = client.bridge_lock_path("dytlock3", tmp_path)
    held = helper._claim_bridge("dytlock3", Path("/roots/one"), tmp_path)
    assert not client.drop_stale_lock(path) and path.exists()
    os.close(held)  # killed: the file stays, nobody holds it
    assert client.drop_stale_lock(path) and not path.exists()
    assert not client.drop_stale_lock(path)


def test_one_caller_starts_the_helper_the_others_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``compose up`` asks a new network's helper from five threads at once: one starts it and
    hands it the start lock, which it keeps until it listens; the others wait for the socket
    (each extra helper used to cost ~0.1 s of CPU before it found the network taken)."""
    cfg = HelperConfig(root=tmp_path / "root", runroot=tmp_path / "run")
    net = Network(id="a" * 64, name="n", subnet="10.9.0.0/24", gateway="10.9.0.1", bridge="dyt0")
    helpers: list[int] = []  # each started "helper": the lock fd it inherited

    def fake_setsid(argv: list[str], **kwargs: object) -> None:
        fd = int(argv[argv.index("--start-lock-fd") + 1])
        assert kwargs["pass_fds"] == (fd,)
        helpers.append(os.dup(fd))  # what the helper inherits: the same open file, locked

    monkeypatch.setattr("dockyard.network.client.subprocess.run", fake_setsid)
    with ThreadPoolExecutor(max_workers=5) as pool:
        started = list(pool.map(lambda _: client._start(cfg, net), range(5)))
    assert sorted(started) == [False, False, False, False, True] and len(helpers) == 1
    os.close(helpers.pop())  # it died before listening: the next caller starts one
    assert client._start(cfg, net) and len(helpers) == 1
    os.close(helpers.pop())
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listening:  # one answers now
        listening.bind(str(client.socket_path(cfg.runroot, net.id)))
        listening.listen(1)
        assert not client._start(cfg, net) and helpers == []
