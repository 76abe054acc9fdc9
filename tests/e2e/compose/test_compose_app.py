"""The real three-service app of issue 9 (``app/``): a Python web service, MariaDB and Redis,
each image built on the Debian base with one ``apt-get`` (Debian's mirror is the only network
the test uses, through the builds' ``RUN``). A request through the published port writes and
reads data; the data survives ``down`` + ``up`` in the named volume and is gone after
``down -v``."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner
from tests.e2e.compose.test_compose_features import Project, free_port
from tests.engine.containers_harness import Box, boxed

pytestmark = [pytest.mark.root, pytest.mark.overlay, pytest.mark.netns, pytest.mark.slow]


@pytest.fixture
def box(dockyard: DockyardRunner, busybox_tar: Path, debian_tar: Path) -> Iterator[Box]:
    dockyard("import", str(debian_tar), "debian")
    yield from boxed(dockyard, busybox_tar)


def get(port: int, path: str) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        doc = json.loads(response.read())
    assert isinstance(doc, dict)
    return doc


@pytest.mark.timeout(1800)
def test_web_db_cache_app(box: Box, tmp_path: Path) -> None:
    port = free_port()
    p = Project(box, tmp_path, "app", WEB_PORT=str(port))
    p("up", "-d", "--wait", "--wait-timeout", "180")
    assert get(port, "/put?key=greeting&value=hello")["stored"] == "greeting"
    first = get(port, "/get?key=greeting")
    assert first["value"] == "hello"
    assert first["hits"] == 2  # Redis counted both requests
    p("down")
    p("up", "-d", "--wait", "--wait-timeout", "180")
    kept = get(port, "/get?key=greeting")
    assert kept["value"] == "hello"  # MariaDB's data lives in the named volume
    assert kept["hits"] == 1  # Redis keeps nothing: a fresh counter
    p("down", "-v")
    p("up", "-d", "--wait", "--wait-timeout", "180")
    assert get(port, "/get?key=greeting")["value"] is None
    p.down_clean()
