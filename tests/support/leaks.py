"""What the test suite could leak on the host, and a before/after comparison.

Mounts come from /proc/self/mountinfo; cgroups are directories under /sys/fs/cgroup (any
hierarchy) whose name mentions dockyard; network namespaces from ``/run/netns``; links (veth,
bridges) from /sys/class/net; nftables tables named ``dockyard-*`` (each network's rules);
network helper processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Snapshot:
    mounts: frozenset[str]
    cgroups: frozenset[str]
    netns: frozenset[str]
    links: frozenset[str]
    tables: frozenset[str] = frozenset()
    helpers: frozenset[str] = frozenset()

    def leaked_since(self, before: Snapshot) -> list[str]:
        leaks: list[str] = []
        for kind in ("mounts", "cgroups", "netns", "links", "tables", "helpers"):
            new = getattr(self, kind) - getattr(before, kind)
            leaks.extend(f"{kind[:-1] if kind.endswith('s') else kind}: {x}" for x in sorted(new))
        return leaks


def _mounts() -> frozenset[str]:
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return frozenset()
    return frozenset(line.split()[4] for line in lines if len(line.split()) > 4)


def _cgroups() -> frozenset[str]:
    found: set[str] = set()
    root = Path("/sys/fs/cgroup")
    if not root.is_dir():
        return frozenset()
    for hierarchy in [root, *[p for p in root.iterdir() if p.is_dir()]]:
        try:
            for child in hierarchy.rglob("*dockyard*"):
                if child.is_dir():
                    found.add(str(child))
        except OSError:
            continue
    return frozenset(found)


def _names(path: str) -> frozenset[str]:
    try:
        return frozenset(p.name for p in Path(path).iterdir())
    except OSError:
        return frozenset()


def take_snapshot() -> Snapshot:
    return Snapshot(
        mounts=_mounts(), cgroups=_cgroups(), netns=_names("/run/netns"),
        links=_names("/sys/class/net"), tables=_tables(), helpers=_helpers(),
    )  # fmt: skip


def _tables() -> frozenset[str]:
    """dockyard's nftables tables (``nft list tables``; nothing when nft is missing)."""
    import subprocess

    try:
        out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    except OSError:
        return frozenset()
    return frozenset(w for line in out.splitlines() for w in line.split()[2:3]
                     if w.startswith("dockyard-"))  # fmt: skip


def _helpers() -> frozenset[str]:
    """Running network helpers (``python -m dockyard.network.helper_main``), by pid."""
    found: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"dockyard.network.helper" in cmdline:
            words = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.add(f"{proc.name} {words}")
    return frozenset(found)
