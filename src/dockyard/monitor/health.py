"""Docker's healthchecks: the configuration (image ``Healthcheck``, ``--health-*`` flags) and
the state the probes drive (``State.Health`` in ``inspect``), after moby ``daemon/health.go``.

Words: a *probe* runs the ``Test`` command in the container; its *result* is an exit code and
output; ``retries`` consecutive failures make the container ``unhealthy``; failures within the
*start period* (while still ``starting``) do not count; one success makes it ``healthy``.

Durations are seconds (floats) here, nanoseconds in docker's JSON; 0 means "not set" (the
default applies), as in docker's config, so that flags can override an image field by field.

The monitor imports this module, and the monitor's memory is paid per running container, so it
imports only :mod:`dockyard.errors` and :mod:`.logfile` (no ``json``, which pulls in ``re``; no
dataclasses or enum): plain classes with ``__slots__``, ``to_json`` returns plain dicts.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.monitor.logfile import GO_REPLACE, format_time_trimmed, seconds_to_ns

STARTING = "starting"
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_PERIOD = 0.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MAX_OUTPUT = 4096  # bytes of probe output kept (moby maxOutputLen)
MAX_LOG = 5  # results kept (moby maxLogEntries)
TIMEOUT_EXIT_CODE = -1
MIN_DURATION = 0.001  # moby MinimumDuration

_DURATIONS = (
    ("Interval", "interval"),
    ("Timeout", "timeout"),
    ("StartPeriod", "start_period"),
    ("StartInterval", "start_interval"),
)


class HealthConfig:
    """A healthcheck as configured; 0 (or an empty ``test``) means "not set".

    ``test`` is ``[]`` (inherit), ``["NONE"]`` (disabled), ``["CMD", arg...]`` or
    ``["CMD-SHELL", command]``.
    """

    __slots__ = ("interval", "retries", "start_interval", "start_period", "test", "timeout")

    def __init__(
        self,
        test: list[str] | None = None,
        *,
        interval: float = 0.0,
        timeout: float = 0.0,
        start_period: float = 0.0,
        start_interval: float = 0.0,
        retries: int = 0,
    ) -> None:
        self.test = list(test or ())
        self.interval = interval
        self.timeout = timeout
        self.start_period = start_period
        self.start_interval = start_interval
        self.retries = retries

    @classmethod
    def from_json(cls, obj: object) -> HealthConfig | None:
        """Read docker's ``Healthcheck`` object (``Config.Healthcheck``); None stays None.

        Raises:
            InvalidArgument: not an object, or a field of the wrong type.
        """
        if obj is None:
            return None
        if not isinstance(obj, dict):
            raise InvalidArgument("Healthcheck: not a JSON object")
        test = obj.get("Test") or []
        if not isinstance(test, list) or not all(isinstance(t, str) for t in test):
            raise InvalidArgument("Healthcheck: Test is not a list of strings")
        config = cls(test)
        for key, attr in _DURATIONS:
            value = obj.get(key) or 0
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidArgument(f"Healthcheck: {key} is not a duration in nanoseconds")
            setattr(config, attr, value / 1e9)
        retries = obj.get("Retries") or 0
        if not isinstance(retries, int) or isinstance(retries, bool):
            raise InvalidArgument("Healthcheck: Retries is not an integer")
        config.retries = retries
        return config

    def to_json(self) -> dict[str, object]:
        """Docker's ``Healthcheck`` object; unset fields are left out (``omitempty``)."""
        out: dict[str, object] = {}
        if self.test:
            out["Test"] = list(self.test)
        for key, attr in _DURATIONS:
            seconds = getattr(self, attr)
            if seconds:
                out[key] = round(seconds * 1e9)
        if self.retries:
            out["Retries"] = self.retries
        return out

    def validate(self) -> None:
        """Check the values as moby does when a container is created.

        Raises:
            InvalidArgument: a duration between 0 and 1 ms (or negative), negative retries.
        """
        for key, attr in _DURATIONS:
            seconds = getattr(self, attr)
            if seconds != 0 and seconds < MIN_DURATION:
                raise InvalidArgument(
                    f"{key} in Healthcheck cannot be less than 1ms",
                    hint="use 0 for the default or a duration of at least 1ms",
                )
        if self.retries < 0:
            raise InvalidArgument("Retries in Healthcheck cannot be negative")

    @property
    def disabled(self) -> bool:
        """No probe runs: ``test`` is empty, ``["NONE"]`` or of an unknown kind."""
        return not self.test or self.test[0] not in ("CMD", "CMD-SHELL")

    @property
    def effective_interval(self) -> float:
        return self.interval or DEFAULT_INTERVAL

    @property
    def effective_timeout(self) -> float:
        return self.timeout or DEFAULT_TIMEOUT

    @property
    def effective_start_period(self) -> float:
        return self.start_period or DEFAULT_START_PERIOD

    @property
    def effective_start_interval(self) -> float:
        return self.start_interval or DEFAULT_START_INTERVAL

    @property
    def effective_retries(self) -> int:
        return self.retries if self.retries > 0 else DEFAULT_RETRIES

    def in_start_period(self, since_start: float) -> bool:
        """Whether a probe begun ``since_start`` seconds after the container started is early."""
        return since_start < self.effective_start_period

    def next_delay(self, status: str, since_start: float) -> float:
        """Seconds until the next probe (moby ``monitor``'s ``getInterval``).

        While the container is ``starting`` within its start period, probes run every
        ``start_interval``; otherwise every ``interval``.
        """
        if status == STARTING and self.in_start_period(since_start):
            return self.effective_start_interval
        return self.effective_interval

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HealthConfig) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"HealthConfig({self.to_json()!r})"


