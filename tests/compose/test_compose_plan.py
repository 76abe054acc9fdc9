"""The planner, golden-tested: ``testdata/plan/<case>/`` holds ``compose.yaml``, the existing
containers (``actual.json``: ``config_hash`` ``@current`` is the service's hash, ``@stale``
another), the existing networks and volumes (``existing.json``), ``up``'s flags and the
services' image IDs (``options.json``), and the expected plan (``plan.txt``: one action per
line, then the warnings). ``UPDATE_GOLDEN=1`` rewrites ``plan.txt``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dockyard.compose.files import Options
from dockyard.compose.loader import load
from dockyard.compose.plan import Observed, UpOptions, Verb, plan

CASES = sorted((Path(__file__).parent / "testdata" / "plan").iterdir())


def _read(path: Path, default: Any) -> Any:
    return json.loads(path.read_text()) if path.exists() else default


def _planned(case: Path) -> list[str]:
    project = load(Options(files=("compose.yaml",)), cwd=case, environ={}).project
    options = _read(case / "options.json", {})
    images = options.pop("images", {})
    actual = []
    for i, doc in enumerate(_read(case / "actual.json", [])):
        service = doc["service"]
        current = project.all_services[service].config_hash if service in project.all_services \
            else "gone"  # fmt: skip
        doc["config_hash"] = {"@current": current, "@stale": "stale"}.get(
            doc["config_hash"], doc["config_hash"]
        )
        doc.setdefault("id", f"id{i}")
        doc.setdefault("name", f"{project.name}-{service}-{doc['number']}")
        actual.append(Observed(**doc))
    existing = _read(case / "existing.json", {})
    result = plan(
        project, images, actual, networks=existing.get("networks", ()),
        volumes=existing.get("volumes", ()),
        options=UpOptions(**{k: tuple(v) if isinstance(v, list) else v
                             for k, v in options.items()}),
    )  # fmt: skip
    return [str(a) for a in result.actions] + [f"warning: {w}" for w in result.warnings]


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_plan_golden(case: Path) -> None:
    got = "\n".join(_planned(case)) + "\n"
    golden = case / "plan.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(got)
    assert got == golden.read_text()


def test_up_twice_changes_nothing() -> None:
    lines = _planned(Path(__file__).parent / "testdata" / "plan" / "unchanged")
    assert lines and all(line.startswith(f"{Verb.KEEP} ") for line in lines)
