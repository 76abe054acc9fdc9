"""What ``run``/``create`` ask a pull for: ``--platform`` reaches the registry client with the
pull policies, and a platform this host does not run stops the command before any pull.

The registry client is replaced by a recording fake (the real pull is tested against a
registry in tests/distribution/client); it stops the command with a NotFound once called.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.cli import pulling
from dockyard.cli.context import AppContext
from dockyard.cli.main import main
from dockyard.errors import NotFound
from dockyard.metadata import ImageRecord
from dockyard.oci.platform import Platform, host_platform, parse_platform

HOST = host_platform()
NAME = "registry.test/app:1"


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, Platform | None]]:
    """The pulls the commands ask for, as (name, platform)."""
    calls: list[tuple[str, Platform | None]] = []

    def fake_pull(
        app: AppContext, name: str, *, quiet: bool = False, platform: Platform | None = None,
        **_: object,
    ) -> ImageRecord:  # fmt: skip
        calls.append((name, platform))
        raise NotFound(f"fake registry: {name}: not here")

    monkeypatch.setattr(pulling, "pull_image", fake_pull)
    monkeypatch.setenv("DOCKYARD_RUNROOT", str(tmp_path / "run"))
    return calls


def dockyard(tmp_path: Path, *args: str) -> int:
    return main(["--root", str(tmp_path / "state"), "--storage-driver", "native", *args])


@pytest.mark.parametrize("verb", ["run", "create"])
@pytest.mark.parametrize("policy", ["missing", "always"])
def test_the_pull_asks_for_the_platform(
    verb: str, policy: str, asked: list[tuple[str, Platform | None]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    code = dockyard(tmp_path, verb, "--pull", policy, "--platform", HOST.architecture, NAME)
    assert code == 125
    assert asked == [(NAME, HOST)]
    assert "Error: fake registry: registry.test/app:1: not here" in capsys.readouterr().err


def test_without_platform_the_pull_asks_for_none(
    asked: list[tuple[str, Platform | None]], tmp_path: Path
) -> None:
    assert dockyard(tmp_path, "create", "--pull", "always", NAME) == 125
    assert asked == [(NAME, None)]  # the registry client's default: this host's platform


def test_a_foreign_platform_is_refused_before_any_pull(
    asked: list[tuple[str, Platform | None]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "linux/amd64" if HOST.architecture == "arm64" else "linux/s390x"
    assert dockyard(tmp_path, "run", "--pull", "always", "--platform", other, NAME) == 125
    assert asked == []
    err = capsys.readouterr().err
    assert f"Error: platform {parse_platform(other)} is not this host's platform ({HOST})" in err
    assert "dockyard runs native images only (no emulation)" in err
    assert f"Hint: use --platform {HOST}, or leave --platform out" in err


def test_a_malformed_platform_is_refused(
    asked: list[tuple[str, Platform | None]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dockyard(tmp_path, "create", "--platform", "linux/amd64/v1/x", NAME) == 125
    assert asked == []
    assert 'invalid platform "linux/amd64/v1/x"' in capsys.readouterr().err
