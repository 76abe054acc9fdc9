"""Docker's restart policies: parsing ``--restart``, the restart decision and its backoff.

Policies are docker's (``no``, ``always``, ``unless-stopped``, ``on-failure[:N]``). The
decision and the delay follow moby's ``restartmanager``: a container that exits is restarted
after a delay that starts at 100 ms, doubles with each restart and is capped at one minute; a
run of at least ten seconds resets it.

The monitor imports this module, and the monitor's memory is paid per running container, so it
imports nothing heavier than :mod:`dockyard.errors`: plain constants instead of an enum, a plain
class with ``__slots__`` instead of a dataclass.
"""

from __future__ import annotations

from dockyard._util.numbers import is_uint
from dockyard.errors import InvalidArgument

NO = "no"
ALWAYS = "always"
UNLESS_STOPPED = "unless-stopped"
ON_FAILURE = "on-failure"
POLICIES = (NO, ALWAYS, UNLESS_STOPPED, ON_FAILURE)

_HINT = "use no, always, unless-stopped, on-failure or on-failure:N"


def parse_policy(text: str) -> tuple[str, int]:
    """Parse a ``--restart`` value into ``(policy, max_retries)``.

    ``""`` means ``no``; ``on-failure:N`` caps the restarts at N (0: no cap). A count with any
    other policy is refused, like docker's ``ValidateRestartPolicy`` (``always:0`` is allowed).

    Args:
        text: ``no``, ``always``, ``unless-stopped``, ``on-failure`` or ``on-failure:N``.

    Returns:
        The policy (one of :data:`POLICIES`) and the maximum retry count.

    Raises:
        InvalidArgument: an unknown policy, a count that is not an integer, a negative count,
            or a count with a policy other than ``on-failure``.
    """
    name, colon, count_text = text.partition(":")
    if colon and not name:
        raise InvalidArgument(
            "invalid restart policy format: no policy provided before colon", hint=_HINT
        )
    count = 0
    if count_text:
        if not _is_go_int(count_text):
            raise InvalidArgument(
                "invalid restart policy format: maximum retry count must be an integer",
                hint=_HINT,
            )
        count = int(count_text)
    if not name:
        name = NO
    if name == ON_FAILURE:
        if count < 0:
            raise InvalidArgument(
                "invalid restart policy: maximum retry count cannot be negative", hint=_HINT
            )
        return name, count
    if name not in POLICIES:
        raise InvalidArgument(
            f"invalid restart policy: unknown policy '{name}'; use one of "
            "'no', 'always', 'on-failure', or 'unless-stopped'",
            hint=_HINT,
        )
    if count != 0:
        message = "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        if count < 0:
            message += " and cannot be negative"
        raise InvalidArgument(message, hint=_HINT)
    return name, 0


def _is_go_int(text: str) -> bool:
    """Whether Go's ``strconv.Atoi`` accepts ``text`` (an optional sign, then ASCII digits)."""
    digits = text[1:] if text[0] in "+-" else text
    return bool(digits) and is_uint(digits)


def should_restart(
    policy: str, max_retries: int, exit_code: int, restart_count: int, stopped_by_user: bool
) -> bool:
    """Whether a container that just exited is restarted (moby ``RestartManager.ShouldRestart``).

    A container the user stopped (``stop``, ``kill``, ``rm -f``) is never restarted: docker
    cancels its restart manager. Otherwise ``always`` and ``unless-stopped`` restart whatever
    the exit code; ``on-failure`` restarts on a non-zero exit while ``restart_count`` is below
    ``max_retries`` (0: no cap); ``no`` never restarts.

    Args:
        policy: one of :data:`POLICIES` (from :func:`parse_policy`).
        max_retries: the ``on-failure`` cap; 0 means none.
        exit_code: the container's exit status.
        restart_count: restarts done so far (docker's ``RestartCount``).
        stopped_by_user: the exit was asked for by the user.

    Raises:
        InvalidArgument: ``policy`` is not one of :data:`POLICIES`.
    """
    if policy not in POLICIES:
        raise InvalidArgument(f"invalid restart policy: unknown policy '{policy}'", hint=_HINT)
    if stopped_by_user or policy == NO:
        return False
    if policy == ON_FAILURE:
        return exit_code != 0 and (max_retries <= 0 or restart_count < max_retries)
    return True


class Backoff:
    """The delay before each restart (moby ``restartmanager``).

    The first delay is :attr:`INITIAL`; each later one doubles, capped at :attr:`MAXIMUM`. A run
    of at least :attr:`RESET_AFTER` seconds starts again from :attr:`INITIAL`.
    """

    __slots__ = ("_delay",)

    INITIAL = 0.1
    MAXIMUM = 60.0
    RESET_AFTER = 10.0

    def __init__(self) -> None:
        self._delay = 0.0

    @property
    def delay(self) -> float:
        """The last delay returned by :meth:`next_delay` (0 before the first)."""
        return self._delay

    def next_delay(self, ran_for_seconds: float) -> float:
        """The delay in seconds before the next restart of a container that ran that long.

        Args:
            ran_for_seconds: how long the container ran before it exited.
        """
        if ran_for_seconds >= self.RESET_AFTER:
            self._delay = 0.0
        if self._delay == 0.0:
            self._delay = self.INITIAL
        elif self._delay < self.MAXIMUM:
            self._delay *= 2
        self._delay = min(self._delay, self.MAXIMUM)
        return self._delay

    def reset(self) -> None:
        """Forget the past restarts: the next delay is :attr:`INITIAL` again."""
        self._delay = 0.0
