"""The ``dockyard`` console script: the quick paths first, then the full command line.

A ``dockyard`` command starts a fresh interpreter, and the full command line (click, the
commands' dataclasses, the engine's models) costs tens of milliseconds of imports before it
does anything. The commands that people and scripts repeat in loops get a quick path that
answers their plain forms with a few light modules (:mod:`.fastps`); anything else, and
anything a quick path is not sure of, goes to :mod:`.main`, imported through
:func:`dockyard._util.startup.import_frozen` (the dataclass code cache on, the collector
paused), only on the way to the full command line. (``dockyard-runtime`` has its own quick
parser: :mod:`.runtime_main`.)
"""

from __future__ import annotations

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
    from dockyard._util.startup import import_frozen

    full: int = import_frozen("dockyard.cli.main").main(argv)
    return full


def entry() -> None:
    sys.exit(main())
