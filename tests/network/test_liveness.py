"""When a helper takes an endpoint's container for gone (:mod:`dockyard.network.liveness`):
never during a start (the attacher lives, the monitor has not recorded itself yet), always
after a killed monitor."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard._util.procs import process_start
from dockyard.network import liveness

ME = {"monitor_pid": os.getpid(), "monitor_start": process_start(os.getpid())}
DEAD = {"monitor_pid": 2**22 + 1, "monitor_start": 1}  # above pid_max: never a process


@pytest.mark.parametrize(
    ("state", "attacher_alive", "gone"),
    [
        pytest.param({"status": "running", **ME}, False, False, id="monitor-alive"),
        pytest.param({"status": "restarting", **ME}, False, False, id="restarting"),
        pytest.param({"status": "running", **DEAD}, True, True, id="monitor-killed"),
        pytest.param({"status": "paused", **DEAD}, False, True, id="paused-monitor-killed"),
        pytest.param({"status": "exited", **DEAD}, True, False, id="restart-under-way"),
        pytest.param({"status": "exited", **DEAD}, False, True, id="exited-255-or-start-killed"),
        pytest.param(None, True, False, id="first-start-under-way"),
        pytest.param(None, False, True, id="first-start-killed"),
        pytest.param("{torn", False, False, id="unreadable-kept"),
    ],
)
def test_container_gone(
    tmp_path: Path, state: dict[str, object] | str | None, attacher_alive: bool, gone: bool
) -> None:
    if isinstance(state, dict):
        (tmp_path / "state.json").write_text(json.dumps({"version": 1, **state}))
    elif state is not None:
        (tmp_path / "state.json").write_text(state)
    assert liveness.container_gone(tmp_path, attacher_alive=attacher_alive) is gone


def test_a_removed_container_is_gone(tmp_path: Path) -> None:
    assert liveness.container_gone(tmp_path / "removed", attacher_alive=True)


def test_process_names_a_process_for_good() -> None:
    assert liveness.process(os.getpid()) == (os.getpid(), process_start(os.getpid()))
    assert liveness.process(2**22 + 1) == (0, 0)
