"""Running healthcheck probes from the monitor's loop (moby ``daemon/health.go``).

A probe is ``<runtime> exec <id> <test…>`` spawned with ``posix_spawn`` (no ``subprocess``
import), its output read through a pipe the loop polls, its exit reaped by the loop's SIGCHLD
handling. One probe at a time; a probe that outlives ``timeout`` is killed and counts as a
failure with exit code -1, like docker's. Results go to ``state.json`` (``health``) under the
container's lock. Import-light like :mod:`.loop`.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # not signal: its enums cost ~1 MB
import os
import select
import time

from dockyard.monitor import state
from dockyard.monitor.health import (
    TIMEOUT_EXIT_CODE,
    HealthConfig,
    HealthState,
    probe_command,
    timeout_output,
)

TYPE_CHECKING = False  # typing itself costs the monitor ~1 MB (it pulls in re)
if TYPE_CHECKING:
    from dockyard.monitor.loop import Monitor

MAX_READ = 65536


class Probe:
    """The probe in flight."""

    __slots__ = ("deadline", "fd", "output", "pid", "started", "status")

    def __init__(self, pid: int, fd: int, deadline: float) -> None:
        self.pid, self.fd, self.deadline = pid, fd, deadline
        self.started = time.time()
        self.output = b""
        self.status: int | None = None


def config_of(m: Monitor) -> HealthConfig | None:
    """The container's healthcheck, parsed once."""
    if m.health_cfg is None and m.cfg.get("health"):
        m.health_cfg = HealthConfig.from_json(m.cfg["health"])
        m.health = HealthState()
        m.next_probe = time.monotonic() + m.health_cfg.next_delay("starting", 0.0)  # type: ignore[union-attr]
    return m.health_cfg


def tick(m: Monitor) -> None:
    """Start a probe when one is due; kill one that ran past its timeout."""
    config = config_of(m)
    if config is None or m.exit_status is not None:
        return
    now = time.monotonic()
    probe: Probe | None = m.probe
    if probe is not None:
        if now > probe.deadline and probe.status is None:
            try:  # noqa: SIM105 - contextlib is an import the monitor does without
                os.kill(probe.pid, _signal.SIGKILL)
            except ProcessLookupError:
                pass
            probe.status = TIMEOUT_EXIT_CODE
            probe.output = timeout_output(config.effective_timeout).encode()
            _finish(m, probe, config)
        return
    if now < m.next_probe:
        return
    argv = [*m.cfg["runtime"], "exec", str(m.cfg["id"]), *probe_command(config)]  # type: ignore[misc]
    r, w = os.pipe2(os.O_CLOEXEC)
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, w, 1),
               (os.POSIX_SPAWN_DUP2, w, 2)]  # fmt: skip
    try:
        pid = os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions)
    finally:
        os.close(w)
        os.close(devnull)
    os.set_blocking(r, False)
    m.poll.register(r, select.POLLIN)
    m.probe = Probe(pid, r, now + config.effective_timeout)


def output(m: Monitor) -> None:
    """The probe's pipe is readable: keep the first 64 KiB; EOF closes it."""
    probe: Probe | None = m.probe
    if probe is None or probe.fd < 0:
        return
    try:
        data = os.read(probe.fd, MAX_READ)
    except BlockingIOError:
        return
    if data:
        probe.output = (probe.output + data)[:MAX_READ]
        return
    _close(m, probe)
    if probe.status is not None:
        config = config_of(m)
        assert config is not None
        _finish(m, probe, config)


def done(m: Monitor, status: int) -> None:
    """The probe process was reaped with ``status``."""
    probe: Probe | None = m.probe
    if probe is None or probe.status is not None:
        return
    probe.status = status
    if probe.fd < 0:
        config = config_of(m)
        assert config is not None
        _finish(m, probe, config)


def cancel(m: Monitor) -> None:
    """The container exited: kill the probe in flight and reap it (docker cancels its
    probes on exit), so none outlives the container or its monitor."""
    probe: Probe | None = m.probe
    if probe is None:
        return
    m.probe = None
    _close(m, probe)
    if probe.status is None:
        try:
            os.kill(probe.pid, _signal.SIGKILL)
            os.waitpid(probe.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass  # already reaped by the loop


def _close(m: Monitor, probe: Probe) -> None:
    if probe.fd >= 0:
        m.poll.unregister(probe.fd)
        os.close(probe.fd)
        probe.fd = -1


def _finish(m: Monitor, probe: Probe, config: HealthConfig) -> None:
    """Record the result and schedule the next probe."""
    _close(m, probe)
    m.probe = None
    health: HealthState = m.health  # type: ignore[assignment]
    since_start = probe.started - m.started_wall
    health.record(
        int(probe.status or 0) if probe.status is not None else 1,
        probe.output,
        probe.started,
        time.time(),
        retries=config.retries,
        in_start_period=config.in_start_period(since_start),
    )
    with state.Locked(m.dir) as st:
        if st.status in (state.RUNNING, state.PAUSED):
            st.health = health.to_json()
    m.next_probe = time.monotonic() + config.next_delay(health.status, time.time() - m.started_wall)
