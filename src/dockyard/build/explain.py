"""``build --cache-explain``: why each step hit or missed the cache.

After every step the builder records the step's inputs under its Dockerfile position (the
context directory, the Dockerfile, the stage index and the step index), and on the next build
of the same position compares them with the new inputs. The first input that differs is the
reason of a miss, checked in this order: the instruction text, the build args it uses, the
files it selects (COPY/ADD from the context, RUN bind mounts: per-file digests), the image a
``COPY --from`` reads, the parent (for a stage's first step: its base image; later: the step
before it was rebuilt). A miss with equal inputs means the cached image is gone or the cache
was bypassed.

Record on disk (``<state root>/build/explain/<sha256 of the position>.json``, version 1)::

    {"version": 1, "parent": "sha256:…", "text": "COPY . /app", "args": {"A": "1"},
     "files": {"src/a.py": "file:644:sha256:…"}, "source": "sha256:…"}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class StepInputs:
    """What a step's cache key was made of, in a form that can be compared input by input."""

    parent: str
    text: str
    args: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "version": VERSION, "parent": self.parent, "text": self.text, "args": self.args,
            "files": self.files, "source": self.source,
        }  # fmt: skip

    @classmethod
    def from_json(cls, doc: object) -> StepInputs | None:
        """The record in ``doc``, or None when it is not a version-1 record."""
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            return None
        args, files = doc.get("args", {}), doc.get("files", {})
        if not isinstance(args, dict) or not isinstance(files, dict):
            return None
        return cls(
            parent=str(doc.get("parent", "")), text=str(doc.get("text", "")),
            args={str(k): str(v) for k, v in args.items()},
            files={str(k): str(v) for k, v in files.items()}, source=str(doc.get("source", "")),
        )  # fmt: skip


class Explainer:
    """The records of one build (a context and a Dockerfile) under ``directory``."""

    def __init__(self, directory: Path, identity: str) -> None:
        self.directory = directory
        self.identity = identity

    def _path(self, stage: int, step: int) -> Path:
        position = f"{self.identity}\0{stage}\0{step}"
        return self.directory / (hashlib.sha256(position.encode()).hexdigest() + ".json")

    def previous(self, stage: int, step: int) -> StepInputs | None:
        """The inputs the step at this position had in the last build (None: none known)."""
        try:
            return StepInputs.from_json(json.loads(self._path(stage, step).read_bytes()))
        except (OSError, ValueError):
            return None

    def record(self, stage: int, step: int, inputs: StepInputs) -> None:
        """Remember ``inputs`` for the next build (atomically)."""
        from dockyard._util.atomic import write_atomic

        self.directory.mkdir(parents=True, exist_ok=True)
        data = json.dumps(inputs.to_json(), sort_keys=True, separators=(",", ":")).encode()
        write_atomic(self._path(stage, step), data, 0o600)


def reason(old: StepInputs | None, new: StepInputs, *, first: bool) -> str:
    """Why a step missed: the first input that differs from the last build's (pure).

    Args:
        first: the step is its stage's first (its parent is the base image).
    """
    if old is None:
        return "no earlier build of this step is known"
    if old.text != new.text:
        return f"the instruction changed (was: {_short(old.text)})"
    for name in sorted(old.args.keys() | new.args.keys()):
        before, after = old.args.get(name), new.args.get(name)
        if before != after:
            return f"build arg {name} changed: {_value(before)} -> {_value(after)}"
    files = _files(old.files, new.files)
    if files:
        return files
    if old.source != new.source:
        return f"the --from source changed ({_id(old.source)} -> {_id(new.source)})"
    if old.parent != new.parent:
        if first:
            return f"the base image changed ({_id(old.parent)} -> {_id(new.parent)})"
        return "the previous step was rebuilt (its result changed)"
    return "the cached result is gone (removed), or the cache was not used"


def _files(old: dict[str, str], new: dict[str, str]) -> str:
    for path in sorted(old.keys() | new.keys()):
        if path not in old:
            return f"file {path or '.'} was added"
        if path not in new:
            return f"file {path or '.'} was removed"
        if old[path] != new[path]:
            return f"file {path or '.'} changed"
    return ""


def _value(value: str | None) -> str:
    return "(unset)" if value is None else repr(value)


def _id(value: str) -> str:
    return value.removeprefix("sha256:")[:12] or "scratch"


def _short(text: str) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= 60 else line[:57] + "..."
