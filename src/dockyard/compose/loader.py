"""Loading a project: files -> YAML -> interpolation -> strict validation (canonical forms) ->
``include`` and ``extends`` -> merge of the files -> the typed project (:mod:`.parse`).

Each file is validated on its own, so every error names the file it is in. Paths in the main
files are relative to the project directory; in an included project, to that project's
directory; in a file named by ``extends.file``, to that file's directory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.compose import files as lookup
from dockyard.compose import parse, spec
from dockyard.compose.diagnostics import ComposeError, Where
from dockyard.compose.interpolation import interpolate_tree
from dockyard.compose.merge import merge_documents, merge_service, strip_tags
from dockyard.compose.model import Project
from dockyard.compose.schema import Ctx
from dockyard.compose.yamlfile import load_yaml


@dataclass(frozen=True, slots=True, kw_only=True)
class Loaded:
    """A loaded project, the normalised document ``config`` prints, and the warnings met."""

    project: Project
    document: dict[str, Any]
    warnings: tuple[str, ...]


@dataclass(slots=True)
class _Run:
    """One load: its variables and where warnings go."""

    env: Mapping[str, str]
    warnings: list[str]

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


def load(
    options: lookup.Options,
    *,
    services: Sequence[str] = (),
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    stdin: Callable[[], str] | None = None,
) -> Loaded:
    """Load the project the options name; ``services`` named on the command line are enabled
    whatever their profiles (with what they depend on).

    Raises:
        ComposeError: any invalid file, value or reference (named).
        ComposeUnsupported: a valid key dockyard does not implement.
    """
    cwd = cwd or Path(os.getcwd())
    environ = dict(os.environ if environ is None else environ)
    sources = lookup.find_sources(options, cwd, environ, stdin or sys.stdin.read)
    project_dir = lookup.project_directory(options, sources, cwd)
    run = _Run(env=lookup.environment(options, project_dir, cwd, environ), warnings=[])
    merged: dict[str, Any] = {}
    for source in sources:
        merged = merge_documents(merged, _read(source, project_dir, run, ()))
    doc = strip_tags(merged)
    name = lookup.project_name(options, run.env, doc.get("name", ""), project_dir)
    names = tuple(s.name for s in sources)
    project, document = parse.project(
        doc,
        name=name,
        working_dir=project_dir,
        files=names,
        profiles=lookup.profiles(options, run.env),
        where=Where(names[0]),
    )
    if services:
        project = parse.enable(project, services)
    parse.check_active(project)
    return Loaded(project=project, document=document, warnings=tuple(run.warnings))


def _read(
    source: lookup.Source, base_dir: Path, run: _Run, including: tuple[str, ...]
) -> dict[str, Any]:
    """One file, validated and canonical, with its includes and extends resolved."""
    doc = _validated(source, base_dir, run)
    doc = _with_includes(doc, source, base_dir, run, including)
    services = doc.get("services") or {}
    for name in list(services):
        services[name] = _extended(services, name, source, base_dir, run, ())
    return doc


def _validated(source: lookup.Source, base_dir: Path, run: _Run) -> dict[str, Any]:
    raw = load_yaml(source.text, source.name)
    if "version" in raw:
        run.warn(f"{source.name}: `version` is obsolete (it is ignored)")
    where = Where(source.name)
    doc = interpolate_tree(raw, run.env, where, run.warn)
    assert isinstance(doc, dict)
    return spec.validate(doc, where, Ctx(base_dir=base_dir, env=run.env, warn=run.warn))


def _extended(
    services: dict[str, Any],
    name: str,
    source: lookup.Source,
    base_dir: Path,
    run: _Run,
    chain: tuple[tuple[str, str], ...],
) -> Any:
    """Service ``name`` with its ``extends`` (recursively) merged under it."""
    service = services[name]
    ext = service.get("extends") if isinstance(service, dict) else None
    if not ext:
        return service
    ext = {"service": ext} if isinstance(ext, str) else ext
    here = (source.name, name)
    if here in chain:
        trail = " -> ".join(f"{f}:{s}" for f, s in (*chain, here))
        raise ComposeError(f"circular extends: {trail}", hint="remove one of the extends")
    where = Where(source.name, f"services.{name}.extends")
    if "file" in ext:
        other = lookup.read_source(str(base_dir / ext["file"]), base_dir, lambda: "")
        other_base = other.path.parent if other.path else base_dir
        pool = _validated(other, other_base, run).get("services") or {}
        base_source, base_base = other, other_base
    else:
        pool, base_source, base_base = services, source, base_dir
    if ext["service"] not in pool:
        raise ComposeError(
            f"{where}: cannot extend service {ext['service']!r}: no such service "
            f"in {base_source.name}",
            hint="check extends.service and extends.file",
        )
    base = _extended(pool, ext["service"], base_source, base_base, run, (*chain, here))
    own = {k: v for k, v in service.items() if k != "extends"}
    return merge_service({k: v for k, v in base.items() if k != "extends"}, own)


def _with_includes(
    doc: dict[str, Any],
    source: lookup.Source,
    base_dir: Path,
    run: _Run,
    including: tuple[str, ...],
) -> dict[str, Any]:
    """``include:``: each included project is loaded on its own and its resources added;
    a resource defined on both sides is an error."""
    entries = doc.pop("include", None) or []
    for i, entry in enumerate(entries):
        where = Where(source.name, f"include[{i}]")
        entry = {"path": [entry]} if isinstance(entry, str) else entry
        paths = [(base_dir / p).resolve() for p in entry["path"]]
        if any(str(p) in including for p in paths):
            raise ComposeError(f"{where}: include cycle through {paths[0]}")
        sub_dir = (
            (base_dir / entry["project_directory"]).resolve()
            if entry.get("project_directory")
            else paths[0].parent
        )
        sub_env = dict(run.env)
        for env_file in entry.get("env_file") or [str(sub_dir / ".env")]:
            path = base_dir / env_file
            if path.is_file() or entry.get("env_file"):
                from dockyard.compose.dotenv import read_env_file

                sub_env = {**read_env_file(path, run.env), **run.env}
        sub = _Run(env=sub_env, warnings=run.warnings)
        included: dict[str, Any] = {}
        for path in paths:
            src = lookup.read_source(str(path), base_dir, lambda: "")
            included = merge_documents(
                included, _read(src, sub_dir, sub, (*including, str(source.path), str(path)))
            )
        doc = _add_included(doc, included, where)
    return doc


def _add_included(doc: dict[str, Any], included: dict[str, Any], where: Where) -> dict[str, Any]:
    out = dict(doc)
    for section in ("services", "networks", "volumes", "secrets", "configs"):
        theirs = included.get(section) or {}
        ours = dict(out.get(section) or {})
        for key, value in theirs.items():
            if key in ours:
                raise ComposeError(
                    f"{where}: {section}.{key} is defined both here and in the included project",
                    hint="rename one of them (included resources cannot be merged)",
                )
            ours[key] = value
        if ours:
            out[section] = ours
    return out
