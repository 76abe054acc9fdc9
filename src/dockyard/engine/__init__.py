"""The container engine: containers as users see them.

So far it owns :mod:`~dockyard.engine.specgen` (pure: image config + run options -> OCI
runtime spec, with Docker's defaults from :mod:`~dockyard.engine.specdefaults` and the default
seccomp profile filtered by :mod:`~dockyard.engine.seccompgen`).
"""

from __future__ import annotations

CONTAINER_CONFIG_VERSION = (
    1  # containers/<id>/config.json (engine.container; read by engine.quickps)
)
