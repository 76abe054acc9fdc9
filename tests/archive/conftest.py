"""Fixtures for the archive tests: a target directory inside a sentinel tree."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.archive import ApplyResult, Limits, WhiteoutMode, apply_layer
from tests.archive.helpers import Entry, tar_bytes, tree_hash


@dataclass
class Jail:
    """``target`` (empty) inside ``outside``, a tree that no layer may change."""

    outside: Path
    target: Path

    def fingerprint(self) -> str:
        return tree_hash(self.outside, skip=self.target)

    def apply(
        self,
        entries: list[Entry] | bytes,
        mode: WhiteoutMode = WhiteoutMode.NATIVE,
        limits: Limits | None = None,
    ) -> ApplyResult:
        blob = entries if isinstance(entries, bytes) else tar_bytes(entries)
        return apply_layer(
            io.BytesIO(blob), self.target, mode=mode, limits=limits or Limits(), label="layer t"
        )


@pytest.fixture
def jail(tmp_path: Path) -> Jail:
    outside = tmp_path / "outside"
    (outside / "etc").mkdir(parents=True)
    (outside / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (outside / "x").write_text("sentinel\n")
    os.chmod(outside / "x", 0o600)
    os.utime(outside / "x", (1_000_000, 1_000_000))
    (outside / "d").mkdir()
    (outside / "d" / "keep").write_text("keep\n")
    target = outside / "target"
    target.mkdir()
    return Jail(outside=outside, target=target)


@pytest.fixture(params=["inline", "workers"])
def file_workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Apply layers both ways: every file on the calling thread (what a fast filesystem gets),
    and every small file after the first on the worker threads (as a slow one does)."""
    if request.param == "workers":
        from dockyard.archive import workers

        monkeypatch.setattr(workers, "PROBE", 1)
        monkeypatch.setattr(workers, "SLOW", -1.0)
    return str(request.param)
