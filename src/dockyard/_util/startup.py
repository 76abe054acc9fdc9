"""Importing a program's modules with the dataclass code cache on and the collector paused.

The imports of the command line, or of the network helper, make tens of thousands of objects
that the cyclic collector tracks and that live as long as the process: it would walk them again
and again while they are made and once more at the exit (~25 ms of a short command, 20-30 ms of
the helper's start, which the first containers on a new network wait for). So it waits until
they are made, then leaves them alone (``gc.freeze``). What the program makes afterwards is
collected as usual, at the exit too (an SQLite connection in a cycle must still be closed: its
WAL file is cut back then). The code that ``@dataclass`` generates comes from
:mod:`.codecache`, installed before any of those modules defines a class.
"""

from __future__ import annotations

import gc
import sys
from types import ModuleType


def import_frozen(name: str) -> ModuleType:
    """Import the module ``name`` as described above and return it."""
    gc.disable()
    try:
        from dockyard._util import codecache

        codecache.install()
        __import__(name)
        gc.freeze()
    finally:
        gc.enable()
    return sys.modules[name]