def from_flags(
    *,
    cmd: str | None = None,
    interval: float = 0.0,
    timeout: float = 0.0,
    start_period: float = 0.0,
    start_interval: float = 0.0,
    retries: int = 0,
    no_healthcheck: bool = False,
) -> HealthConfig | None:
    """The healthcheck the ``--health-*`` flags ask for (docker/cli ``parse``), None if none.

    Raises:
        InvalidArgument: ``--no-healthcheck`` with another health flag, or a negative value.
    """
    durations = {
        "interval": interval,
        "timeout": timeout,
        "start-period": start_period,
        "start-interval": start_interval,
    }
    have_settings = bool(cmd) or retries != 0 or any(durations.values())
    if no_healthcheck:
        if have_settings:
            raise InvalidArgument(
                "--no-healthcheck conflicts with --health-* options",
                hint="drop --no-healthcheck or the --health-* options",
            )
        return HealthConfig(["NONE"])
    if not have_settings:
        return None
    for name, value in [*durations.items(), ("retries", retries)]:
        if value < 0:
            raise InvalidArgument(f"--health-{name} cannot be negative")
    return HealthConfig(
        ["CMD-SHELL", cmd] if cmd else [],
        interval=interval,
        timeout=timeout,
        start_period=start_period,
        start_interval=start_interval,
        retries=retries,
    )


def merge(image: HealthConfig | None, overrides: HealthConfig | None) -> HealthConfig | None:
    """The container's healthcheck: ``overrides`` (flags) over ``image``, field by field.

    Mirrors moby's ``merge`` at container creation: unset fields of ``overrides`` come from the
    image. Neither argument is changed.
    """
    if overrides is None:
        return None if image is None else HealthConfig.from_json(image.to_json())
    merged = HealthConfig.from_json(overrides.to_json())
    assert merged is not None
    if image is not None:
        merged.test = merged.test or list(image.test)
        merged.interval = merged.interval or image.interval
        merged.timeout = merged.timeout or image.timeout
        merged.start_period = merged.start_period or image.start_period
        merged.start_interval = merged.start_interval or image.start_interval
        merged.retries = merged.retries or image.retries
    return merged


