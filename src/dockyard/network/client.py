"""Talking to a network's helper process (light: no pyroute2 here).

Protocol: one request per connection on ``<runroot>/networks/<network id>.sock``: a JSON object
and a newline; the answer is one JSON line, ``{"ok": true, ...}`` or ``{"ok": false, "kind":
"Conflict", "message": ..., "hint": ...}`` (raised here as the matching dockyard error).

Operations: ``attach`` (idempotent: a second attach of one container replaces the first),
``detach``, ``ping`` and ``stop``. The helper is started on demand: a request that finds no
helper starts one (``python -m dockyard.network.helper_main``) and retries until it answers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from dockyard import errors
from dockyard.network.model import Endpoint, HelperConfig, Network, PortBinding

START_TIMEOUT = 60.0  # a helper may wait for another engine's lingering one (helper.py)
REPLY_TIMEOUT = 60.0


BRIDGE_LOCKS = Path("/run/lock")  # host-wide: a bridge name is the host's, not a state root's


def bridge_lock_path(bridge: str, locks: Path = BRIDGE_LOCKS) -> Path:
    """The host-wide lock file of a bridge device name (held by the helper that owns it)."""
    return locks / f"dockyard-bridge-{bridge}.lock"


def helper_dir(runroot: Path) -> Path:
    return runroot / "networks"


def socket_path(runroot: Path, network_id: str) -> Path:
    return helper_dir(runroot) / f"{network_id[:12]}.sock"


def attach(
    cfg: HelperConfig,
    network: Network,
    *,
    container_id: str,
    netns: Path,
    ifname: str,
    ip: str = "",
    names: Sequence[str] = (),
    ports: Sequence[PortBinding] = (),
    default_route: bool = True,
    dns: Sequence[str] = (),
) -> Endpoint:
    """Connect the container's namespace file ``netns`` to ``network``. ``dns`` are the
    container's ``--dns`` servers: on a user network, its DNS forwards the names it does not
    know for this container to them (docker's embedded DNS does the same).

    Raises:
        Conflict: the address or a host port is taken.
        Unavailable: the helper cannot be started.
    """
    reply = request(cfg, network, {
        "op": "attach", "container": container_id, "netns": str(netns), "ifname": ifname,
        "ip": ip, "names": list(names), "ports": [p.to_json() for p in ports],
        "default_route": default_route, "dns": list(dns),
    })  # fmt: skip
    doc = reply["endpoint"]
    assert isinstance(doc, dict)
    return Endpoint.from_json(doc)


def detach(cfg: HelperConfig, network: Network, container_id: str) -> None:
    """Remove the container's endpoint (veth, address, DNS names, published ports)."""
    request(cfg, network, {"op": "detach", "container": container_id})


def detach_message(container_id: str, netns: Path) -> bytes:
    """The request the monitor sends when its container stops for good (it cannot import
    this package: same layer): detach, then unpin the namespace file (from the host's mount
    namespace, where the helper runs; the monitor runs in a private one)."""
    doc = {"op": "detach", "container": container_id, "netns": str(netns)}
    return json.dumps(doc).encode() + b"\n"


def request(
    cfg: HelperConfig, network: Network, message: Mapping[str, object]
) -> dict[str, object]:
    """Send ``message`` to the network's helper, starting it when none answers.

    Raises:
        DockyardError: the helper's error, re-raised with its category.
        Unavailable: no helper could be started.
    """
    path = socket_path(cfg.runroot, network.id)
    deadline = time.monotonic() + START_TIMEOUT
    started = False
    while True:
        try:
            return _exchange(path, message)
        except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError, EOFError):
            if time.monotonic() > deadline:
                raise errors.Unavailable(
                    f"network {network.name}: its helper did not answer"
                    + _last_words(path.with_suffix(".log")),
                    hint=f"see {path.with_suffix('.log')}",
                ) from None
            if not started:
                started = _start(cfg, network)
            time.sleep(0.01)


def _last_words(log: Path) -> str:
    """The helper log's last line (why it stopped), for the error message."""
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f": {lines[-1]}" if lines else ""


def ping(runroot: Path, network_id: str) -> bool:
    """Whether a helper answers for the network (does not start one)."""
    try:
        _exchange(socket_path(runroot, network_id), {"op": "ping"})
    except (OSError, EOFError, errors.DockyardError):
        return False
    return True


def stop(runroot: Path, network_id: str, *, force: bool = True) -> bool:
    """Ask a running helper to tear its network down and exit, and wait until it has
    (its lock is free); False when none answered (or, not ``force``d, it still serves
    containers)."""
    path = socket_path(runroot, network_id)
    try:
        _exchange(path, {"op": "stop", "force": force})
    except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError, EOFError):
        return False
    except errors.Conflict:  # not forced, and containers joined meanwhile: it stays
        return False
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        flock_until(fd, time.monotonic() + 10.0, every=0.01)
    finally:
        os.close(fd)
    return True


