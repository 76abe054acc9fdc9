"""Which compose files, which project directory, which project name, which variables.

- Files: ``-f`` (several; ``-`` is stdin), else ``COMPOSE_FILE`` (``:``-separated), else the
  first of :data:`FILE_NAMES` in the working directory or its parents, with the first of
  :data:`OVERRIDE_NAMES` beside it.
- Project directory: ``--project-directory``, else the first file's directory (the working
  directory for stdin). Relative paths in every file start from it.
- Variables: ``--env-file`` files (else ``.env`` in the project directory) under the process
  environment, which wins.
- Project name: ``-p``, else ``COMPOSE_PROJECT_NAME``, else the files' ``name:``, else the
  project directory's name, normalised like docker compose (lower case, ``[a-z0-9_-]``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dockyard.compose.diagnostics import ComposeError
from dockyard.compose.dotenv import read_env_file

FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_NAMES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
)
_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """The global flags of ``dockyard compose``."""

    files: tuple[str, ...] = ()
    project_name: str = ""
    project_directory: str = ""
    env_files: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """One compose file: its name for messages, its path (None: stdin) and its text."""

    name: str
    path: Path | None
    text: str


def find_sources(
    options: Options, cwd: Path, environ: Mapping[str, str], stdin: Callable[[], str]
) -> list[Source]:
    """The compose files to load, in order (see the module docstring).

    Raises:
        ComposeError: a named file is missing, or none is found.
    """
    named = list(options.files)
    if not named and environ.get("COMPOSE_FILE"):
        named = [p for p in environ["COMPOSE_FILE"].split(os.pathsep) if p]
    if named:
        return [read_source(name, cwd, stdin) for name in named]
    start = Path(options.project_directory or cwd)
    for directory in (start, *start.parents):
        found = [directory / n for n in FILE_NAMES if (directory / n).is_file()]
        if found:
            overrides = [directory / n for n in OVERRIDE_NAMES if (directory / n).is_file()]
            return [read_source(str(p), cwd, stdin) for p in (found[0], *overrides[:1])]
    raise ComposeError(
        f"no configuration file provided: not found in {start} or its parents",
        hint="create compose.yaml, or name a file with -f",
    )


def read_source(name: str, cwd: Path, stdin: Callable[[], str]) -> Source:
    if name == "-":
        return Source(name="(stdin)", path=None, text=stdin())
    path = (cwd / name).resolve()
    try:
        return Source(name=name, path=path, text=path.read_text())
    except OSError as err:
        raise ComposeError(f"open {path}: {err.strerror}", hint="check the -f path") from None


def project_directory(options: Options, sources: list[Source], cwd: Path) -> Path:
    if options.project_directory:
        return (cwd / options.project_directory).resolve()
    first = sources[0].path
    return first.parent if first is not None else cwd


def environment(
    options: Options, project_dir: Path, cwd: Path, environ: Mapping[str, str]
) -> dict[str, str]:
    """The variables interpolation sees: the env files under the process environment.

    Raises:
        ComposeError: an ``--env-file`` is missing or malformed.
    """
    values: dict[str, str] = {}
    if options.env_files:
        for name in options.env_files:
            values.update(read_env_file(cwd / name, {**environ, **values}))
    elif (project_dir / ".env").is_file():
        values = read_env_file(project_dir / ".env", environ)
    return {**values, **environ}


def project_name(options: Options, env: Mapping[str, str], declared: str, project_dir: Path) -> str:
    """The project's name (see the module docstring).

    Raises:
        ComposeError: an explicit name (``-p``, ``COMPOSE_PROJECT_NAME``, ``name:``) that is
            not a valid project name.
    """
    for given, source in (
        (options.project_name, "-p"),
        (env.get("COMPOSE_PROJECT_NAME", ""), "COMPOSE_PROJECT_NAME"),
        (declared, "name:"),
    ):
        if given:
            if not _PROJECT_NAME.fullmatch(given):
                raise ComposeError(
                    f"invalid project name {given!r} (from {source}): it must consist only of "
                    "lowercase letters, digits, hyphens and underscores, and start with a "
                    "letter or a digit",
                    hint=f"try {normalize_project_name(given) or 'myapp'!r}",
                )
            return given
    name = normalize_project_name(project_dir.name)
    if not name:
        raise ComposeError(
            f"cannot derive a project name from {project_dir}", hint="give one with -p or `name:`"
        )
    return name


def normalize_project_name(text: str) -> str:
    """docker compose's ``NormalizeProjectName``: lower case, only ``[a-z0-9_-]``, starting
    with a letter or digit."""
    kept = re.sub(r"[^a-z0-9_-]", "", text.lower())
    return kept.lstrip("_-")


def profiles(options: Options, env: Mapping[str, str]) -> tuple[str, ...]:
    """``--profile`` values, else ``COMPOSE_PROFILES`` (comma-separated)."""
    if options.profiles:
        return options.profiles
    return tuple(p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip())
