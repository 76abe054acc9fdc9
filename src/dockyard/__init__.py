"""Dockyard: a Docker-compatible, daemonless container engine."""

from __future__ import annotations

__version__ = "0.1.0"
API_VERSION = "1.41"
