"""The ``dockyard`` console script: the quick paths first, then the full command line.

A ``dockyard`` command starts a fresh interpreter, and the full command line (click, the
commands' dataclasses, the engine's models) costs tens of milliseconds of imports before it
does anything. The commands that people and scripts repeat in loops get a quick path that
answers their plain forms with a few light modules (:mod:`.fastps`); anything else, and
anything a quick path is not sure of, goes to :mod:`.main`. The dataclass code cache
(:mod:`dockyard._util.codecache`) is installed only on the way to the full command line,
before any command module defines its classes. (``dockyard-runtime`` has its own quick
parser: :mod:`.runtime_main`.)
"""

from __future__ import annotations

import gc
import os
import sys

COMPLETE_VAR = "_DOCKYARD_COMPLETE"  # the shell's completion script calling back


def main(argv: list[str] | None = None) -> int:
    """Run ``dockyard`` with ``argv`` (default: the process's); return the exit code."""
    args = sys.argv[1:] if argv is None else argv
    if ("ps" in args or "container" in args) and not os.environ.get(COMPLETE_VAR):
        from dockyard.cli import fastps

        code = fastps.run(args)
        if code is not None:
            return code
    # The full command line's imports make over 20,000 objects that the cyclic collector
    # tracks and that live until the exit: it would walk them again and again while they are
    # made and once more at the exit (~25 ms of a short command), so it waits until they are
    # made, then leaves them alone. What the command makes afterwards is collected as usual,
    # and at the exit (an SQLite connection in a cycle must still be closed: its WAL file is
    # cut back then).
    gc.disable()
    from dockyard._util import codecache

    codecache.install()
    from dockyard.cli.main import main as full

    gc.freeze()
    gc.enable()
    return full(argv)


def entry() -> None:
    sys.exit(main())
