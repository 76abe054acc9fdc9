"""Build tests' engines: the CLI on a private root with an image imported; every container
is removed afterwards, even when the test failed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner


def _cleaned(engine: DockyardRunner) -> Iterator[DockyardRunner]:
    yield engine
    ids = engine.out("ps", "-aq").split()
    if ids:
        engine("rm", "-f", *ids)


@pytest.fixture
def box(dockyard: DockyardRunner, busybox_tar: Path) -> Iterator[DockyardRunner]:
    """The CLI with busybox imported as ``busybox``."""
    dockyard("import", str(busybox_tar), "busybox")
    yield from _cleaned(dockyard)


@pytest.fixture
def debian(dockyard: DockyardRunner, debian_tar: Path) -> Iterator[DockyardRunner]:
    """The CLI with the Debian rootfs imported as ``debian:bookworm``."""
    dockyard("import", str(debian_tar), "debian:bookworm")
    yield from _cleaned(dockyard)
