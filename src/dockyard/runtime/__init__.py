"""The OCI runtime: runs a bundle (``config.json`` + rootfs) the way runc does.

One module per verb (:mod:`.create`, :mod:`.start`, :mod:`.kill`, :mod:`.delete`,
:mod:`.run`, :mod:`.exec`, :mod:`.list` for ``state``/``list``, :mod:`.ps`, :mod:`.pause`
for ``pause``/``resume``), the container's init in forked children (:mod:`.init`, with the
parent/child protocol in :mod:`.sync` and the one exit in :mod:`.child`), rootfs setup
(:mod:`.mountplan` with its :mod:`.mountsteps`, :mod:`.rootfs`, :mod:`.cgroupmounts`,
:mod:`.devices`), the final process setup before exec (:mod:`.execplan`, :mod:`.process`,
:mod:`.seccomp`), hooks (:mod:`.hooks`), the terminal (:mod:`.console`) and the state on disk
with the status state machine (:mod:`.state`). The runtime knows nothing of images, storage
or networks: it gets a bundle and a spec.

The types below are re-exported lazily (importing this package costs nothing, so the
``dockyard-runtime run`` path only pays for the modules it uses). The verb functions share
their modules' names (``create``, ``start``, ``run`` ...): import them from the modules,
``from dockyard.runtime.create import create``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.runtime.create import Created
    from dockyard.runtime.exec import ExecOptions, build_process, exec_process
    from dockyard.runtime.kill import parse_signal
    from dockyard.runtime.list import Listed, list_containers
    from dockyard.runtime.pause import resume
    from dockyard.runtime.ps import container_pids
    from dockyard.runtime.run import RunResult
    from dockyard.runtime.state import ContainerState, StateStore, Status

_EXPORTS = {
    "Created": "create",
    "ExecOptions": "exec",
    "build_process": "exec",
    "exec_process": "exec",
    "parse_signal": "kill",
    "Listed": "list",
    "list_containers": "list",
    "resume": "pause",
    "container_pids": "ps",
    "RunResult": "run",
    "ContainerState": "state",
    "StateStore": "state",
    "Status": "state",
}

__all__ = [
    "ContainerState",
    "Created",
    "ExecOptions",
    "Listed",
    "RunResult",
    "StateStore",
    "Status",
    "build_process",
    "container_pids",
    "exec_process",
    "list_containers",
    "parse_signal",
    "resume",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dockyard.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dockyard.runtime.{module}"), name)
