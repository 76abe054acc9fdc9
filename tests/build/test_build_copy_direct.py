"""COPY straight into a snapshot's upper directory (no container) makes the very layers that
COPY through a container makes, and is taken only where it may be: builds of one Dockerfile
with and without it, in this process, give the same diff_ids (SOURCE_DATE_EPOCH clamps the
times that would differ)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

from dockyard.build import steps
from dockyard.cli.main import main

pytestmark = [pytest.mark.root, pytest.mark.overlay]

DOCKERFILE = """\
FROM scratch AS scr
COPY files/ /
FROM base
RUN mkdir -p /app/sub /opt/x && rm -rf /usr/sbin && echo old > /opt/x/f1
COPY files/ /app/files/
COPY files/f1 /app/sub/one
COPY --chown=7:8 --chmod=600 files /newtop/a/b/
COPY files/ /usr/sbin/
COPY files /opt/x/
COPY files/f1 /app/sub/one
COPY <<EOF /app/here.txt
hello
EOF
COPY --from=scr / /scr/
"""
# per COPY but --from (never direct): into an empty scratch image; a new directory under a
# copied-up one; a new name in an existing directory; a new tree with --chown/--chmod; a
# directory a lower layer whited out; a name that exists; the same again; a heredoc
DIRECT = [True, True, True, True, False, False, False, True]


def _base(busybox_tar: Path, at: Path) -> Path:
    """busybox with ``/app`` (mode 0750, owner 12:34, an extended attribute) added."""
    with tarfile.open(busybox_tar) as src, tarfile.open(at, "w", format=tarfile.PAX_FORMAT) as out:
        for member in src:
            out.addfile(member, src.extractfile(member) if member.isfile() else None)
        app = tarfile.TarInfo("app")
        app.type, app.mode, app.uid, app.gid = tarfile.DIRTYPE, 0o750, 12, 34
        app.pax_headers = {"SCHILY.xattr.user.k": "v"}
        out.addfile(app)
    return at


def _build(root: Path, ctx: Path, monkeypatch: pytest.MonkeyPatch, *, direct: bool) -> list[bool]:
    taken: list[bool] = []
    copy_direct = steps._copy_direct

    def spy(*args: object, **kwargs: object) -> object:
        made = copy_direct(*args, **kwargs) if direct else None  # type: ignore[arg-type]
        taken.append(made is not None)
        return made

    with monkeypatch.context() as m:
        m.setattr(steps, "_copy_direct", spy)
        m.setenv("SOURCE_DATE_EPOCH", "1000")
        code = main(["--root", str(root), "build", "--network", "none", "-q", "-t", "eq", str(ctx)])
    assert code == 0
    return taken


def _layers(engine: DockyardRunner) -> list[str]:
    return list(json.loads(engine.out("inspect", "--format", "{{json .RootFS.Layers}}", "eq")))


def test_direct_copy_makes_the_layers_a_container_makes(
    box: DockyardRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, busybox_tar: Path
) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "files" / "deep").mkdir(parents=True)
    for i in range(3):
        (ctx / "files" / f"f{i}").write_text(f"{i}\n")
    (ctx / "files" / "deep" / "x").write_text("x\n")
    (ctx / "files" / "lnk").symlink_to("f1")
    (ctx / "files" / "hard").hardlink_to(ctx / "files" / "f2")
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    base = _base(busybox_tar, tmp_path / "base.tar")
    slow = DockyardRunner(tmp_path / "slow")
    for engine in (box, slow):
        engine("import", str(base), "base")
    assert _build(box.root, ctx, monkeypatch, direct=True) == DIRECT
    assert _build(slow.root, ctx, monkeypatch, direct=False) == [False] * len(DIRECT)
    assert _layers(box) == _layers(slow)
    assert box.out("system", "check").strip().endswith("ok: no problems found")
    shown = box.out("run", "--rm", "--network", "none", "eq", "cat", "/app/sub/one",
                    "/app/here.txt", "/scr/deep/x", "/newtop/a/b/f0")  # fmt: skip
    assert shown.split() == ["1", "hello", "x", "0"]
