"""``python -m dockyard``: the ``dockyard`` command (the monitor runs it to remove ``--rm``
containers)."""

from __future__ import annotations

from dockyard.cli.launch import entry

entry()
