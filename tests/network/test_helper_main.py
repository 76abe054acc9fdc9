"""The helper's entry point: imports with the collector paused, then the helper with it on."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from dockyard.network import helper, helper_main


def test_the_helper_runs_with_the_collector_on_and_its_imports_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[bool, int]] = []

    def fake_main() -> int:
        seen.append((gc.isenabled(), gc.get_freeze_count()))
        return 7

    monkeypatch.setattr(helper, "main", fake_main)
    try:
        assert helper_main.main() == 7
    finally:
        gc.unfreeze()  # give this test process its collector back as it was
    assert seen == [(True, seen[0][1])]
    assert seen[0][1] > 0


def test_the_entry_point_parses_the_helpers_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dockyard.network.helper_main", "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--network" in done.stdout
