"""Containers end to end through the real CLI: restart policies, healthchecks, json-file log
rotation, the memory limit's OOM kill, and a container whose monitor was killed."""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner
from tests.engine.containers_harness import Box, boxed, processes_of, wait_until

pytestmark = [pytest.mark.root, pytest.mark.overlay]


@pytest.fixture
def box(dockyard: DockyardRunner, busybox_tar: Path) -> Iterator[Box]:
    yield from boxed(dockyard, busybox_tar)


def _restarts(box: Box, ref: str) -> int:
    return int(box.inspect(ref, "{{.RestartCount}}"))


@pytest.mark.parametrize(
    ("policy", "code", "restarts"),
    [("on-failure:2", 1, 2), ("on-failure:2", 0, 0), ("no", 1, 0), ("on-failure", 0, 0)],
)
def test_restart_policy_that_ends(box: Box, policy: str, code: int, restarts: int) -> None:
    cid = box.run_d("--restart", policy, "busybox", "sh", "-c", f"echo ran; exit {code}")
    box.wait_status(cid, "exited")  # "restarting" in between, "exited" only at the end
    assert box.inspect(cid, "{{.State.ExitCode}} {{.RestartCount}}") == f"{code} {restarts}"
    assert box.out("logs", cid).split() == ["ran"] * (restarts + 1)


# Exits at once the first time, then runs until SIGTERM, which it answers with exit 0 (a
# stop that the policy would restart if it did not know the user asked for it).
ONCE_THEN_LOOP = (
    "echo ran; [ -e /ran ] || { touch /ran; exit 0; }; "
    "trap 'exit 0' TERM; while :; do sleep 0.1; done"
)


