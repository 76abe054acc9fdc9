"""``-v HOST:CTR`` bind mounts end to end: a directory, a single file (read-only), and a
missing host path (created as a directory, as docker does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner
from tests.engine.containers_harness import Box, boxed

pytestmark = [pytest.mark.root, pytest.mark.overlay]


@pytest.fixture
def box(dockyard: DockyardRunner, busybox_tar: Path) -> Iterator[Box]:
    yield from boxed(dockyard, busybox_tar)


def test_bind_a_file_a_directory_and_a_missing_path(box: Box, tmp_path: Path) -> None:
    page = tmp_path / "page.txt"
    page.write_text("one file\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("from the host\n")
    missing = tmp_path / "made" / "here"
    out = box.out(
        "run", "--rm", "-v", f"{page}:/srv/index.html:ro", "-v", f"{shared}:/data",
        "-v", f"{missing}:/new", "busybox", "sh", "-c",
        "cat /srv/index.html /data/in.txt; echo out > /data/out.txt; touch /new/x; "
        "echo ro > /srv/index.html 2>/dev/null || echo refused",
    )  # fmt: skip
    assert out.splitlines() == ["one file", "from the host", "refused"]
    assert (shared / "out.txt").read_text() == "out\n"
    assert (missing / "x").exists() and page.read_text() == "one file\n"
