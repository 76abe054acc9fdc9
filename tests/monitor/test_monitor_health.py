"""Healthchecks: docker's config forms, flag merging, the probe argv and the state machine."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.monitor.health import (
    HEALTHY,
    STARTING,
    UNHEALTHY,
    HealthConfig,
    HealthResult,
    HealthState,
    from_flags,
    go_duration,
    limit_output,
    merge,
    probe_command,
    timeout_output,
)

S = 1_000_000_000  # ns per second

IMAGE = {
    "Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
    "Interval": 10 * S,
    "Timeout": 2 * S,
    "StartPeriod": 60 * S,
    "Retries": 4,
}


def test_config_round_trip_and_defaults() -> None:
    config = HealthConfig.from_json(IMAGE)
    assert config is not None
    assert config.to_json() == IMAGE
    assert (config.interval, config.timeout, config.start_period) == (10.0, 2.0, 60.0)
    assert config.start_interval == 0.0  # unset: the default applies
    assert config.effective_start_interval == 5.0
    assert config.effective_retries == 4
    empty = HealthConfig.from_json({})
    assert empty is not None
    assert empty.to_json() == {}
    assert (empty.effective_interval, empty.effective_timeout) == (30.0, 30.0)
    assert (empty.effective_start_period, empty.effective_retries) == (0.0, 3)
    assert HealthConfig.from_json(None) is None


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "not a JSON object"),
        ({"Test": "CMD true"}, "Test is not a list of strings"),
        ({"Interval": "30s"}, "Interval is not a duration"),
        ({"Timeout": 1.5}, "Timeout is not a duration"),
        ({"Retries": True}, "Retries is not an integer"),
    ],
)
def test_config_from_json_refuses(obj: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        HealthConfig.from_json(obj)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (HealthConfig(interval=0.0005), "Interval in Healthcheck cannot be less than 1ms"),
        (HealthConfig(timeout=-1), "Timeout in Healthcheck cannot be less than 1ms"),
        (HealthConfig(start_interval=1e-6), "StartInterval in Healthcheck cannot be less"),
        (HealthConfig(retries=-1), "Retries in Healthcheck cannot be negative"),
    ],
)
def test_validate(config: HealthConfig, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        config.validate()


def test_validate_accepts_unset_and_one_millisecond() -> None:
    HealthConfig(interval=0.001, timeout=0, retries=0).validate()


@pytest.mark.parametrize(
    ("flags", "want"),
    [
        ({}, None),
        ({"no_healthcheck": True}, {"Test": ["NONE"]}),
        ({"cmd": "true"}, {"Test": ["CMD-SHELL", "true"]}),
        ({"interval": 5.0, "retries": 2}, {"Interval": 5 * S, "Retries": 2}),
        ({"start_interval": 0.5}, {"StartInterval": S // 2}),
    ],
)
def test_from_flags(flags: dict[str, object], want: dict[str, object] | None) -> None:
    got = from_flags(**flags)  # type: ignore[arg-type]
    assert (got.to_json() if got else None) == want


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"no_healthcheck": True, "cmd": "true"}, "--no-healthcheck conflicts with --health-*"),
        ({"no_healthcheck": True, "retries": 1}, "--no-healthcheck conflicts"),
        ({"interval": -1.0}, "--health-interval cannot be negative"),
        ({"start_period": -1.0}, "--health-start-period cannot be negative"),
        ({"retries": -2}, "--health-retries cannot be negative"),
    ],
)
def test_from_flags_refuses(flags: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        from_flags(**flags)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("image", "flags", "want"),
    [
        (IMAGE, None, IMAGE),
        (None, None, None),
        (None, {"Test": ["CMD", "true"]}, {"Test": ["CMD", "true"]}),
        (IMAGE, {"Interval": 3 * S}, {**IMAGE, "Interval": 3 * S}),
        (
            IMAGE,
            {"Test": ["CMD", "x"], "Retries": 9},
            {**IMAGE, "Test": ["CMD", "x"], "Retries": 9},
        ),
        (IMAGE, {"Test": ["NONE"]}, {**IMAGE, "Test": ["NONE"]}),
    ],
)
def test_merge_field_by_field(
    image: dict[str, object] | None, flags: dict[str, object] | None, want: object
) -> None:
    image_config = HealthConfig.from_json(image)
    flag_config = HealthConfig.from_json(flags)
    merged = merge(image_config, flag_config)
    assert (merged.to_json() if merged else None) == want
    assert (image_config.to_json() if image_config else None) == image  # not changed


def test_merge_with_no_healthcheck_disables() -> None:
    merged = merge(HealthConfig.from_json(IMAGE), from_flags(no_healthcheck=True))
    assert merged is not None
    assert merged.disabled
    assert probe_command(merged) == []


@pytest.mark.parametrize(
    ("test", "shell", "want"),
    [
        (["CMD-SHELL", "exit 1"], None, ["/bin/sh", "-c", "exit 1"]),
        (["CMD-SHELL", "exit 1"], ["pwsh", "-Command"], ["pwsh", "-Command", "exit 1"]),
        (["CMD", "/bin/check", "--fast"], None, ["/bin/check", "--fast"]),
        (["NONE"], None, []),
        ([], None, []),
        (["BOGUS", "x"], None, []),
    ],
)
def test_probe_command(test: list[str], shell: list[str] | None, want: list[str]) -> None:
    config = HealthConfig(test)
    got = probe_command(config) if shell is None else probe_command(config, shell)
    assert got == want


@pytest.mark.parametrize(
    ("seconds", "want"),
    [
        (30, "30s"),
        (90, "1m30s"),
        (3600, "1h0m0s"),
        (3725.25, "1h2m5.25s"),
        (1.5, "1.5s"),
        (0.5, "500ms"),
        (0.0015, "1.5ms"),
        (2e-6, "2µs"),
        (1e-9, "1ns"),
        (0, "0s"),
        (-2, "-2s"),
    ],
)
def test_go_duration(seconds: float, want: str) -> None:
    assert go_duration(seconds) == want


def test_timeout_output() -> None:
    assert timeout_output(30.0) == "Health check exceeded timeout (30s)"
    assert timeout_output(0.25) == "Health check exceeded timeout (250ms)"


def test_limit_output() -> None:
    assert limit_output(b"ok\n") == "ok\n"
    assert limit_output("x" * 4096) == "x" * 4096
    assert limit_output(b"y" * 5000) == "y" * 4096 + "..."
    assert limit_output(b"bad \xff byte") == "bad \ufffd byte"


T0 = 1_700_000_000.0

# Each step: (exit_code, in_start_period) -> (status, failing_streak) after it, retries=3.
SEQUENCES = {
    "fails in the start period do not count": (
        [(1, True), (1, True), (1, True), (1, True)],
        [(STARTING, 0)] * 4,
    ),
    "three failures make it unhealthy": (
        [(1, False), (1, False), (1, False), (1, False)],
        [(STARTING, 1), (STARTING, 2), (UNHEALTHY, 3), (UNHEALTHY, 4)],
    ),
    "a success in the start period makes it healthy": (
        [(1, True), (0, True), (1, True), (1, True), (1, True)],
        [(STARTING, 0), (HEALTHY, 0), (HEALTHY, 1), (HEALTHY, 2), (UNHEALTHY, 3)],
    ),
    "a success clears the streak": (
        [(1, False), (1, False), (0, False), (1, False), (1, False)],
        [(STARTING, 1), (STARTING, 2), (HEALTHY, 0), (HEALTHY, 1), (HEALTHY, 2)],
    ),
    "an unhealthy container recovers": (
        [(2, False), (-1, False), (1, False), (0, False)],
        [(STARTING, 1), (STARTING, 2), (UNHEALTHY, 3), (HEALTHY, 0)],
    ),
}


@pytest.mark.parametrize("name", SEQUENCES)
def test_state_sequences(name: str) -> None:
    steps, want = SEQUENCES[name]
    state = HealthState()
    got = []
    for i, (code, early) in enumerate(steps):
        state.record(code, b"out", T0 + i, T0 + i + 0.5, in_start_period=early)
        got.append((state.status, state.failing_streak))
    assert got == want


def test_record_reports_status_changes_and_honours_retries() -> None:
    state = HealthState()
    changes = [state.record(1, "", T0, T0, retries=1), state.record(1, "", T0, T0, retries=1)]
    assert changes == [True, False]
    assert state.status == UNHEALTHY
    assert state.record(0, "", T0, T0) is True
    state.restart()
    assert (state.status, state.failing_streak, len(state.log)) == (STARTING, 0, 3)


def test_log_keeps_last_five_and_serialises_like_docker() -> None:
    state = HealthState()
    for i in range(7):
        state.record(i % 2, f"run {i}".encode(), T0 + i, T0 + i + 0.25)
    doc = state.to_json()
    assert doc["Status"] == HEALTHY
    assert doc["FailingStreak"] == 0
    assert doc["Log"] == [
        {
            "Start": f"2023-11-14T22:13:{20 + i:02d}Z",
            "End": f"2023-11-14T22:13:{20 + i:02d}.25Z",
            "ExitCode": i % 2,
            "Output": f"run {i}",
        }
        for i in range(2, 7)
    ]
    again = HealthState.from_json(doc)
    assert again.to_json() == doc


def test_timeout_result_is_recorded_as_docker_does() -> None:
    state = HealthState()
    state.record(-1, timeout_output(2.0), T0, T0 + 2)
    assert state.log[-1].to_json()["ExitCode"] == -1
    assert state.log[-1].output == "Health check exceeded timeout (2s)"


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "not a JSON object"),
        ({"Status": "sick"}, "unknown status 'sick'"),
        ({"FailingStreak": "2"}, "FailingStreak must be an integer"),
        ({"Log": {}}, "Log must be a list"),
        ({"Log": [{"Start": 1, "End": "", "ExitCode": 0}]}, "must be strings"),
    ],
)
def test_state_from_json_refuses(obj: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        HealthState.from_json(obj)


def test_state_from_json_null_log() -> None:
    state = HealthState.from_json({"Status": "healthy", "FailingStreak": 0, "Log": None})
    assert state.log == []
    assert HealthResult.from_json(
        {"Start": "a", "End": "b", "ExitCode": 1, "Output": "x"}
    ).to_json() == {"Start": "a", "End": "b", "ExitCode": 1, "Output": "x"}


@pytest.mark.parametrize(
    ("status", "since_start", "want"),
    [(STARTING, 1.0, 2.0), (STARTING, 60.0, 10.0), (HEALTHY, 1.0, 10.0)],
)
def test_next_delay_uses_start_interval_while_starting(
    status: str, since_start: float, want: float
) -> None:
    config = HealthConfig(interval=10.0, start_period=30.0, start_interval=2.0)
    assert config.next_delay(status, since_start) == want
    assert config.in_start_period(since_start) is (since_start < 30.0)
