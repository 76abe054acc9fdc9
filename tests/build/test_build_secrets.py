"""``build --secret`` parsing and the per-step secret files (pure but for a temp dir)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dockyard.build.secrets import MAX_SIZE, parse_secrets, secrets_dir, write_secret
from dockyard.errors import InvalidArgument, NotFound


def test_sources(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"file")
    env = {"TOKEN": "from-env", "SAME": "same-name"}
    got = parse_secrets(
        [f"id=a,src={tmp_path / 'f'}", f"type=file,id=b,source={tmp_path / 'f'}",
         "id=c,env=TOKEN", "id=SAME"],
        env,
    )  # fmt: skip
    assert got == {"a": b"file", "b": b"file", "c": b"from-env", "SAME": b"same-name"}


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("src=/x", InvalidArgument, "no id="),
        ("id=a,colour=red", InvalidArgument, "unknown key 'colour'"),
        ("id=a,plain", InvalidArgument, "is not KEY=VALUE"),
        ("id=a,env=NOPE", NotFound, "NOPE is not set"),
        ("id=a,src=/no/such/file", NotFound, "cannot read /no/such/file"),
    ],
)
def test_errors(spec: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_secrets([spec], {})


def test_size_limit() -> None:
    with pytest.raises(InvalidArgument, match="over the 500 KiB limit"):
        parse_secrets(["id=big,env=BIG"], {"BIG": "x" * (MAX_SIZE + 1)})


@pytest.mark.root
def test_files_get_the_mount_mode_and_owner_and_go_away(tmp_path: Path) -> None:
    with secrets_dir(tmp_path) as directory:
        default = write_secret(directory, "a/b", b"v", mode=None, uid=None, gid=None)
        custom = write_secret(directory, "c", b"w", mode=0o440, uid=7, gid=8)
        st = os.stat(default)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, default.read_bytes()) == (0o400, 0, b"v")
        st = os.stat(custom)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o440, 7, 8)
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert not directory.exists()
