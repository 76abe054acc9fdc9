"""Crash safety: ``kill -9`` of the CLI at random points of ``run``, ``stop`` and ``rm``.

Whatever instant the command dies at, the state stays consistent: ``system check`` runs (and
names anything half-done), ``rm -f`` plus ``system check --repair`` finish the job, after which
``system check`` is clean and nothing is left: no container, mount, monitor or cgroup.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

TRIALS = 50
SEED = 20261128


def _monitors(root: Path) -> list[int]:
    """Monitor processes of this state root (their config names its containers' directory)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"dockyard.monitor.loop" in cmdline and str(root).encode() in cmdline:
            found.append(int(pid))
    return found


def _cleanup(dockyard: DockyardRunner) -> None:
    ids = dockyard.out("ps", "-aq").split()
    if ids:
        dockyard("rm", "-f", *ids)
    dockyard("system", "check", "--repair", check=False)


@pytest.mark.root
@pytest.mark.overlay
@pytest.mark.slow
def test_kill_9_of_the_cli_leaves_a_consistent_state(
    dockyard: DockyardRunner, busybox_tar: Path
) -> None:
    dockyard("import", str(busybox_tar), "busybox")
    rng = random.Random(SEED)
    landed = 0  # trials whose kill came while the command still ran
    try:
        for trial in range(TRIALS):
            name = f"c{trial}"
            verb = rng.choice(["run", "stop", "rm"])
            if verb != "run":
                dockyard("run", "-d", "--name", name, "busybox", "sleep", "60")
            argv = {
                "run": ["run", "-d", "--name", name, "busybox", "sleep", "60"],
                "stop": ["stop", "-t", "1", name],
                "rm": ["rm", "-f", name],
            }[verb]
            proc = subprocess.Popen(
                dockyard.argv(*argv),
                env=dockyard.env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.0, 0.4))
            proc.kill()
            landed += proc.wait() == -signal.SIGKILL
            check = dockyard("system", "check", check=False)
            assert check.returncode in (0, 1), check.stderr.decode()
            assert b"Traceback" not in check.stderr, (verb, trial, check.stderr.decode())
            _cleanup(dockyard)
            final = dockyard("system", "check", check=False)
            assert final.returncode == 0, (verb, trial, final.stdout.decode())
            assert dockyard.out("ps", "-aq") == ""
        assert not any(dockyard.root.joinpath("containers").iterdir())
        deadline = time.monotonic() + 10
        while _monitors(dockyard.root) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _monitors(dockyard.root) == []
        assert landed > TRIALS // 4, f"{landed} kills landed mid-command: the trials prove little"
    finally:
        _cleanup(dockyard)
