"""Container state on disk, the status state machine, and the OCI state document.

Layout under the runtime root (default ``/run/dockyard-runtime``, a tmpfs; ``--root``)::

    <root>/
      <id>/                 one directory per container; its existence reserves the id
        state.json          ContainerState, version 1 (written atomically)
        config.json         the spec as the container was created (poststop hooks, exec)
        exec.fifo           present from create until start (runtime-spec "created")

The status is never stored: it is derived from the init process and the fifo each time
(:func:`current_status`), as runc does. A pid is only trusted while ``/proc/<pid>/stat``'s
start time matches the one saved at create, so a recycled pid reads as ``stopped``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Final

from dockyard.errors import DataCorrupted, FailedPrecondition, InvalidArgument, NotFound

if TYPE_CHECKING:
    from dockyard.cgroups import CgroupManager

DEFAULT_ROOT: Final = Path("/run/dockyard-runtime")
STATE_VERSION: Final = 1
OCI_VERSION: Final = "1.0.2-dev"
STATE_FILE: Final = "state.json"
CONFIG_FILE: Final = "config.json"
FIFO_FILE: Final = "exec.fifo"

_ID = re.compile(r"[\w+\-.]+", re.ASCII)


class Status(StrEnum):
    """runtime-spec ``state.status`` (plus runc's ``paused``)."""

    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


# Which verbs each status allows (runc's libcontainer state machine, reduced to our verbs).
_ALLOWED: Final[dict[str, frozenset[Status]]] = {
    "start": frozenset({Status.CREATED}),
    "kill": frozenset({Status.CREATED, Status.RUNNING, Status.PAUSED}),
    "exec": frozenset({Status.CREATED, Status.RUNNING}),
    "pause": frozenset({Status.RUNNING, Status.CREATED}),
    "resume": frozenset({Status.PAUSED}),
    "delete": frozenset({Status.CREATED, Status.STOPPED}),
}


def can(verb: str, status: Status) -> bool:
    """Whether ``verb`` is allowed on a container in ``status``."""
    return status in _ALLOWED[verb]


def require(verb: str, container_id: str, status: Status) -> None:
    """Raise unless ``verb`` is allowed in ``status``.

    Raises:
        FailedPrecondition: ``container <id>: cannot <verb>: status is <status>``.
    """
    if not can(verb, status):
        raise FailedPrecondition(f"container {container_id}: cannot {verb}: status is {status}")


def validate_id(container_id: str) -> str:
    """Check a container id as runc does (letters, digits, ``_+-.``; not ``.``/``..``).

    Raises:
        InvalidArgument: the id is empty or has other characters.
    """
    if not _ID.fullmatch(container_id) or container_id in (".", ".."):
        raise InvalidArgument(f'container id "{container_id}": invalid format (want [\\w+-.]+)')
    return container_id


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerState:
    """What ``create`` records about a container (``state.json``)."""

    id: str
    bundle: str
    rootfs: str
    pid: int
    start_time: int
    created: str
    cgroup_path: str
    owner: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    has_poststop: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "version": STATE_VERSION,
            "id": self.id,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "pid": self.pid,
            "start_time": self.start_time,
            "created": self.created,
            "cgroup_path": self.cgroup_path,
            "owner": self.owner,
            "annotations": self.annotations,
            "has_poststop": self.has_poststop,
        }

    @classmethod
    def from_json(cls, obj: object, where: str) -> ContainerState:
        """Parse ``state.json``.

        Raises:
            DataCorrupted: wrong version or a field of the wrong type.
        """
        if not isinstance(obj, dict) or obj.get("version") != STATE_VERSION:
            raise DataCorrupted(f"{where}: not a version {STATE_VERSION} state file")
        try:
            state = cls(
                id=str(obj["id"]),
                bundle=str(obj["bundle"]),
                rootfs=str(obj["rootfs"]),
                pid=int(obj["pid"]),
                start_time=int(obj["start_time"]),
                created=str(obj["created"]),
                cgroup_path=str(obj["cgroup_path"]),
                owner=str(obj.get("owner", "")),
                annotations={str(k): str(v) for k, v in dict(obj.get("annotations", {})).items()},
                has_poststop=bool(obj.get("has_poststop", False)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DataCorrupted(f"{where}: malformed: {err}") from err
        return state


def oci_state(state: ContainerState, status: Status) -> dict[str, object]:
    """The state document ``runc state`` prints (pid 0 once stopped)."""
    out: dict[str, object] = {
        "ociVersion": OCI_VERSION,
        "id": state.id,
        "pid": 0 if status is Status.STOPPED else state.pid,
        "status": str(status),
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
        "owner": state.owner,
    }
    if state.annotations:
        out["annotations"] = state.annotations
    return out


def hook_state(
    container_id: str, status: Status, pid: int, bundle: str, annotations: dict[str, str]
) -> bytes:
    """The runtime-spec state JSON a hook reads on stdin."""
    doc: dict[str, object] = {
        "ociVersion": OCI_VERSION,
        "id": container_id,
        "status": str(status),
        "pid": pid,
        "bundle": bundle,
    }
    if annotations:
        doc["annotations"] = annotations
    return json.dumps(doc).encode()


def write_state_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` (in a container's directory) atomically: a temp file beside it, then
    rename. No fsync, as runc: the root is a tmpfs whose state dies with the machine, and
    this skips ``tempfile`` (a unique name is not needed: the container's directory has one
    writer, the verb that reserved it).

    Raises:
        OSError: the directory is not writable; ``path`` is unchanged.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        with open(fd, "wb", closefd=False) as f:
            f.write(data)
        os.fchmod(fd, mode)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise


class StateStore:
    """The runtime root: one directory per container (layout in the module docstring)."""

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = root

    def dir(self, container_id: str) -> Path:
        return self.root / validate_id(container_id)

    def reserve(self, container_id: str) -> Path:
        """Make the container's directory (mode 0711); the id is taken from now on.

        Raises:
            AlreadyExists: a container with this id exists.
        """
        from dockyard.errors import AlreadyExists

        self.root.mkdir(mode=0o711, parents=True, exist_ok=True)
        path = self.dir(container_id)
        try:
            path.mkdir(mode=0o711)
        except FileExistsError:
            raise AlreadyExists(f"container {container_id}: already exists") from None
        return path

    def save(self, state: ContainerState) -> None:
        data = json.dumps(state.to_json()).encode()
        write_state_file(self.dir(state.id) / STATE_FILE, data, 0o600)

    def load(self, container_id: str) -> ContainerState:
        """Read a container's state.

        Raises:
            NotFound: no such container (or it is still being created).
            DataCorrupted: the state file is malformed.
        """
        path = self.dir(container_id) / STATE_FILE
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"container {container_id}: does not exist") from None
        try:
            obj = json.loads(raw)
        except ValueError as err:
            raise DataCorrupted(f"{path}: not JSON: {err}") from err
        return ContainerState.from_json(obj, str(path))

    def ids(self) -> list[str]:
        """The ids of every container with a state file, sorted."""
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        return [n for n in names if (self.root / n / STATE_FILE).is_file()]

    def remove(self, container_id: str) -> None:
        """Delete the container's directory (no error when it is already gone)."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.dir(container_id))


def process_start_time(pid: int) -> int | None:
    """Field 22 of ``/proc/<pid>/stat`` (start time in clock ticks); None for no process
    or a zombie (a zombie has exited: its container is stopped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may hold spaces and parentheses: split after the last ")".
    fields = raw[raw.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def init_alive(state: ContainerState) -> bool:
    """Whether the container's init process still runs (same pid, same start time)."""
    return state.pid > 0 and process_start_time(state.pid) == state.start_time


def current_status(store: StateStore, state: ContainerState) -> Status:
    """Derive the status without the cgroup: stopped when the init is gone; created while
    the fifo exists; else running (:func:`status_of` also tells paused)."""
    if not init_alive(state):
        return Status.STOPPED
    if (store.dir(state.id) / FIFO_FILE).exists():
        return Status.CREATED
    return Status.RUNNING


def cgroup_of(state: ContainerState) -> CgroupManager:
    """The container's cgroup manager (from the path saved at create)."""
    from dockyard.cgroups import new_manager

    return new_manager(state.cgroup_path)


def status_of(store: StateStore, state: ContainerState) -> Status:
    """:func:`current_status`, with ``paused`` read from the cgroup freezer."""
    status = current_status(store, state)
    if status is Status.STOPPED:
        return status
    from dockyard.cgroups import FreezerState

    try:
        frozen = cgroup_of(state).state() is not FreezerState.THAWED
    except (OSError, KeyError):
        frozen = False
    return Status.PAUSED if frozen else status
