"""Fixtures for the registry client tests: local ``docker-registry`` instances and an engine
whose docker config (logins) and registry settings are the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import registries
from tests.support.registries import Engine


@pytest.fixture
def engine(state_root: Path, tmp_path: Path) -> Engine:
    return Engine(state_root, tmp_path / "docker")


@pytest.fixture
def other_engine(tmp_path: Path) -> Engine:
    """A second engine with nothing in it (pulls start from an empty store)."""
    root = tmp_path / "state2"
    root.mkdir()
    return Engine(root, tmp_path / "docker2")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[registries.Registry]:
    """A plain-HTTP docker-registry for the module (tests use their own repositories)."""
    if registries.REGISTRY is None:
        pytest.skip("needs docker-registry (apt-get install docker-registry)")
    reg = registries.start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()
