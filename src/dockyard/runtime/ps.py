"""``ps``: the processes in a container's cgroup (host pids)."""

from __future__ import annotations

from dockyard._util.numbers import is_uint
from dockyard.runtime.state import StateStore, cgroup_of


def container_pids(store: StateStore, container_id: str) -> list[int]:
    """The host pids of every process in the container's cgroup, sorted.

    Raises:
        NotFound: no such container.
    """
    state = store.load(container_id)
    cgroup = cgroup_of(state)
    return cgroup.pids() if cgroup.exists() else []


def ps_table(pids: list[int], ps_args: tuple[str, ...] = ("-ef",)) -> str:
    """runc's ``ps`` table: the host's ``ps <ps_args>`` header and the lines of ``pids``.

    Raises:
        Unavailable: ``ps`` is not installed or failed.
        FailedPrecondition: its output has no PID column.
    """
    import subprocess

    from dockyard.errors import FailedPrecondition, Unavailable

    try:
        out = subprocess.run(["ps", *ps_args], capture_output=True, check=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise Unavailable(f"ps {' '.join(ps_args)}: {err}") from err
    lines = out.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    if "PID" not in header:
        raise FailedPrecondition(f"ps {' '.join(ps_args)}: no PID column in its output")
    column = header.index("PID")
    wanted = set(pids)
    kept = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and is_uint(fields[column]) and int(fields[column]) in wanted:
            kept.append(line)
    return "\n".join(kept) + "\n"
