"""A disk cache of the functions that ``dataclasses`` generates, for short-lived commands.

On Python 3.11 and 3.12 ``@dataclass`` writes each class's ``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, ``__setattr__``... as source text and compiles it with ``exec``: one
compile per method, about 0.4 ms per class. A ``dockyard`` command defines 60 to 100 dataclasses
before it does anything, so compiling alone took 28 ms of every command's start (measured on the
build path: 369 compiles). The source text of those methods is the same from run to run, so
:func:`install` gives ``dataclasses`` an ``exec`` that compiles each distinct text once and
keeps the code objects in a marshal file beside dockyard's own bytecode (``__pycache__``, one
file per interpreter version; each code object stays marshalled until a class needs it, so a
command pays for the ones it uses). The code objects are those ``exec`` would compile from the same
text, so classes behave exactly as without the cache; a missing, unreadable or stale file only
costs the compiles. ``DOCKYARD_CODECACHE_OFF=1`` leaves ``dataclasses`` alone (to measure it).
"""

from __future__ import annotations

import atexit
import contextlib
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

_MAX_ENTRIES = 3000  # past this (old versions' texts pile up), keep only what this run used


class _Cache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.stored: dict[str, bytes] = {}  # source text -> its marshalled code object
        self.used: dict[str, bytes] = {}
        self.added = 0
        try:
            loaded = marshal.loads(path.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            loaded = None
        if isinstance(loaded, dict):
            self.stored = loaded

    def exec(self, source: str, globals_: dict[str, Any] | None = None,
             locals_: Any = None) -> None:  # fmt: skip
        data = self.stored.get(source)
        code = None
        if data is not None:
            with contextlib.suppress(EOFError, ValueError, TypeError):
                code = marshal.loads(data)
        if not isinstance(code, CodeType):
            code = compile(source, "<string>", "exec")
            self.stored[source] = marshal.dumps(code)
            self.added += 1
        self.used[source] = self.stored[source]
        exec(code, globals_, locals_)

    def save(self) -> None:
        if not self.added:
            return
        stored = self.stored if len(self.stored) <= _MAX_ENTRIES else self.used
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(marshal.dumps(stored))
            os.replace(tmp, self.path)
        except OSError:  # a read-only install: compile every time
            tmp.unlink(missing_ok=True)


_installed: list[_Cache] = []


def install() -> None:
    """Make ``dataclasses`` compile through the cache for the rest of this process."""
    import dataclasses

    if (
        _installed
        or not hasattr(dataclasses, "_create_fn")
        or os.environ.get("DOCKYARD_CODECACHE_OFF")
    ):
        return  # done, or another Python's dataclasses (3.13 compiles once per class)
    name = f"dataclasses.{sys.implementation.cache_tag}.marshal"
    cache = _Cache(Path(__file__).resolve().parent.parent / "__pycache__" / name)
    _installed.append(cache)
    dataclasses.exec = cache.exec  # type: ignore[attr-defined]
    atexit.register(cache.save)
