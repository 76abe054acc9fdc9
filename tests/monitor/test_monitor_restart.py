"""Restart policies: docker's ``--restart`` parsing, the restart decision and the backoff."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.monitor.restart import Backoff, parse_policy, should_restart


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("", ("no", 0)),
        ("no", ("no", 0)),
        ("always", ("always", 0)),
        ("always:0", ("always", 0)),
        ("unless-stopped", ("unless-stopped", 0)),
        ("on-failure", ("on-failure", 0)),
        ("on-failure:", ("on-failure", 0)),
        ("on-failure:0", ("on-failure", 0)),
        ("on-failure:5", ("on-failure", 5)),
        ("on-failure:+2", ("on-failure", 2)),
    ],
)
def test_parse_policy(text: str, want: tuple[str, int]) -> None:
    assert parse_policy(text) == want


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("always:3", "maximum retry count can only be used with 'on-failure'"),
        ("no:1", "maximum retry count can only be used with 'on-failure'"),
        ("unless-stopped:-1", "can only be used with 'on-failure' and cannot be negative"),
        ("on-failure:-1", "maximum retry count cannot be negative"),
        ("on-failure:x", "maximum retry count must be an integer"),
        ("on-failure: 3", "maximum retry count must be an integer"),
        ("on-failure:3:4", "maximum retry count must be an integer"),
        ("on-failure:٣", "maximum retry count must be an integer"),
        (":3", "no policy provided before colon"),
        ("sometimes", "unknown policy 'sometimes'"),
        ("Always", "unknown policy 'Always'"),
    ],
)
def test_parse_policy_refuses(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_policy(text)


# (policy, max_retries, exit_code, restart_count, stopped_by_user) -> restart?
DECISIONS = [
    ("no", 0, 1, 0, False, False),
    ("no", 0, 0, 0, False, False),
    ("always", 0, 0, 0, False, True),
    ("always", 0, 137, 9, False, True),
    ("always", 0, 137, 0, True, False),
    ("unless-stopped", 0, 0, 0, False, True),
    ("unless-stopped", 0, 143, 0, True, False),
    ("on-failure", 0, 0, 0, False, False),
    ("on-failure", 0, 1, 1000, False, True),
    ("on-failure", 3, 1, 2, False, True),
    ("on-failure", 3, 1, 3, False, False),
    ("on-failure", 3, 0, 0, False, False),
    ("on-failure", 3, 1, 0, True, False),
]


@pytest.mark.parametrize(("policy", "retries", "code", "count", "by_user", "want"), DECISIONS)
def test_should_restart(
    policy: str, retries: int, code: int, count: int, by_user: bool, want: bool
) -> None:
    assert should_restart(policy, retries, code, count, by_user) is want


def test_should_restart_refuses_unknown_policy() -> None:
    with pytest.raises(InvalidArgument, match="unknown policy 'bogus'"):
        should_restart("bogus", 0, 1, 0, False)


def test_backoff_doubles_to_a_minute() -> None:
    backoff = Backoff()
    delays = [backoff.next_delay(0.5) for _ in range(12)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 60.0, 60.0]
    assert backoff.delay == 60.0


@pytest.mark.parametrize(("ran_for", "want"), [(9.99, 0.8), (10.0, 0.1), (3600.0, 0.1)])
def test_backoff_resets_after_a_long_run(ran_for: float, want: float) -> None:
    backoff = Backoff()
    for _ in range(3):
        backoff.next_delay(1.0)  # 0.1, 0.2, 0.4
    assert backoff.next_delay(ran_for) == pytest.approx(want)
    assert backoff.next_delay(0.0) == pytest.approx(want * 2)


def test_backoff_reset() -> None:
    backoff = Backoff()
    backoff.next_delay(0)
    backoff.next_delay(0)
    backoff.reset()
    assert backoff.delay == 0.0
    assert backoff.next_delay(0) == 0.1
