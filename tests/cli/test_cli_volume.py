"""``dockyard volume …`` end to end, through the real ``dockyard`` console script."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

from dockyard.engine.volumes import VolumeStore
from dockyard.metadata import ContainerRef, Database

CONTAINER = "c" * 64


def _attach(root: Path, volume: str) -> None:
    """A container using ``volume``, recorded the way the engine's ``run`` records it."""
    db = Database(root / "metadata.db")
    db.add_container(ContainerRef(id=CONTAINER, name="web", image_id="sha256:a", running=True))
    VolumeStore(root, db).attach(CONTAINER, [(volume, "/data")])
    db.close()


def test_create_ls_inspect_rm(dockyard: DockyardRunner, state_root: Path) -> None:
    assert dockyard.out("volume", "create", "--label", "env=prod", "--label", "x", "vol10") == (
        "vol10\n"
    )
    assert dockyard.out("volume", "create", "vol2") == "vol2\n"
    anonymous = dockyard.out("volume", "create").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", anonymous)
    assert dockyard.out("volume", "ls").splitlines() == [
        "DRIVER    VOLUME NAME",
        f"local     {anonymous}",
        "local     vol2",
        "local     vol10",
    ]
    assert dockyard.out("volume", "ls", "-q", "-f", "label=env=prod") == "vol10\n"
    fmt = '{{.Name}}|{{.Labels}}|{{.Label "env"}}|{{.Scope}}'
    assert dockyard.out("volume", "list", "--format", fmt, "-f", "name=vol1") == (
        "vol10|env=prod,x=|prod|local\n"
    )
    row = json.loads(dockyard.out("volume", "ls", "--format", "json", "-f", "name=vol2"))
    assert row["Name"] == "vol2" and row["Driver"] == "local" and row["Links"] == "N/A"
    [info] = json.loads(dockyard.out("volume", "inspect", "vol10"))
    assert info["Mountpoint"] == str(state_root / "volumes" / "vol10" / "_data")
    assert (info["Name"], info["Labels"], info["Options"]) == (
        "vol10",
        {"env": "prod", "x": ""},
        {},
    )
    assert dockyard.out("volume", "inspect", "-f", "{{.Driver}} {{.Labels.env}}", "vol10") == (
        "local prod\n"
    )
    assert dockyard.out("volume", "rm", "vol2", "vol10") == "vol2\nvol10\n"
    assert dockyard.out("volume", "ls", "-q") == anonymous + "\n"


def test_missing_volumes(dockyard: DockyardRunner) -> None:
    dockyard("volume", "create", "data")
    inspect = dockyard("volume", "inspect", "data", "nope", check=False)
    assert inspect.returncode == 1
    assert [v["Name"] for v in json.loads(inspect.stdout)] == ["data"]
    assert inspect.stderr.decode() == "Error: no such volume: nope\n"
    rm = dockyard("volume", "rm", "nope", "data", check=False)
    assert (rm.returncode, rm.stdout) == (1, b"data\n")
    assert b"no such volume: nope" in rm.stderr
    assert dockyard.out("volume", "rm", "-f", "nope") == "nope\n"  # like docker


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-o", "type=tmpfs", "v1"), "volume options (-o) are not supported"),
        (("-d", "nfs", "v1"), "volume driver 'nfs' is not supported"),
        (("a/b",), "includes invalid characters for a local volume name"),
        (("v",), "volume name is too short"),
        (("--label", "=x", "v1"), "invalid --label '=x': empty key"),
    ],
)
def test_create_refusals(dockyard: DockyardRunner, args: tuple[str, ...], message: str) -> None:
    proc = dockyard("volume", "create", *args, check=False)
    assert proc.returncode == 1
    assert message in proc.stderr.decode()
    assert dockyard.out("volume", "ls", "-q") == ""


def test_volume_in_use(dockyard: DockyardRunner, state_root: Path) -> None:
    dockyard("volume", "create", "used")
    dockyard("volume", "create", "idle")
    _attach(state_root, "used")
    assert dockyard.out("volume", "ls", "-q", "-f", "dangling=true") == "idle\n"
    assert dockyard.out("volume", "ls", "-q", "-f", "dangling=false") == "used\n"
    for args in (("rm", "used"), ("rm", "-f", "used")):
        proc = dockyard("volume", *args, check=False)
        assert proc.returncode == 1
        assert f"remove used: volume is in use - [{CONTAINER}]" in proc.stderr.decode()
    assert dockyard.out("volume", "prune", "-a", "-f") == (
        "Deleted Volumes:\nidle\n\nTotal reclaimed space: 0B\n"
    )
    assert dockyard.out("volume", "ls", "-q") == "used\n"


def test_prune(dockyard: DockyardRunner, state_root: Path) -> None:
    anonymous = dockyard.out("volume", "create").strip()
    dockyard("volume", "create", "named", "--label", "keep=1")
    dockyard("volume", "create", "other")
    (state_root / "volumes" / anonymous / "_data" / "f").write_bytes(b"x" * 2000)
    declined = dockyard.out("volume", "prune", input=b"n\n")
    assert declined.startswith(
        "WARNING! This will remove anonymous local volumes not used by at least one container.\n"
        "Are you sure you want to continue? [y/N]"
    )
    assert len(dockyard.out("volume", "ls", "-q").split()) == 3
    assert dockyard.out("volume", "prune", input=b"y\n").endswith(
        f"Deleted Volumes:\n{anonymous}\n\nTotal reclaimed space: 2kB\n"
    )
    assert dockyard.out("volume", "prune", "-f") == "Total reclaimed space: 0B\n"  # named stay
    assert dockyard.out("volume", "prune", "-f", "-a", "--filter", "label!=keep") == (
        "Deleted Volumes:\nother\n\nTotal reclaimed space: 0B\n"
    )
    proc = dockyard("volume", "prune", "-f", "--filter", "until=1h", check=False)
    assert (proc.returncode, b"invalid filter 'until=1h'" in proc.stderr) == (1, True)
    assert dockyard.out("volume", "ls", "-q") == "named\n"
