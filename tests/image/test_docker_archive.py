"""Loading a docker-archive in Docker 20.10's own layout (``<id>/layer.tar``, ``<hex>.json``,
a repeated layer written as a symlink to the first copy, ``repositories``)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

pytestmark = pytest.mark.root


def _layer(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_load_docker_20_10_archive(state_root: Path, tmp_path: Path) -> None:
    base = _layer({"etc/os-release": b"ID=test\n", "bin/tool": b"#!/bin/sh\n"})
    top = _layer({"app/data.txt": b"hello\n"})
    diff_ids = [f"sha256:{hashlib.sha256(x).hexdigest()}" for x in (base, top, base)]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2021-01-02T03:04:05.123456789Z",
        "config": {"Cmd": ["/bin/tool"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "ADD base"}, {"created_by": "ADD app"},
                    {"created_by": "ADD base again"}],
    }).encode()  # fmt: skip
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = [{"Config": f"{config_hex}.json", "RepoTags": ["example/app:1.0"],
                 "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"]}]  # fmt: skip
    archive = tmp_path / "docker-20.10.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in (
            (f"{config_hex}.json", config),
            ("aaa/layer.tar", base),
            ("bbb/layer.tar", top),
            ("manifest.json", json.dumps(manifest).encode()),
            ("repositories", json.dumps({"example/app": {"1.0": "ccc"}}).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("ccc/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../aaa/layer.tar"
        tar.addfile(link)
    engine = DockyardRunner(state_root, driver="native")
    assert engine.out("load", "-i", str(archive)) == "Loaded image: example/app:1.0\n"
    [info] = json.loads(engine.out("inspect", "example/app:1.0"))
    assert info["Id"] == f"sha256:{config_hex}"
    assert info["RootFS"]["Layers"] == diff_ids
    assert info["Created"] == "2021-01-02T03:04:05.123456789Z"
    history = engine.out("history", "--format", "{{.CreatedBy}}", "example/app:1.0").split("\n")
    assert history[:3] == ["ADD base again", "ADD app", "ADD base"]
    assert engine.out("system", "check").startswith("ok")
