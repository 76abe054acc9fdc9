"""``start``: let a created container's init exec the user process.

The init is blocked opening ``exec.fifo`` for writing (:func:`.init.wait_for_start`). Opening
it for reading here releases it; the byte it writes confirms it got past the open. The fifo is
then removed (the status becomes ``running``) and the poststart hooks run. If a poststart
hook fails the container is killed and ``start`` fails, as runc 1.1 does.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal

from dockyard.errors import FailedPrecondition
from dockyard.oci.runtime import Spec
from dockyard.runtime.hooks import HookKind, hooks_of, run_hooks
from dockyard.runtime.state import (
    CONFIG_FILE,
    FIFO_FILE,
    ContainerState,
    StateStore,
    Status,
    current_status,
    hook_state,
    init_alive,
    require,
)


def _release(store: StateStore, state: ContainerState) -> None:
    fifo = store.dir(state.id) / FIFO_FILE
    # O_NONBLOCK: the open succeeds even if the init died; poll then waits for its byte.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            if poller.poll(100):
                with contextlib.suppress(BlockingIOError):
                    if os.read(fd, 1):
                        break
            if not init_alive(state):
                raise FailedPrecondition(f"container {state.id}: cannot start: init exited")
    finally:
        os.close(fd)
    fifo.unlink()


def load_spec(store: StateStore, container_id: str) -> Spec:
    """The spec saved at create (``<root>/<id>/config.json``)."""
    return Spec.from_bytes((store.dir(container_id) / CONFIG_FILE).read_bytes())


def start(store: StateStore, container_id: str) -> ContainerState:
    """Start a created container.

    Raises:
        NotFound: no such container.
        FailedPrecondition: it is not ``created``, its init died, or a poststart hook failed.
    """
    state = store.load(container_id)
    require("start", container_id, current_status(store, state))
    _release(store, state)
    if _has_poststart(store, container_id):
        spec = load_spec(store, container_id)
        hooks = hooks_of(spec.hooks, HookKind.POSTSTART)
        doc = hook_state(state.id, Status.RUNNING, state.pid, state.bundle, state.annotations)
        try:
            run_hooks(container_id, hooks, doc)
        except FailedPrecondition:
            with contextlib.suppress(ProcessLookupError):
                os.kill(state.pid, signal.SIGKILL)
            raise
    return state


def _has_poststart(store: StateStore, container_id: str) -> bool:
    # Cheap test before parsing the whole spec: the saved config names the key.
    return b'"poststart"' in (store.dir(container_id) / CONFIG_FILE).read_bytes()
