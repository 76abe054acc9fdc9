"""``-u``/``USER`` names -> uid, gid and supplementary groups, from the container's own
/etc/passwd and /etc/group (moby's ``user.GetExecUserPath``; pure, plus one reader).

Forms: ``name``, ``uid``, ``name:group``, ``uid:gid``, ``name:gid``, ``uid:group``. A numeric
uid with no passwd entry is allowed (docker runs as that uid with gid 0); a name must exist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dockyard._util.numbers import is_uint
from dockyard.errors import NotFound


@dataclass(frozen=True, slots=True)
class ExecUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str


def _rows(text: str) -> list[list[str]]:
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve(spec: str, passwd: str, group: str) -> ExecUser:
    """The user ``spec`` names in these passwd and group texts.

    Raises:
        NotFound: a user or group name without an entry (docker's words).
    """
    user, _, grp = spec.partition(":")
    entry = None
    for row in _rows(passwd):
        if len(row) >= 6 and (row[0] == user or (is_uint(user) and row[2] == user)):
            entry = row
            break
    if entry is None and not is_uint(user):
        raise NotFound(f"unable to find user {user}: no matching entries in passwd file")
    uid = int(entry[2]) if entry else int(user)
    gid = int(entry[3]) if entry and is_uint(entry[3]) else 0
    groups = _rows(group)
    if grp:
        gid = int(grp) if is_uint(grp) else _group_id(grp, groups)
    name = entry[0] if entry else ""
    extra = tuple(
        int(row[2])
        for row in groups
        if len(row) >= 4 and is_uint(row[2]) and name and name in row[3].split(",")
        and int(row[2]) != gid
    )  # fmt: skip
    return ExecUser(uid=uid, gid=gid, additional_gids=extra, home=entry[5] if entry else "/")


def _group_id(name: str, groups: list[list[str]]) -> int:
    for row in groups:
        if len(row) >= 3 and row[0] == name and is_uint(row[2]):
            return int(row[2])
    raise NotFound(f"unable to find group {name}: no matching entries in group file")


def read_in_root(root: Path, path: str) -> str:
    """A file of the container's tree, resolved inside ``root`` (a symlinked /etc/passwd
    cannot make us read a host file); ``""`` when missing."""
    from dockyard.linux.fs import secure_join

    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = secure_join(root_fd, path)
    except OSError:
        return ""
    finally:
        os.close(root_fd)
    try:
        with open(f"/proc/self/fd/{fd}", "rb") as f:
            return f.read(1 << 20).decode(errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def resolve_in_root(spec: str, root: Path) -> ExecUser:
    """:func:`resolve` with the passwd and group files of the tree at ``root``."""
    return resolve(spec, read_in_root(root, "/etc/passwd"), read_in_root(root, "/etc/group"))
