"""The network helper's entry point: ``python -m dockyard.network.helper_main``.

The helper's imports (pyroute2, dnslib, the engine's models) go through
:func:`dockyard._util.startup.import_frozen`, as the command line's do: its start to a parsed
command line went from 0.17-0.20 s to 0.13-0.15 s.
"""

from __future__ import annotations

import sys

from dockyard._util.startup import import_frozen


def main() -> int:
    """Import the helper with the collector paused, then run it; return its exit code."""
    code: int = import_frozen("dockyard.network.helper").main()
    return code


if __name__ == "__main__":
    sys.exit(main())
