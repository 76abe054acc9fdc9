"""The files of ``examples/`` without building them (fast): each example has its README with
the commands to run it, every Dockerfile parses without a warning and starts from the
``debian:bookworm`` base the examples' README says how to make, and the script runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.build.dockerfile.parser import parse

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAMES = ["compose-app", "hello-world", "ml-model", "private-registry"]
DOCKERFILES = sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("Dockerfile"))


def test_the_examples_are_the_four_the_readme_lists() -> None:
    assert sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()) == NAMES
    index = (EXAMPLES / "README.md").read_text()
    assert all(f"]({name}/)" in index for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_example_says_how_to_run_it(name: str) -> None:
    text = (EXAMPLES / name / "README.md").read_text()
    assert "```" in text, f"{name}/README.md: no commands"
    assert "dockyard" in text


@pytest.mark.parametrize("path", DOCKERFILES)
def test_dockerfiles_parse_cleanly_from_the_debian_base(path: str) -> None:
    parsed = parse((EXAMPLES / path).read_text(), filename=path)
    assert parsed.warnings == ()
    assert parsed.nodes[0].keyword == "FROM"
    assert parsed.nodes[0].args.split()[0] == "debian:bookworm"


def test_the_registry_script_is_executable() -> None:
    assert os.access(EXAMPLES / "private-registry" / "run.sh", os.X_OK)