def flock_until(fd: int, deadline: float, *, every: float = 0.2) -> bool:
    """Lock ``fd`` exclusively, polling every ``every`` seconds until ``deadline``; False when
    it stayed held."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(every)


def teardown(runroot: Path, network: Network) -> None:
    """After ``network rm``: stop its helper, which deletes the bridge and firewall table;
    with no helper running, remove what a crashed one left (without pyroute2). Then the
    helper's files in the run root go too (socket, locks, log): the network is gone, so no
    helper can start for it again."""
    if not stop(runroot, network.id):
        remove_leftovers(network.bridge)
    path = socket_path(runroot, network.id)
    for suffix in (".sock", ".start", ".lock", ".log"):
        with contextlib.suppress(FileNotFoundError):
            path.with_suffix(suffix).unlink()


def remove_leftovers(bridge: str) -> None:
    """Delete the bridge device and the ``dockyard-<bridge>`` nftables table, if present
    (with iproute2's ``ip`` and ``nft``: no pyroute2 import for a rare cleanup; a host
    without them has nothing of ours to delete)."""
    commands = [["nft", "delete", "table", "ip", f"dockyard-{bridge}"]]
    if Path("/sys/class/net", bridge).exists():
        commands.append(["ip", "link", "del", bridge])
    for argv in commands:
        with contextlib.suppress(OSError):
            subprocess.run(argv, check=False, capture_output=True)
    from dockyard.network.forward import unexempt_forward

    with contextlib.suppress(errors.DockyardError):
        unexempt_forward(bridge)
    drop_stale_lock(bridge_lock_path(bridge))


def drop_stale_lock(path: Path) -> bool:
    """Delete a bridge's lock file that no helper holds (a killed helper leaves it); True
    when it was deleted. Deleted while locked, as a helper lets go of it, so a helper that
    opened it meanwhile sees that the path no longer names its file and opens it again."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a helper (of this state root or another) owns the bridge
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            return False  # already replaced by a newer file
        path.unlink()
        return True
    except FileNotFoundError:
        return False
    finally:
        os.close(fd)


def _exchange(path: Path, message: Mapping[str, object]) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
        sock.settimeout(REPLY_TIMEOUT)
        sock.connect(_connectable(path))
        sock.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError(f"{path}: closed without an answer")
            data += chunk
    reply = json.loads(data)
    if not isinstance(reply, dict):
        raise errors.Unavailable(f"{path}: malformed answer")
    if not reply.get("ok"):
        kind = getattr(errors, str(reply.get("kind")), errors.DockyardError)
        if not (isinstance(kind, type) and issubclass(kind, errors.DockyardError)):
            kind = errors.DockyardError
        hint = reply.get("hint")
        raise kind(str(reply.get("message")), hint=str(hint) if hint else None)
    return reply


def _connectable(path: Path) -> str:
    """AF_UNIX paths are limited to 107 bytes; long test roots go through /proc/self/fd."""
    text = str(path)
    if len(text.encode()) < 100:
        return text
    if not path.exists():
        raise FileNotFoundError(text)
    key = str(path.parent)
    fd = _DIR_FDS.get(key)
    if fd is None:
        fd = _DIR_FDS[key] = os.open(key, os.O_PATH | os.O_CLOEXEC)  # kept for reuse
    return f"/proc/self/fd/{fd}/{path.name}"


_DIR_FDS: dict[str, int] = {}


def _answers(path: Path) -> bool:
    """Whether a helper listens on ``path`` now."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(_connectable(path))
        except OSError:
            return False
    return True


def _start(cfg: HelperConfig, network: Network) -> bool:
    """Start the network's helper, unless one is being started already: False then.

    The starter holds ``<id>.start``'s lock and hands it to the helper, which keeps it until
    it listens; a caller that finds it taken waits for the socket instead of starting a
    helper of its own (``compose up`` asks from five threads at once, and each extra helper
    spent ~0.1 s of CPU importing, on two cores, before it found the network taken). A
    helper that dies while starting lets go of the lock, and the next caller starts one.
    """
    directory = helper_dir(cfg.runroot)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = socket_path(cfg.runroot, network.id)
    lock = os.open(path.with_suffix(".start"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if _answers(path):  # it finished starting since we last asked: no second one
            return False
        argv = [
            sys.executable, "-m", "dockyard.network.helper_main", "--root", str(cfg.root),
            "--runroot", str(cfg.runroot), "--network", network.id,
            "--dns-upstream", cfg.dns_upstream, "--linger", str(cfg.linger),
            "--start-lock-fd", str(lock),
            *(["--userland-proxy"] if cfg.userland_proxy else []),
        ]  # fmt: skip
        with open(path.with_suffix(".log"), "ab") as out:  # setsid --fork: not our child
            subprocess.run(
                ["setsid", "--fork", *argv], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                pass_fds=(lock,), check=True,
            )  # fmt: skip
        return True
    finally:
        os.close(lock)  # the helper's copy keeps the lock
