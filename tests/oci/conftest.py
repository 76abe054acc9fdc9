"""Fixtures for the oci tests: golden files under ``testdata/``.

Set ``DOCKYARD_UPDATE_GOLDEN=1`` to rewrite the ``*.out.json`` files, then review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

TESTDATA = Path(__file__).parent / "testdata"


@pytest.fixture
def testdata() -> Path:
    """The directory of input documents and golden outputs."""
    return TESTDATA


@pytest.fixture
def golden() -> Callable[[str, bytes], None]:
    """``golden(name, actual)`` asserts ``actual`` equals ``testdata/<name>``."""

    def check(name: str, actual: bytes) -> None:
        path = TESTDATA / name
        if os.environ.get("DOCKYARD_UPDATE_GOLDEN") == "1":
            path.write_bytes(actual)
        assert actual == path.read_bytes(), f"{name} differs from its golden file"

    return check
