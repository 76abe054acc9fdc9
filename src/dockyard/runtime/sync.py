"""The sync protocol between the runtime (parent) and the container's init stages.

One ``AF_UNIX``/``SOCK_SEQPACKET`` socketpair per container: each ``send`` is one message, a
small JSON object ``{"type": ..., "pid": ...}``, so no framing is needed. The exchange for
``create`` (runc's ``procReady``/``procHooks`` pipe, simplified)::

    stage1 -> parent   USERMAP            (only with a new user namespace)
    parent -> stage1   USERMAP_DONE       uid_map/gid_map written
    stage1 -> parent   PID  pid=<stage2>  stage2 forked; stage1 exits
    parent -> stage2   GO   pid=<stage2>  in the cgroup, rlimits and oom_score_adj set
    stage2 -> parent   HOOKS              (only with prestart/createRuntime hooks)
    parent -> stage2   HOOKS_DONE
    stage2 -> parent   CREATED            rootfs ready; stage2 now blocks on exec.fifo

End of file (the peer died) reads as None; errors travel on the separate error pipe that
``runtime.child`` writes.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from enum import StrEnum

from dockyard.errors import DataCorrupted

_MAX: int = 4096


class SyncType(StrEnum):
    USERMAP = "usermap"
    USERMAP_DONE = "usermap-done"
    PID = "pid"
    GO = "go"
    HOOKS = "hooks"
    HOOKS_DONE = "hooks-done"
    CREATED = "created"


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncMessage:
    type: SyncType
    pid: int = 0


def socketpair() -> tuple[socket.socket, socket.socket]:
    """A (parent, child) pair; both ends are close-on-exec."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, kind: SyncType, pid: int = 0) -> None:
    sock.send(json.dumps({"type": str(kind), "pid": pid}).encode())


def recv(sock: socket.socket) -> SyncMessage | None:
    """The next message, or None when the peer closed its end (it exited or died).

    Raises:
        DataCorrupted: a message that is not ours.
    """
    try:
        raw = sock.recv(_MAX)
    except ConnectionResetError:
        return None
    if not raw:
        return None
    try:
        obj = json.loads(raw)
        return SyncMessage(type=SyncType(obj["type"]), pid=int(obj.get("pid", 0)))
    except (ValueError, KeyError, TypeError) as err:
        raise DataCorrupted(f"runtime sync: bad message {raw[:64]!r}") from err


def expect(sock: socket.socket, kind: SyncType) -> SyncMessage | None:
    """Wait for a message of type ``kind``; None when the peer is gone.

    Raises:
        DataCorrupted: a message of another type arrived.
    """
    msg = recv(sock)
    if msg is not None and msg.type is not kind:
        raise DataCorrupted(f"runtime sync: expected {kind}, got {msg.type}")
    return msg
