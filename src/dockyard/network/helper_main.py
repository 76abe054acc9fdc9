"""The network helper's entry point: ``python -m dockyard.network.helper_main``.

The helper's imports (pyroute2, dnslib, the engine's models) make tens of thousands of objects
that live as long as the helper does; the cyclic collector would walk them again and again
while they are made, 20-30 ms of the helper's start, which the first containers attached to a
new network wait for. As the CLI does (:mod:`dockyard.cli.launch`), the collector waits until
they are made and then leaves them alone (``gc.freeze``), and the dataclasses' generated code
comes from the code cache (:mod:`dockyard._util.codecache`).
"""

from __future__ import annotations

import gc
import sys


def main() -> int:
    """Import the helper with the collector paused, then run it; return its exit code."""
    gc.disable()
    from dockyard._util import codecache

    codecache.install()
    from dockyard.network import helper

    gc.freeze()
    gc.enable()
    return helper.main()


if __name__ == "__main__":
    sys.exit(main())
