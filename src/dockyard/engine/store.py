"""Where containers live on disk, how they are found by ID, prefix or name, and how a stale
run state (a dead monitor, a reboot) is noticed.

On disk (state root ``R``, run root ``RR``)::

    R/containers/<id>/config.json      ContainerConfig (:mod:`.container`)
    R/containers/<id>/state.json       RunState (:mod:`dockyard.monitor.state`), lock
    R/containers/<id>/<id>-json.log    json-file logs (+ .1, .2 … when rotated)
    R/containers/<id>/{hostname,hosts,resolv.conf}
    R/containers/<id>/rootfs/          mount point (mounted in the monitor's mount namespace)
    RR/bundles/<id>/config.json        the OCI spec of the current run (written at each start:
                                       run state, so on the run root's tmpfs, not the disk)
    RR/runtime/<id>/                   the runtime's state; RR/attach/<id>.sock the attach socket

The metadata database keeps each container's name (UNIQUE: parallel ``--name`` races have one
winner) and image; the files are the truth for everything else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dockyard.engine.container import ContainerConfig
from dockyard.errors import InvalidArgument, NotFound
from dockyard.monitor import state as run_state
from dockyard.monitor.state import RunState

CONFIG_FILE = "config.json"


@dataclass(slots=True)
class Container:
    """A container as commands see it: its configuration, run state and directory."""

    config: ContainerConfig
    state: RunState
    dir: Path

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def log_path(self) -> Path:
        return self.dir / f"{self.id}-json.log"

    @property
    def status(self) -> str:
        return str(self.state.status)


class ContainerStore:
    """The containers under ``root/containers`` with run state under ``runroot``."""

    def __init__(self, root: Path, runroot: Path) -> None:
        self.root = root
        self.dir = root / "containers"
        self.runroot = runroot
        self.runtime_root = runroot / "runtime"
        self.attach_dir = runroot / "attach"

    def runtime_root_for(self, runtime: str) -> Path:
        """The state root of ``runtime`` (``""``: dockyard's own): runtimes keep incompatible
        state, so each gets a root of its own."""
        return self.runtime_root if not runtime else self.runroot / f"runtime-{Path(runtime).name}"

    def container_dir(self, container_id: str) -> Path:
        return self.dir / container_id

    def bundle_dir(self, container_id: str) -> Path:
        """The OCI bundle of the container's current run (its ``config.json``)."""
        return self.runroot / "bundles" / container_id

    def attach_path(self, container_id: str) -> Path:
        return self.attach_dir / f"{container_id}.sock"

    def new_id(self) -> str:
        return os.urandom(32).hex()

    def ids(self) -> list[str]:
        return sorted(run_state.iter_ids(str(self.dir)))

    def load(self, container_id: str) -> Container:
        """Read one container.

        Raises:
            NotFound: it does not exist (or is half-removed).
            DataCorrupted: its files are damaged.
        """
        directory = self.dir / container_id
        try:
            raw = (directory / CONFIG_FILE).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"No such container: {container_id}") from None
        config = ContainerConfig.from_bytes(raw, str(directory / CONFIG_FILE))
        return Container(config=config, state=run_state.load(str(directory)), dir=directory)

    def all(self) -> list[Container]:
        """Every container, newest first (docker's ``ps`` order); half-created ones skipped."""
        found = []
        for cid in self.ids():
            try:
                found.append(self.load(cid))
            except NotFound:
                continue
        found.sort(key=lambda c: c.config.created, reverse=True)
        return found

    def find(self, ref: str) -> Container:
        """Docker's lookup: a full ID, then an exact name, then a unique ID prefix.

        Raises:
            NotFound: nothing matches (docker's ``No such container: REF``).
            InvalidArgument: the prefix matches several containers.
        """
        if not ref:
            raise InvalidArgument("container name or ID is empty")
        if len(ref) == 64 and (self.dir / ref).is_dir():
            return self.load(ref)
        name = ref.removeprefix("/")
        matches = []
        for cid in self.ids():
            try:
                container = self.load(cid)
            except NotFound:
                continue
            if container.name == name:
                return container
            if cid.startswith(ref):
                matches.append(container)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise InvalidArgument(
                f"multiple containers found with provided prefix: {ref}",
                hint="give more characters of the ID, or the name",
            )
        raise NotFound(f"No such container: {ref}")

    def write_config(self, config: ContainerConfig) -> None:
        """Replace ``config.json`` atomically (callers hold the container's lock)."""
        from dockyard._util.atomic import write_atomic

        write_atomic(self.dir / config.id / CONFIG_FILE, config.to_bytes())


def validate_name(name: str) -> str:
    """Docker's container name rule ``/?[a-zA-Z0-9][a-zA-Z0-9_.-]+``.

    Raises:
        InvalidArgument: the name breaks it.
    """
    bare = name.removeprefix("/")
    ok = len(bare) >= 2 and bare[0].isascii() and bare[0].isalnum()
    ok = ok and all(c.isascii() and (c.isalnum() or c in "_.-") for c in bare)
    if not ok:
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return bare


_ADJECTIVES = (
    "admiring", "bold", "brave", "busy", "calm", "clever", "cool", "eager", "elastic",
    "focused", "gallant", "happy", "jolly", "keen", "kind", "lucid", "modest", "nifty",
    "quirky", "serene", "sharp", "stoic", "tender", "vibrant", "wizardly", "zealous",
)  # fmt: skip
_NAMES = (
    "agnesi", "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler",
    "fermi", "galileo", "hopper", "hypatia", "kepler", "lamarr", "lovelace", "meitner",
    "newton", "noether", "pascal", "ritchie", "shannon", "tesla", "thompson", "turing",
)  # fmt: skip


def random_name() -> str:
    """A docker-style ``adjective_scientist`` name (the caller retries on a clash)."""
    return f"{_pick(_ADJECTIVES)}_{_pick(_NAMES)}"


def _pick(words: tuple[str, ...]) -> str:
    """A word chosen by the kernel's random bytes (``secrets`` costs 4 ms to import; the
    modulo bias of 32 random bits over two dozen words is below 1e-8)."""
    return words[int.from_bytes(os.urandom(4), "little") % len(words)]


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    os.makedirs(path, mode=mode, exist_ok=True)
    return path
