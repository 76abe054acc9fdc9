"""A container's run state (``containers/<id>/state.json``) and its state machine.

Written by the engine (create, start, stop requests, removal) and by the container's monitor
(running, exit, restarts, health), always under ``containers/<id>/lock`` (``flock``) and always
atomically (temp file, fsync, ``os.replace``, fsync of the directory), so a crash leaves the old
or the new state, never a torn one. Version 1 of the file::

    {"version": 1, "status": "running", "pid": 4242, "exit_code": 0, "error": "",
     "oom_killed": false, "started_at": "2026-…Z", "finished_at": "", "restart_count": 0,
     "stopped_by_user": false, "monitor_pid": 4240, "monitor_start": 123456,
     "boot_id": "…", "health": null}

Import-light on purpose (the monitor reads and writes it; its memory is paid per container):
plain classes with ``__slots__`` and string constants instead of dataclasses and enums.
"""

from __future__ import annotations

import fcntl
import os
import time

from dockyard._util.procs import alive as alive  # re-exported: run_state.alive
from dockyard._util.procs import process_start as process_start
from dockyard.monitor import minijson

TYPE_CHECKING = False  # typing itself costs the monitor ~1 MB (it pulls in re)
if TYPE_CHECKING:
    from collections.abc import Iterator

VERSION = 1
STATE_FILE = "state.json"
LOCK_FILE = "lock"

CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
RESTARTING = "restarting"
EXITED = "exited"
DEAD = "dead"
REMOVING = "removing"
STATUSES = (CREATED, RUNNING, PAUSED, RESTARTING, EXITED, DEAD, REMOVING)

# status -> the statuses it may move to (one function, :func:`transition`, applies it)
TRANSITIONS: dict[str, frozenset[str]] = {
    CREATED: frozenset({RUNNING, EXITED, REMOVING, DEAD}),
    RUNNING: frozenset({PAUSED, EXITED, RESTARTING, REMOVING, DEAD}),
    PAUSED: frozenset({RUNNING, EXITED, REMOVING, DEAD}),
    RESTARTING: frozenset({RUNNING, EXITED, REMOVING, DEAD}),
    EXITED: frozenset({RUNNING, RESTARTING, REMOVING, DEAD}),
    DEAD: frozenset({REMOVING}),
    REMOVING: frozenset({DEAD}),
}

ACTIVE = frozenset({RUNNING, PAUSED, RESTARTING})


def can_start(status: str) -> bool:
    return status in (CREATED, EXITED)


def can_stop(status: str) -> bool:
    return status in ACTIVE


def can_pause(status: str) -> bool:
    return status == RUNNING


def can_unpause(status: str) -> bool:
    return status == PAUSED


def can_remove(status: str, force: bool) -> bool:
    return force or status in (CREATED, EXITED, DEAD)


class BadTransition(Exception):
    """A change of status the table does not allow (a bug or a lost race)."""


_FIELDS = (
    "status", "pid", "exit_code", "error", "oom_killed", "started_at", "finished_at",
    "restart_count", "stopped_by_user", "monitor_pid", "monitor_start", "boot_id", "health",
)  # fmt: skip


class RunState:
    """The mutable run state of one container (see the module docstring for the fields)."""

    __slots__ = _FIELDS

    def __init__(self) -> None:
        self.status = CREATED
        self.pid = 0
        self.exit_code = 0
        self.error = ""
        self.oom_killed = False
        self.started_at = ""
        self.finished_at = ""
        self.restart_count = 0
        self.stopped_by_user = False
        self.monitor_pid = 0
        self.monitor_start = 0
        self.boot_id = ""
        self.health: dict[str, object] | None = None

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"version": VERSION}
        for name in _FIELDS:
            doc[name] = getattr(self, name)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> RunState:
        state = cls()
        if doc.get("version") != VERSION:
            raise ValueError(f"state version {doc.get('version')!r} is not {VERSION}")
        for name in _FIELDS:
            if name in doc:
                setattr(state, name, doc[name])
        if state.status not in STATUSES:
            raise ValueError(f"unknown status {state.status!r}")
        return state

    def transition(self, status: str) -> None:
        """Move to ``status``; staying in the same status is allowed.

        Raises:
            BadTransition: the table does not allow it.
        """
        if status != self.status and status not in TRANSITIONS[self.status]:
            raise BadTransition(f"cannot go from {self.status} to {status}")
        self.status = status


def load(directory: str) -> RunState:
    """Read ``<directory>/state.json``; a missing file is a fresh created state.

    Raises:
        ValueError: the file is not a state file dockyard wrote.
    """
    try:
        with open(os.path.join(directory, STATE_FILE), "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return RunState()
    doc = minijson.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("state is not a JSON object")
    return RunState.from_json(doc)


def save(directory: str, state: RunState) -> None:
    """Replace ``<directory>/state.json`` atomically and durably."""
    path = os.path.join(directory, STATE_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    data = minijson.dumps(state.to_json()).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:  # ENOSPC, most likely: leave no temp file behind
        try:  # noqa: SIM105 (contextlib costs the monitor its imports)
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Locked:
    """``with Locked(directory) as state:`` holds the container's lock, yields its state and
    saves it on a clean exit (not when the block raised) if the block changed it or there was
    no file yet: readers (``ps``, ``inspect``) write nothing, so they work on a full disk."""

    __slots__ = ("before", "directory", "fd", "state")

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.fd = -1
        self.state = RunState()
        self.before = ""  # the state as read, serialized ("": no file)

    def __enter__(self) -> RunState:
        self.fd = lock(self.directory)
        try:
            self.state = load(self.directory)
            if os.path.exists(os.path.join(self.directory, STATE_FILE)):
                self.before = minijson.dumps(self.state.to_json())
        except BaseException:
            os.close(self.fd)
            raise
        return self.state

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        try:
            if kind is None and minijson.dumps(self.state.to_json()) != self.before:
                save(self.directory, self.state)
        finally:
            os.close(self.fd)


def lock(directory: str) -> int:
    """Take the container's lock (blocking); returns the fd whose close releases it."""
    fd = os.open(os.path.join(directory, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def boot_id() -> str:
    """This boot's id: state from before a reboot names another one."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def now_rfc3339() -> str:
    """The current UTC time, RFC 3339 with nanoseconds (docker's timestamps)."""
    from dockyard.monitor.logfile import format_time_ns

    return format_time_ns(time.time_ns())


def iter_ids(containers_dir: str) -> Iterator[str]:
    """The container ids that have a directory under ``containers_dir``."""
    try:
        entries = os.listdir(containers_dir)
    except FileNotFoundError:
        return
    for name in entries:
        if len(name) == 64:
            yield name