def probe_command(
    config: HealthConfig, shell: list[str] | tuple[str, ...] = ("/bin/sh", "-c")
) -> list[str]:
    """The argv of the probe: ``CMD a b`` -> ``[a, b]``; ``CMD-SHELL x`` -> ``shell + [x]``.

    Args:
        config: the container's healthcheck.
        shell: the image's ``Shell`` (the Dockerfile's SHELL), ``/bin/sh -c`` by default.

    Returns:
        The argv, or ``[]`` when no probe runs (:attr:`HealthConfig.disabled`).
    """
    if config.disabled:
        return []
    if config.test[0] == "CMD-SHELL":
        return [*shell, *config.test[1:]]
    return config.test[1:]


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String``: ``30s``, ``1m30s``, ``1h0m0s``, ``1.5s``, ``500ms``."""
    ns = round(seconds * 1e9)
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for scale, unit in ((1_000_000, "ms"), (1_000, "µs"), (1, "ns")):
            if ns >= scale:
                return sign + _decimal(ns, scale) + unit
    whole, fraction = divmod(ns, 1_000_000_000)
    text = _decimal(whole % 60 * 1_000_000_000 + fraction, 1_000_000_000) + "s"
    minutes, hours = whole // 60 % 60, whole // 3600
    if whole >= 60:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _decimal(value: int, scale: int) -> str:
    whole, fraction = divmod(value, scale)
    digits = str(fraction).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def timeout_output(timeout: float) -> str:
    """The output docker records for a probe that ran out of time."""
    return f"Health check exceeded timeout ({go_duration(timeout)})"


def limit_output(output: bytes | str) -> str:
    """Probe output as docker keeps it: the first 4096 bytes, ``...`` appended if cut."""
    data = output.encode() if isinstance(output, str) else output
    text = data[:MAX_OUTPUT].decode("utf-8", GO_REPLACE)
    return text + "..." if len(data) > MAX_OUTPUT else text


class HealthResult:
    """One probe's result (docker's ``HealthcheckResult``); times are RFC 3339 strings."""

    __slots__ = ("end", "exit_code", "output", "start")

    def __init__(self, *, start: str, end: str, exit_code: int, output: str) -> None:
        self.start = start
        self.end = end
        self.exit_code = exit_code
        self.output = output

    @classmethod
    def from_json(cls, obj: object) -> HealthResult:
        """Read ``{"Start", "End", "ExitCode", "Output"}``.

        Raises:
            InvalidArgument: a field is missing or of the wrong type.
        """
        if not isinstance(obj, dict):
            raise InvalidArgument("State.Health.Log: entry is not a JSON object")
        start, end = obj.get("Start"), obj.get("End")
        code, output = obj.get("ExitCode"), obj.get("Output", "")
        if not (isinstance(start, str) and isinstance(end, str) and isinstance(output, str)):
            raise InvalidArgument("State.Health.Log: Start, End and Output must be strings")
        if not isinstance(code, int) or isinstance(code, bool):
            raise InvalidArgument("State.Health.Log: ExitCode must be an integer")
        return cls(start=start, end=end, exit_code=code, output=output)

    def to_json(self) -> dict[str, object]:
        return {
            "Start": self.start,
            "End": self.end,
            "ExitCode": self.exit_code,
            "Output": self.output,
        }


class HealthState:
    """A container's health (docker's ``State.Health``) and the rules that move it."""

    __slots__ = ("failing_streak", "log", "status")

    def __init__(
        self,
        status: str = STARTING,
        failing_streak: int = 0,
        log: list[HealthResult] | None = None,
    ) -> None:
        self.status = status
        self.failing_streak = failing_streak
        self.log = list(log or ())

    def restart(self) -> None:
        """The container (re)started: ``starting`` with no failures; the log is kept."""
        self.status = STARTING
        self.failing_streak = 0

    def record(
        self,
        exit_code: int,
        output: bytes | str,
        start: float,
        end: float,
        *,
        retries: int = DEFAULT_RETRIES,
        in_start_period: bool = False,
    ) -> bool:
        """Apply one probe result (moby ``handleProbeResult``).

        Exit code 0 makes the container ``healthy`` and clears the streak. Any other code
        (a timeout is :data:`TIMEOUT_EXIT_CODE` with :func:`timeout_output`) adds to the
        streak, unless the container is ``starting`` and the probe began in the start period;
        ``retries`` failures in a row make it ``unhealthy``.

        Args:
            exit_code: the probe's exit status.
            output: its stdout and stderr (cut to 4096 bytes here).
            start: UNIX time the probe began.
            end: UNIX time it ended.
            retries: the config's ``Retries``; <= 0 means the default (3).
            in_start_period: the probe began within the start period
                (:meth:`HealthConfig.in_start_period`).

        Returns:
            True if the status changed (docker emits a ``health_status`` event then).
        """
        before = self.status
        result = HealthResult(
            start=format_time_trimmed(seconds_to_ns(start)),
            end=format_time_trimmed(seconds_to_ns(end)),
            exit_code=exit_code,
            output=limit_output(output),
        )
        self.log = [*self.log, result][-MAX_LOG:]
        if exit_code == 0:
            self.failing_streak = 0
            self.status = HEALTHY
        elif not (self.status == STARTING and in_start_period):
            self.failing_streak += 1
            if self.failing_streak >= (retries if retries > 0 else DEFAULT_RETRIES):
                self.status = UNHEALTHY
        return self.status != before

    @classmethod
    def from_json(cls, obj: object) -> HealthState:
        """Read docker's ``State.Health`` object.

        Raises:
            InvalidArgument: not an object, an unknown status, or a malformed field.
        """
        if not isinstance(obj, dict):
            raise InvalidArgument("State.Health: not a JSON object")
        status, streak = obj.get("Status", STARTING), obj.get("FailingStreak", 0)
        if status not in (STARTING, HEALTHY, UNHEALTHY):
            raise InvalidArgument(f"State.Health: unknown status {status!r}")
        if not isinstance(streak, int) or isinstance(streak, bool):
            raise InvalidArgument("State.Health: FailingStreak must be an integer")
        entries = obj.get("Log")
        entries = [] if entries is None else entries
        if not isinstance(entries, list):
            raise InvalidArgument("State.Health: Log must be a list")
        return cls(status, streak, [HealthResult.from_json(e) for e in entries])

    def to_json(self) -> dict[str, object]:
        """Docker's ``State.Health``: ``{"Status", "FailingStreak", "Log"}``."""
        return {
            "Status": self.status,
            "FailingStreak": self.failing_streak,
            "Log": [r.to_json() for r in self.log],
        }
