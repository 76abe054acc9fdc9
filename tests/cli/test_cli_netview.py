"""``dockyard port``, ``ps`` and ``inspect`` of a container's networks, through the real
console script, on a fabricated container: its config, a running state whose "monitor" is
this test process (so the CLI trusts it), and the ``endpoints.json`` a start writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

from dockyard.engine.container import ContainerConfig
from dockyard.engine.endpoints import Attached, save_endpoints
from dockyard.engine.options import NetworkAttachment, RunOptions
from dockyard.monitor import state as run_state
from dockyard.network.model import Endpoint, PortBinding, Proto

CID = "4e7b" * 16
NET = "9a" * 32


def fabricate(root: Path, status: str) -> None:
    """Container ``app`` on network ``front`` publishing 80 (bound to 32768) and 53/udp."""
    directory = root / "containers" / CID
    directory.mkdir(parents=True)
    config = ContainerConfig(
        id=CID, name="app", created="2026-11-28T18:39:45Z", image="busybox",
        image_id="sha256:" + "ab" * 32, snapshot=f"container-{CID}",
        options=RunOptions(cmd=("sleep", "1d")), command=("sleep", "1d"),
        networks=(NetworkAttachment(name="front", id=NET),),
        ports=(PortBinding(container_port=80),
               PortBinding(container_port=53, proto=Proto.UDP, host_ip="127.0.0.1",
                           host_port=5353)),
        exposed=("80/tcp", "443/tcp"),
    )  # fmt: skip
    (directory / "config.json").write_bytes(config.to_bytes())
    state = run_state.RunState()
    state.status = status
    if status == run_state.RUNNING:
        state.started_at = "2026-11-28T18:40:00Z"
        state.monitor_pid, state.boot_id = os.getpid(), run_state.boot_id()
        state.monitor_start = run_state.process_start(os.getpid())
    else:
        state.started_at, state.finished_at = "2026-11-28T18:40:00Z", "2026-11-28T18:41:00Z"
    run_state.save(str(directory), state)
    bound = (
        PortBinding(container_port=80, host_port=32768),
        PortBinding(container_port=53, proto=Proto.UDP, host_ip="127.0.0.1", host_port=5353),
    )
    endpoint = Endpoint(network_id=NET, container_id=CID, ip="10.9.0.2", mac="02:42:0a:09:00:02",
                        names=("app", CID[:12]), ports=bound)  # fmt: skip
    save_endpoints(directory, [Attached(network="front", network_id=NET, gateway="10.9.0.1",
                                        prefixlen=24, endpoint=endpoint)])  # fmt: skip


def test_running(dockyard: DockyardRunner, state_root: Path) -> None:
    fabricate(state_root, run_state.RUNNING)
    assert dockyard.out("port", "app") == "53/udp -> 127.0.0.1:5353\n80/tcp -> 0.0.0.0:32768\n"
    assert dockyard.out("port", "app", "80") == "0.0.0.0:32768\n"
    assert dockyard.out("port", "app", "53/udp") == "127.0.0.1:5353\n"
    missing = dockyard("port", "app", "443", check=False)
    assert missing.returncode == 1
    assert missing.stderr.decode() == "Error: No public port '443/tcp' published for app\n"
    fmt = "{{.Names}}|{{.Networks}}|{{.Ports}}"
    assert dockyard.out("ps", "--format", fmt, "--filter", "network=front") == (
        "app|front|443/tcp, 127.0.0.1:5353->53/udp, 0.0.0.0:32768->80/tcp\n"
    )
    assert dockyard.out("ps", "-q", "--filter", f"network={NET[:10]}") == CID[:12] + "\n"
    assert dockyard.out("ps", "-q", "--filter", "network=bridge") == ""
    [doc] = json.loads(dockyard.out("inspect", "app"))
    settings = doc["NetworkSettings"]
    assert settings["IPAddress"] == "10.9.0.2"
    assert settings["Networks"]["front"]["Gateway"] == "10.9.0.1"
    assert settings["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "32768"}]
    assert settings["SandboxKey"] == str(state_root.parent / "run" / "netns" / CID)
    assert doc["HostConfig"]["NetworkMode"] == "front"


@pytest.mark.parametrize("status", [run_state.EXITED, run_state.CREATED])
def test_stopped(dockyard: DockyardRunner, state_root: Path, status: str) -> None:
    fabricate(state_root, status)
    assert dockyard.out("port", "app") == ""
    missing = dockyard("port", "app", "80/tcp", check=False)
    assert (missing.returncode, missing.stderr.decode()) == (
        1,
        "Error: No public port '80/tcp' published for app\n",
    )
    assert dockyard.out("ps", "-a", "--format", "{{.Networks}}|{{.Ports}}") == "front|\n"
    [doc] = json.loads(dockyard.out("inspect", "app"))
    assert doc["NetworkSettings"]["Networks"]["front"]["IPAddress"] == ""
    assert doc["NetworkSettings"]["Ports"] == {}


def test_errors(dockyard: DockyardRunner, state_root: Path) -> None:
    fabricate(state_root, run_state.RUNNING)
    bad = dockyard("port", "app", "http", check=False)
    assert (bad.returncode, bad.stderr.decode()) == (1, "Error: invalid port (http)\n")
    gone = dockyard("port", "nosuch", check=False)
    assert gone.returncode == 1
    assert gone.stderr.decode() == "Error response from daemon: No such container: nosuch\n"
