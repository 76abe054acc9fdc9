"""What exists on the engine for a project: its containers (by their ``com.docker.compose``
labels, states refreshed), networks and volumes; and the projects there are (``compose ls``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard._util.numbers import is_uint
from dockyard.compose import translate as lbl
from dockyard.compose.plan import Observed
from dockyard.errors import NotFound

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.store import Container


def project_containers(
    engine: Containers, project: str, *, oneoff: bool | None = False
) -> list[Container]:
    """The project's containers, oldest first; ``oneoff`` None: with ``compose run``'s too,
    True: only those."""
    found = [c for c in engine.list() if c.config.labels.get(lbl.PROJECT) == project]
    if oneoff is not None:
        found = [c for c in found if is_oneoff(c) == oneoff]
    return sorted(found, key=lambda c: (c.config.labels.get(lbl.SERVICE, ""), number(c)))


def is_oneoff(container: Container) -> bool:
    return container.config.labels.get(lbl.ONEOFF) == "True"


def number(container: Container) -> int:
    text = container.config.labels.get(lbl.NUMBER, "0")
    return int(text) if is_uint(text) else 0


def service_of(container: Container) -> str:
    return container.config.labels.get(lbl.SERVICE, "")


def observed(container: Container) -> Observed:
    """The planner's view of a container."""
    labels = container.config.labels
    health = container.state.health or {}
    return Observed(
        id=container.id,
        name=container.name,
        service=labels.get(lbl.SERVICE, ""),
        number=number(container),
        config_hash=labels.get(lbl.CONFIG_HASH, ""),
        image_id=labels.get(lbl.IMAGE, "") or container.config.image_id,
        status=container.status,
        exit_code=int(container.state.exit_code),
        health=str(health.get("Status", "")),
        oneoff=is_oneoff(container),
    )


def existing_networks(engine: Containers, names: Sequence[str]) -> list[str]:
    out = []
    for name in names:
        try:
            out.append(engine.networks.get(name).name)
        except NotFound:
            continue
    return out


def existing_volumes(engine: Containers, names: Sequence[str]) -> list[str]:
    out = []
    for name in names:
        try:
            out.append(engine.volumes.get(name).name)
        except NotFound:
            continue
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectSummary:
    """A line of ``compose ls``: a project, its containers' states and its files."""

    name: str
    status: str
    config_files: str

    @property
    def running(self) -> bool:
        return "running" in self.status


def projects(engine: Containers) -> list[ProjectSummary]:
    """Every project with containers, by name; ``status`` is docker's ``running(2), exited(1)``."""
    counts: dict[str, dict[str, int]] = {}
    files: dict[str, str] = {}
    for c in engine.list():
        name = c.config.labels.get(lbl.PROJECT)
        if not name or is_oneoff(c):
            continue
        per = counts.setdefault(name, {})
        per[c.status] = per.get(c.status, 0) + 1
        files.setdefault(name, c.config.labels.get(lbl.CONFIG_FILES, ""))
    return [
        ProjectSummary(
            name=name,
            config_files=files[name],
            status=", ".join(f"{s}({n})" for s, n in sorted(per.items())),
        )
        for name, per in sorted(counts.items())
    ]
