"""specgen against golden specs (regenerate with DOCKYARD_UPDATE_GOLDEN=1)."""

from __future__ import annotations

import json
import os

import pytest
from tests.engine.specgen_cases import CASES, case_names, generate_case

from dockyard.oci.runtime import Spec


@pytest.mark.parametrize("case", case_names())
def test_golden(case: str) -> None:
    spec = generate_case(case)
    text = json.dumps(spec.to_json(), indent=1) + "\n"
    golden = CASES / case / "spec.json"
    if os.environ.get("DOCKYARD_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert golden.exists(), f"{golden} missing: run with DOCKYARD_UPDATE_GOLDEN=1"
    assert json.loads(golden.read_text()) == json.loads(text)
    # What specgen writes, the runtime's strict parser reads back unchanged.
    assert Spec.from_json(spec.to_json()) == spec


def test_there_are_the_ten_cases() -> None:
    assert len(case_names()) >= 10
