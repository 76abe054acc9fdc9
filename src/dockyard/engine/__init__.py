"""The container engine: containers as users see them.

So far it owns :mod:`~dockyard.engine.specgen` (pure: image config + run options -> OCI
runtime spec, with Docker's defaults from :mod:`~dockyard.engine.specdefaults` and the default
seccomp profile filtered by :mod:`~dockyard.engine.seccompgen`).
"""

from __future__ import annotations

# The format of containers/<id>/config.json (engine.container writes it, engine.quickps reads it)
CONTAINER_CONFIG_VERSION = 1
