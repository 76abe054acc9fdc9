"""``stats``: CPU, memory, network and pids of running containers, from their cgroups."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import click

from dockyard._util.units import human_size
from dockyard.cli.context import AppContext
from dockyard.cli.output import emit_rows
from dockyard.errors import DockyardError

HEADERS = {
    "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    "Container": "CONTAINER",
}  # fmt: skip
DEFAULT = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t"
    "{{.BlockIO}}\t{{.PIDs}}"
)
INTERVAL = 0.5


@dataclass(frozen=True, slots=True)
class StatsRow:
    ID: str
    Name: str
    Container: str
    CPUPerc: str
    MemUsage: str
    MemPerc: str
    NetIO: str
    BlockIO: str
    PIDs: str


def _sample(
    app: AppContext, cid: str
) -> tuple[int, int, int | None, int, int, int, int, int] | None:
    """(cpu ns, memory, memory limit, pids, rx, tx, block read, block write) of a running
    container, None if gone."""
    from dockyard.cgroups import new_manager
    from dockyard.runtime.state import StateStore

    try:
        state = StateStore(app.containers.store.runtime_root).load(cid)
        stats = new_manager(state.cgroup_path).stats()
    except (DockyardError, OSError):
        return None
    rx = tx = 0
    try:
        with open(f"/proc/{state.pid}/net/dev") as f:
            for line in f.readlines()[2:]:
                name, _, rest = line.partition(":")
                if name.strip() != "lo":
                    fields = rest.split()
                    rx, tx = rx + int(fields[0]), tx + int(fields[8])
    except (OSError, ValueError, IndexError):
        pass
    return (stats.cpu_usage_ns, stats.memory_usage, stats.memory_limit, stats.pids_current, rx,
            tx, stats.block_read, stats.block_write)  # fmt: skip


def _row(
    cid: str, name: str, a: tuple[int, ...], b: tuple[int, ...], dt: float, trunc: bool
) -> StatsRow:
    cpu = max(b[0] - a[0], 0) / (dt * 1e9) * 100
    limit = b[2] or _host_memory()
    mem = b[1]
    return StatsRow(
        ID=cid[:12] if trunc else cid, Name=name, Container=cid[:12] if trunc else cid,
        CPUPerc=f"{cpu:.2f}%", MemUsage=f"{human_size(mem)} / {human_size(limit)}",
        MemPerc=f"{(mem / limit * 100) if limit else 0:.2f}%",
        NetIO=f"{human_size(b[4])} / {human_size(b[5])}",
        BlockIO=f"{human_size(b[6])} / {human_size(b[7])}", PIDs=str(b[3]),
    )  # fmt: skip


def _host_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0


def stats_loop(
    app: AppContext, refs: Sequence[str], *, all_: bool, stream: bool, fmt: str | None,
    no_trunc: bool,
) -> None:  # fmt: skip
    """Print one table (``--no-stream``) or refresh it until interrupted."""
    engine = app.containers
    try:
        chosen = (
            [engine.get(r) for r in refs]
            if refs
            else [c for c in engine.list() if all_ or c.status == "running"]
        )
    except DockyardError as err:
        click.echo(f"Error response from daemon: {err.message}", err=True)
        raise click.exceptions.Exit(1) from err
    while True:
        before = {c.id: _sample(app, c.id) for c in chosen}
        start = time.monotonic()
        time.sleep(INTERVAL)
        dt = time.monotonic() - start
        rows = []
        for c in chosen:
            a, b = before[c.id], _sample(app, c.id)
            if a is None or b is None:
                rows.append(StatsRow(ID=c.id[:12], Name=c.name, Container=c.id[:12],
                                     CPUPerc="0.00%", MemUsage="0B / 0B", MemPerc="0.00%",
                                     NetIO="0B / 0B", BlockIO="0B / 0B", PIDs="0"))  # fmt: skip
                continue
            rows.append(_row(c.id, c.name, a, b, dt, not no_trunc))  # type: ignore[arg-type]
        if stream:
            click.echo("\x1b[2J\x1b[H", nl=False)
        emit_rows(rows, fmt=fmt, default=DEFAULT, headers=HEADERS)
        if not stream:
            return
