"""User names resolved from the container's passwd and group files (moby's rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.engine.users import ExecUser, read_in_root, resolve
from dockyard.errors import NotFound

PASSWD = """root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:app:/home/app:/bin/sh
"""
GROUP = """root:x:0:
daemon:x:1:
app:x:1000:
audio:x:29:app,daemon
video:x:44:app
"""


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("root", ExecUser(0, 0, (), "/root")),
        ("app", ExecUser(1000, 1000, (29, 44), "/home/app")),
        ("1000", ExecUser(1000, 1000, (29, 44), "/home/app")),
        ("4242", ExecUser(4242, 0, (), "/")),
        ("app:audio", ExecUser(1000, 29, (44,), "/home/app")),
        ("daemon:7", ExecUser(1, 7, (29,), "/usr/sbin")),
        ("4242:44", ExecUser(4242, 44, (), "/")),
    ],
)
def test_resolve(spec: str, want: ExecUser) -> None:
    assert resolve(spec, PASSWD, GROUP) == want


@pytest.mark.parametrize(
    ("spec", "message"),
    [("nobody", "unable to find user nobody"), ("app:staff", "unable to find group staff")],
)
def test_unknown_names(spec: str, message: str) -> None:
    with pytest.raises(NotFound, match=message):
        resolve(spec, PASSWD, GROUP)


def test_read_in_root_stays_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    secret = tmp_path / "host-passwd"
    secret.write_text("host:x:0:0::/:/bin/sh\n")
    # An absolute symlink in the image must resolve inside the root, never on the host.
    (root / "etc" / "passwd").symlink_to(secret)
    assert read_in_root(root, "/etc/passwd") == ""
    (root / "etc" / "group").write_text(GROUP)
    assert read_in_root(root, "/etc/group") == GROUP
