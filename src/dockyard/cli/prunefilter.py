"""Docker's ``prune --filter`` values: ``until=<time>``, ``label=k[=v]``, ``label!=k[=v]``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dockyard.engine.store import Container
from dockyard.errors import InvalidArgument
from dockyard.image.remove import labels_match


def parse_prune_filters(
    items: Sequence[str], *, until_allowed: bool = True
) -> tuple[list[str], float | None]:
    """(label filters, ``!``-prefixed when negated; the ``until`` time or None).

    Raises:
        InvalidArgument: another filter (``until`` too, when not ``until_allowed``).
    """
    from dockyard.cli.timeparse import parse_until

    labels: list[str] = []
    until: float | None = None
    for item in items:
        key, sep, value = item.partition("=")
        if key in ("label", "label!") and sep:
            labels.append(("!" if key == "label!" else "") + value)
        elif key == "until" and sep and until_allowed:
            until = parse_until(value)
        else:
            raise InvalidArgument(
                f"invalid filter '{item}'", hint="use until=<time> or label=<key>[=<value>]"
            )
    return labels, until


def container_keep(items: tuple[str, ...]) -> Callable[[Container], bool]:
    """A predicate keeping the containers ``container prune --filter`` excludes."""
    from dockyard._util import rfc3339

    labels, until = parse_prune_filters(items)

    def keep(container: Container) -> bool:
        if until is not None and rfc3339.parse(container.config.created) >= until:
            return True
        return not labels_match(container.config.labels, labels)

    return keep
