"""Where the engine settings come from, as plain strings, and the checks of the environment
variables that :mod:`.config` validates: light enough for the quick paths, which must not
import :mod:`.config` (its dataclass and :mod:`pathlib`)."""

from __future__ import annotations

import os

from dockyard._util.devname import valid_bridge_name

DEFAULT_ROOT = "/var/lib/dockyard"
DEFAULT_RUNROOT = "/run/dockyard"
SYSTEM_CONFIG = "/etc/dockyard/config.toml"
DRIVERS = ("overlayfs", "native")
BOOLEAN_WORDS = {"true": True, "1": True, "false": False, "0": False}


def user_config() -> str:
    """``$XDG_CONFIG_HOME/dockyard/config.toml`` (``~/.config`` by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "dockyard", "config.toml")


def checked_env_valid() -> bool:
    """Whether the environment variables that :func:`.config.load_settings` checks hold
    values it accepts (unset and empty ones are skipped there too)."""
    driver = os.environ.get("DOCKYARD_STORAGE_DRIVER")
    bridge = os.environ.get("DOCKYARD_BRIDGE")
    proxy = os.environ.get("DOCKYARD_USERLAND_PROXY")
    return (
        (not driver or driver in DRIVERS)
        and (not bridge or valid_bridge_name(bridge))
        and (not proxy or proxy.lower() in BOOLEAN_WORDS)
    )
