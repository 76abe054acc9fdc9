"""The ``compose`` CLI without containers: ``config`` and its listings, errors as docker prints
them (exit 1, ``Error:`` and ``Hint:`` lines), ``version``, ``ls`` and ``ps`` of nothing."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from dockyard.oci.platform import host_platform, parse_platform
from tests.conftest import DockyardRunner

FILE = """
    name: demo
    services:
      web:
        image: busybox
        ports: ["8080:80"]
        volumes: [data:/data]
      debug:
        image: busybox
        profiles: [tools]
    volumes:
      data:
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(FILE))
    return tmp_path


def compose(dockyard: DockyardRunner, project: Path, *args: str, check: bool = True) -> str:
    done = dockyard("compose", "--project-directory", str(project), *args, check=check)
    return done.stdout.decode() + done.stderr.decode()


def test_config_prints_the_normalised_model(dockyard: DockyardRunner, project: Path) -> None:
    out = compose(dockyard, project, "config", "--format", "json")
    doc = json.loads(out)
    assert doc["name"] == "demo"
    assert list(doc["services"]) == ["web"]
    assert doc["services"]["web"]["ports"][0]["published"] == "8080"
    assert doc["volumes"] == {"data": {"name": "demo_data"}}
    assert doc["networks"] == {"default": {"name": "demo_default"}}
    assert "services:\n  web:\n" in compose(dockyard, project, "config")


def test_config_listings(dockyard: DockyardRunner, project: Path) -> None:
    assert compose(dockyard, project, "config", "--services").split() == ["web"]
    assert compose(dockyard, project, "--profile", "tools", "config", "--services").split() == [
        "web",
        "debug",
    ]
    assert compose(dockyard, project, "config", "--volumes").split() == ["data"]
    assert compose(dockyard, project, "config", "--profiles").split() == ["tools"]
    assert compose(dockyard, project, "config", "--images").split() == ["busybox"]
    assert compose(dockyard, project, "config", "-q") == ""


def test_errors_exit_1_with_a_hint(dockyard: DockyardRunner, tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: busybox\n    prots: []\n")
    done = dockyard("compose", "--project-directory", str(tmp_path), "config", check=False)
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "Error: " in err and "services.web: additional property 'prots'" in err
    assert "Hint: did you mean 'ports'?" in err


def test_version_ls_and_ps_of_nothing(dockyard: DockyardRunner, project: Path) -> None:
    assert "Dockyard Compose version" in compose(dockyard, project, "version")
    assert compose(dockyard, project, "ls").split() == ["NAME", "STATUS", "CONFIG", "FILES"]
    assert compose(dockyard, project, "ps", "-q") == ""


def test_platform_of_another_host_loads_but_does_not_come_up(
    dockyard: DockyardRunner, tmp_path: Path
) -> None:
    host = host_platform()
    other = "linux/amd64" if host.architecture == "arm64" else "linux/arm64"
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  web:\n    image: busybox\n    platform: {other}\n"
    )
    assert f"platform: {other}" in compose(dockyard, tmp_path, "config")
    done = dockyard("compose", "--project-directory", str(tmp_path), "up", "-d", check=False)
    assert done.returncode == 1
    err = done.stderr.decode()
    assert (
        f"Error: service web: platform {parse_platform(other)} is not this host's platform "
        f"({host}): dockyard runs native images only (no emulation)"
    ) in err
    assert f"Hint: use platform: {host}, or leave platform: out" in err
    assert compose(dockyard, tmp_path, "ps", "-aq") == ""