@pytest.mark.parametrize("policy", ["always", "unless-stopped"])
def test_restart_always_until_stopped(box: Box, policy: str) -> None:
    cid = box.run_d("--restart", policy, "busybox", "sh", "-c", ONCE_THEN_LOOP)
    wait_until(lambda: _restarts(box, cid) == 1, "a restart after a clean exit")
    box.wait_status(cid, "running")
    wait_until(lambda: box.out("logs", cid).split() == ["ran", "ran"], "the second run")
    box("stop", cid)
    assert box.inspect(cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 0"
    time.sleep(1.0)  # longer than the back-off and a relaunch: a restart would show by now
    assert box.inspect(cid, "{{.State.Status}} {{.RestartCount}}") == "exited 1"
    assert box.out("logs", cid).split() == ["ran", "ran"]
    assert box.ids() == [cid]


@pytest.mark.parametrize(
    ("test", "status"),
    [(("--health-cmd", "true"), "healthy"), (("--health-cmd", "false"), "unhealthy")],
)
def test_healthcheck(box: Box, test: tuple[str, ...], status: str) -> None:
    flags = ("--health-interval", "1s", "--health-retries", "1")
    cid = box.run_d(*test, *flags, "busybox", "sleep", "30")
    assert box.inspect(cid, "{{.State.Health.Status}}") in ("starting", status)
    wait_until(lambda: box.inspect(cid, "{{.State.Health.Status}}") == status, status)
    assert f"({status})" in box.out("ps", "--format", "{{.Status}}")
    log = box.inspect(cid, "{{range .State.Health.Log}}{{.ExitCode}} {{end}}").split()
    assert log and set(log) == {"0" if status == "healthy" else "1"}


def test_log_rotation_keeps_a_suffix(box: Box) -> None:
    script = "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done"
    cid = box.run_d(
        "--log-opt", "max-size=1k", "--log-opt", "max-file=2", "busybox", "sh", "-c", script
    )
    assert box.out("wait", cid) == "0"
    logs = sorted(p.name for p in box.container_dir(cid).glob("*-json.log*"))
    assert logs == [f"{cid}-json.log", f"{cid}-json.log.1"]
    assert all(p.stat().st_size <= 1024 + 100 for p in box.container_dir(cid).glob("*.log*"))
    lines = box.out("logs", cid).split("\n")
    assert 10 < len(lines) < 400
    first = int(lines[0].removeprefix("line-"))
    assert lines == [f"line-{i}" for i in range(first, 400)]


@pytest.mark.cgroup
@pytest.mark.parametrize(
    "command", [("sh", "-c", "x=a; while true; do x=$x$x; done"), ("tail", "/dev/zero")]
)
def test_memory_limit_oom_kill(box: Box, command: tuple[str, ...]) -> None:
    proc = box("run", "--name", "hog", "--memory", "16m", "busybox", *command, check=False)
    assert proc.returncode == 137
    assert box.inspect("hog", "{{.State.OOMKilled}} {{.State.ExitCode}}") == "true 137"


def test_killed_monitor_marks_the_container_exited(box: Box) -> None:
    cid = box.run_d("busybox", "sleep", "30")
    monitor, init = box.state_int(cid, "monitor_pid"), box.state_int(cid, "pid")
    wait_until(lambda: {monitor, init} <= set(processes_of(cid)), "the monitor's loop")
    os.kill(monitor, signal.SIGKILL)
    wait_until(lambda: monitor not in processes_of(cid), "the monitor to die")
    assert box.out("ps", "-a", "--format", "{{.Status}}").startswith("Exited (255)")
    assert box.inspect(cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 255"
    box("rm", "-f", cid)
    assert box.leftovers([cid]) == []


@pytest.mark.cgroup
@pytest.mark.skipif(not Path("/sys/fs/cgroup/blkio").is_dir(), reason="needs the v1 blkio cgroup")
def test_block_io_limits_and_stats(box: Box, tmp_path: Path) -> None:
    """``--device-write-bps`` reaches the container's cgroup, ``inspect`` shows it, and the
    writes it throttles show in ``stats`` (the disk is the state root's, its node made here)."""
    st_dev = os.stat(box.runner.root).st_dev
    node = tmp_path / "disk"
    os.mknod(node, 0o600 | stat.S_IFBLK, st_dev)
    cid = box.run_d("--network", "none", "--device-write-bps", f"{node}:1mb",
                    "busybox", "sleep", "30")  # fmt: skip
    limits = Path(f"/sys/fs/cgroup/blkio/dockyard/{cid}/blkio.throttle.write_bps_device")
    assert limits.read_text().split() == [f"{os.major(st_dev)}:{os.minor(st_dev)}", "1048576"]
    shown = box.inspect(cid, "{{json .HostConfig.BlkioDeviceWriteBps}}")
    assert shown == f'[{{"Path":"{node}","Rate":1048576}}]'
    box("exec", cid, "dd", "if=/dev/zero", "of=/x", "bs=64k", "count=4", "oflag=direct")
    shown = box.out("stats", "--no-stream", "--format", "{{.BlockIO}}", cid)
    written = shown.partition(" / ")[2]
    assert written.endswith("kB") and float(written[:-2]) >= 262, written
    box("rm", "-f", cid)


@pytest.mark.cgroup
def test_update_changes_a_running_containers_cgroup(box: Box) -> None:
    cid = box.run_d("--network", "none", "busybox", "sleep", "30")
    box("update", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "20", cid)
    cgroup = Path("/sys/fs/cgroup")
    assert (cgroup / "memory/dockyard" / cid / "memory.limit_in_bytes").read_text() == "67108864\n"
    assert (cgroup / "cpu/dockyard" / cid / "cpu.cfs_quota_us").read_text() == "50000\n"
    assert (cgroup / "pids/dockyard" / cid / "pids.max").read_text() == "20\n"
    shown = box.inspect(
        cid, "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}"
    )
    assert shown == "67108864 500000000 20"
    blkio = cgroup / "blkio/dockyard" / cid
    weights = [blkio / n for n in ("blkio.weight", "blkio.bfq.weight") if (blkio / n).exists()]
    if weights:
        box("update", "--blkio-weight", "300", cid)
        assert weights[0].read_text().split()[-1] == "300"
        assert box.inspect(cid, "{{.HostConfig.BlkioWeight}}") == "300"
    bad = box("update", "--blkio-weight", "5", cid, check=False)
    assert bad.returncode != 0 and "from 10 to 1000" in bad.stderr.decode()
    box("rm", "-f", cid)
    auto = box.run_d("--rm", "--network", "none", "busybox", "sleep", "30")
    refused = box("update", "--restart", "always", auto, check=False)
    assert refused.returncode != 0 and "AutoRemove" in refused.stderr.decode()
    box("rm", "-f", auto)
