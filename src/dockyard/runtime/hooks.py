"""Running the spec's lifecycle hooks (runtime-spec ``config.md#posix-platform-hooks``).

Each hook is ``path`` executed with ``args`` (``args[0]`` is its argv[0]) and exactly ``env``,
with the container's state JSON on stdin; a ``timeout`` kills it. Where each kind runs:

- ``prestart`` (deprecated), ``createRuntime``: the runtime, in the host's namespaces, after
  the container's namespaces and mounts exist but before pivot_root;
- ``createContainer``: the init, in the container's namespaces, before pivot_root;
- ``startContainer``: the init, after ``start``, before the user process execs;
- ``poststart``: the runtime, after ``start`` (in order, then ``start`` returns);
- ``poststop``: the runtime, on ``delete``, after the container is gone.

``subprocess`` is imported only when a hook runs: the common path has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from dockyard.errors import FailedPrecondition
from dockyard.oci.runtime import Hook, Hooks


class HookKind(StrEnum):
    PRESTART = "prestart"
    CREATE_RUNTIME = "createRuntime"
    CREATE_CONTAINER = "createContainer"
    START_CONTAINER = "startContainer"
    POSTSTART = "poststart"
    POSTSTOP = "poststop"


_ATTRS = {
    HookKind.PRESTART: "prestart",
    HookKind.CREATE_RUNTIME: "create_runtime",
    HookKind.CREATE_CONTAINER: "create_container",
    HookKind.START_CONTAINER: "start_container",
    HookKind.POSTSTART: "poststart",
    HookKind.POSTSTOP: "poststop",
}


def hooks_of(hooks: Hooks | None, *kinds: HookKind) -> list[tuple[HookKind, Hook]]:
    """The hooks of ``kinds``, in that order, each list in spec order."""
    if hooks is None:
        return []
    out: list[tuple[HookKind, Hook]] = []
    for kind in kinds:
        out.extend((kind, hook) for hook in getattr(hooks, _ATTRS[kind]))
    return out


def run_hook(container_id: str, kind: HookKind, index: int, hook: Hook, state: bytes) -> None:
    """Run one hook and wait for it.

    Raises:
        FailedPrecondition: it could not start, exited non-zero or timed out; the message
            names the container, the hook kind, its index and path, and its stderr.
    """
    import subprocess

    argv = list(hook.args) or [hook.path]
    what = f"container {container_id}: {kind} hook #{index} ({hook.path})"
    try:
        proc = subprocess.run(
            argv,
            executable=hook.path,
            input=state,
            env=dict(e.split("=", 1) for e in hook.env),
            capture_output=True,
            timeout=hook.timeout,
            close_fds=True,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise FailedPrecondition(f"{what}: timed out after {hook.timeout}s") from err
    except OSError as err:
        raise FailedPrecondition(f"{what}: cannot run: {err.strerror}") from err
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip()[-400:]
        status = (
            f"killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else f"exit status {proc.returncode}"
        )
        raise FailedPrecondition(f"{what}: {status}" + (f": {detail}" if detail else ""))


def run_hooks(container_id: str, hooks: Sequence[tuple[HookKind, Hook]], state: bytes) -> None:
    """Run ``hooks`` in order; the first failure stops the rest.

    Raises:
        FailedPrecondition: a hook failed (see :func:`run_hook`).
    """
    counters: dict[HookKind, int] = {}
    for kind, hook in hooks:
        index = counters.get(kind, 0)
        counters[kind] = index + 1
        run_hook(container_id, kind, index, hook, state)
