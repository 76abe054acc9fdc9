"""A service's ``platform:``: read and normalised; refused, naming the service, when this host
does not run it natively (only when its images are made ready: ``config`` still works); asked
of every pull of the service's image; passed to the engine, which checks the local image."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

from dockyard.compose import images, translate
from dockyard.compose.files import Options
from dockyard.compose.loader import load
from dockyard.compose.model import Project, Service
from dockyard.engine.containers import Containers
from dockyard.errors import NotFound, Unsupported
from dockyard.metadata import ImageRecord
from dockyard.oci.platform import Platform, host_platform, parse_platform

if TYPE_CHECKING:
    from dockyard.build.builder import Progress

HOST = host_platform()
FOREIGN = "linux/amd64" if HOST.architecture == "arm64" else "linux/arm64"


def project(tmp_path: Path, platform: str, pull_policy: str = "missing") -> Project:
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(f"""
        name: demo
        services:
          web:
            image: registry.test/web:1
            platform: {platform}
            pull_policy: {pull_policy}
          plain:
            image: registry.test/plain:1
    """))  # fmt: skip
    return load(Options(), cwd=tmp_path, environ={}).project


class _NoImages:
    """An image store with nothing in it (every image must be pulled)."""

    def resolve(self, name: str) -> ImageRecord:
        raise NotFound(f"image {name}")


class _Engine:
    images = _NoImages()


def ensure(p: Project, pulls: list[tuple[str, Platform | None]]) -> dict[str, str]:
    def pull(name: str, platform: Platform | None) -> str:
        pulls.append((name, platform))
        return f"sha256:{len(pulls)}"

    def no_build(service: Service) -> Progress:
        raise AssertionError(f"service {service.name}: nothing here is built")

    engine = cast("Containers", _Engine())
    return images.ensure(engine, p, list(p.services), progress=no_build, pull=pull)


def test_platform_is_read_normalised_and_kept_as_written(tmp_path: Path) -> None:
    p = project(tmp_path, HOST.architecture)
    assert p.services["web"].platform == HOST
    assert p.services["plain"].platform is None
    doc = load(Options(), cwd=tmp_path, environ={}).document
    assert doc["services"]["web"]["platform"] == HOST.architecture
    assert project(tmp_path, '""').services["web"].platform is None  # empty: none asked


@pytest.mark.parametrize("policy", ["missing", "always"])
def test_pulls_ask_for_the_service_platform(tmp_path: Path, policy: str) -> None:
    pulls: list[tuple[str, Platform | None]] = []
    found = ensure(project(tmp_path, str(HOST), policy), pulls)
    assert pulls == [("registry.test/web:1", HOST), ("registry.test/plain:1", None)]
    assert found == {"web": "sha256:1", "plain": "sha256:2"}


def test_a_foreign_platform_is_refused_naming_the_service(tmp_path: Path) -> None:
    p = project(tmp_path, FOREIGN)  # loading works: config and down need no native platform
    pulls: list[tuple[str, Platform | None]] = []
    with pytest.raises(Unsupported) as caught:
        ensure(p, pulls)
    assert caught.value.message == (
        f"service web: platform {parse_platform(FOREIGN)} is not this host's platform "
        f"({HOST}): dockyard runs native images only (no emulation)"
    )
    assert caught.value.hint == f"use platform: {HOST}, or leave platform: out"
    assert pulls == []


def test_the_engine_gets_the_platform(tmp_path: Path) -> None:
    p = project(tmp_path, str(HOST))
    for name, platform in (("web", HOST), ("plain", None)):
        req = translate.create_request(p, p.services[name], translate.Replica(number=1),
                                       image_id="sha256:abc")  # fmt: skip
        assert req.platform == platform
