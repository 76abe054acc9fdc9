"""The README's main job, ``./scripts/demo``, runs as written and leaves nothing behind: it ends
with its ``== done.`` line, its private state root, files and run root under /tmp are gone, and
no mount, network namespace, link, nftables table or network helper of its own is left.

The environment only gives it a default bridge and an address pool of its own (as every test
has); it keeps the host's network, since the examples' builds reach Debian's mirror and PyPI.
The Debian base comes from the tests' cache (``tests/support/rootfs.py``), made once.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner
from tests.support.leaks import take_snapshot

pytestmark = [pytest.mark.root, pytest.mark.overlay, pytest.mark.netns, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def demo_dirs() -> set[Path]:
    """The demo's directories under /tmp (state root, files, run root), whoever made them."""
    return set(Path("/tmp").glob("dockyard-demo*"))


@pytest.mark.timeout(1200)
def test_the_demo_runs_and_leaves_nothing_behind(tmp_path: Path) -> None:
    runner = DockyardRunner(tmp_path / "state")  # only for its bridge name and address pool
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKYARD_ROOT", "DOCKYARD_RUNROOT")}
    env |= {"DOCKYARD_BRIDGE": runner.bridge, "DOCKYARD_ADDRESS_POOLS": runner.pools}
    env.pop("DOCKYARD_DEMO_KEEP", None)
    dirs, before = demo_dirs(), take_snapshot()
    proc = subprocess.run(
        ["./scripts/demo"], cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=1100, check=False,
    )  # fmt: skip
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    root = Path(lines[0].removeprefix("== state root: "))
    assert lines[0] == f"== state root: {root}"
    assert lines[-1] == (
        f"== done. The demo's state root {root} is removed (DOCKYARD_DEMO_KEEP=1 keeps it)."
    )
    assert not root.exists()
    assert demo_dirs() <= dirs, demo_dirs() - dirs  # nor its files or run root
    # Other tests on this host may come and go meanwhile: the demo's leaks name its paths
    # (mounts, helpers) or its bridge (links, nftables tables).
    leaks = take_snapshot().leaked_since(before)
    assert not [leak for leak in leaks if "/tmp/dockyard-demo" in leak or runner.bridge in leak]
    assert "anonymous pull is refused" in proc.stdout  # the last example ran
