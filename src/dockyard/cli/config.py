"""Engine settings: defaults, then ``/etc/dockyard/config.toml``, then
``$XDG_CONFIG_HOME/dockyard/config.toml``, then environment, then flags (later wins).

Keys (all optional)::

    root = "/var/lib/dockyard"        # state root (DOCKYARD_ROOT, --root)
    runroot = "/run/dockyard"         # run state (DOCKYARD_RUNROOT)
    storage_driver = "overlayfs"      # or "native" (DOCKYARD_STORAGE_DRIVER, --storage-driver)
    log_level = "warning"             # debug|info|warning|error (--log-level)
    bridge_name = "dockyard0"         # the default network's bridge device (DOCKYARD_BRIDGE)
    address_pools = ""                # default subnets, "CIDR:SIZE,..." (DOCKYARD_ADDRESS_POOLS);
                                      # "" = docker's: 172.17-31.0.0/16 as /16s, 192.168.0.0/16
                                      # as /20s; subnets routed on the host are skipped
    dns_upstream = ""                 # resolvers for names the networks' DNS does not know,
                                      # "ip[:port],..." (DOCKYARD_DNS_UPSTREAM); "" = the
                                      # host's /etc/resolv.conf
    registry_mirrors = []             # docker.io pull mirrors, tried before Docker Hub:
                                      # ["https://mirror.example"] (DOCKYARD_REGISTRY_MIRRORS,
                                      # comma-separated)
    insecure_registries = []          # registries reached without verified TLS (or over
                                      # HTTP): ["myregistry:5000", "10.0.0.0/8"]; localhost
                                      # and 127.0.0.0/8 always are (DOCKYARD_INSECURE_REGISTRIES)
    registry_certs_dirs = []          # folders of <host[:port]>/ CA and client certificates;
                                      # [] = /etc/dockyard/certs.d and /etc/docker/certs.d
                                      # (DOCKYARD_REGISTRY_CERTS_DIRS, colon-separated)
    userland_proxy = "false"          # "true": published ports on loopback go through the
                                      # network helper's proxy, not the kernel's DNAT
                                      # (DOCKYARD_USERLAND_PROXY)

Unknown keys are an error naming the file, so a typo never silently does nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from dockyard.cli import defaults
from dockyard.errors import InvalidArgument

SYSTEM_CONFIG = Path(defaults.SYSTEM_CONFIG)
LOG_LEVELS = ("debug", "info", "warning", "warn", "error", "fatal")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The resolved engine settings."""

    root: Path = Path(defaults.DEFAULT_ROOT)
    runroot: Path = Path(defaults.DEFAULT_RUNROOT)
    storage_driver: str | None = None  # None: overlayfs when the kernel has it, else native
    log_level: str = "warning"
    bridge_name: str = "dockyard0"
    address_pools: str = ""  # "": docker's default pools (checked when a network is created)
    dns_upstream: str = ""  # "": the host's /etc/resolv.conf (checked by the network helper)
    registry_mirrors: tuple[str, ...] = ()
    insecure_registries: tuple[str, ...] = ()
    registry_certs_dirs: tuple[str, ...] = ()  # (): the defaults of registry client
    userland_proxy: bool = False


def user_config() -> Path:
    return Path(defaults.user_config())


def load_settings(files: tuple[Path, ...] | None = None) -> Settings:
    """Defaults overlaid by each existing config file, then by the environment.

    Raises:
        InvalidArgument: a file is not TOML, has an unknown key or a bad value.
    """
    settings = Settings()
    for path in files if files is not None else (SYSTEM_CONFIG, user_config()):
        if path.is_file():
            settings = _merge(settings, path)
    env = {
        "root": os.environ.get("DOCKYARD_ROOT"),
        "runroot": os.environ.get("DOCKYARD_RUNROOT"),
        "storage_driver": os.environ.get("DOCKYARD_STORAGE_DRIVER"),
        "bridge_name": os.environ.get("DOCKYARD_BRIDGE"),
        "address_pools": os.environ.get("DOCKYARD_ADDRESS_POOLS"),
        "dns_upstream": os.environ.get("DOCKYARD_DNS_UPSTREAM"),
        "userland_proxy": os.environ.get("DOCKYARD_USERLAND_PROXY"),
        "registry_mirrors": os.environ.get("DOCKYARD_REGISTRY_MIRRORS"),
        "insecure_registries": os.environ.get("DOCKYARD_INSECURE_REGISTRIES"),
        "registry_certs_dirs": os.environ.get("DOCKYARD_REGISTRY_CERTS_DIRS"),
    }
    return override(settings, **env)


LIST_KEYS = {"registry_mirrors": ",", "insecure_registries": ",", "registry_certs_dirs": ":"}


def override(settings: Settings, **values: str | list[str] | None) -> Settings:
    """Replace the settings given (non-``None``), validating them.

    The list settings take a list or one string of items (comma-separated; colons for
    ``registry_certs_dirs``).
    """
    changes: dict[str, object] = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        if key in LIST_KEYS:
            items = value.split(LIST_KEYS[key]) if isinstance(value, str) else value
            changes[key] = tuple(item.strip() for item in items if item.strip())
            continue
        if not isinstance(value, str):
            raise InvalidArgument(f'config: "{key}" must be a string')
        if key in ("root", "runroot"):
            changes[key] = Path(value).absolute()
        elif key == "storage_driver":
            if value not in defaults.DRIVERS:
                raise InvalidArgument(
                    f'storage driver "{value}" is not supported', hint="use overlayfs or native"
                )
            changes[key] = value
        elif key == "log_level":
            if value.lower() not in LOG_LEVELS:
                raise InvalidArgument(f'log level "{value}" is not one of {", ".join(LOG_LEVELS)}')
            changes[key] = value.lower()
        elif key == "bridge_name":
            from dockyard.network.model import check_bridge_name

            changes[key] = check_bridge_name(value)
        elif key in ("address_pools", "dns_upstream"):
            changes[key] = value.strip()
        elif key == "userland_proxy":
            if value.lower() not in defaults.BOOLEAN_WORDS:
                raise InvalidArgument(f'userland_proxy "{value}" is not true or false')
            changes[key] = defaults.BOOLEAN_WORDS[value.lower()]
    return replace(settings, **changes)  # type: ignore[arg-type]


def _merge(settings: Settings, path: Path) -> Settings:
    import tomllib  # only when a config file exists

    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InvalidArgument(f"config {path}: {err}", hint="fix or remove the file") from err
    known = {
        "root", "runroot", "storage_driver", "log_level", "bridge_name", "address_pools",
        "dns_upstream", "userland_proxy", *LIST_KEYS,
    }  # fmt: skip
    for key, value in data.items():
        if key not in known:
            raise InvalidArgument(
                f'config {path}: unknown key "{key}"',
                hint="known keys: " + ", ".join(sorted(known)),
            )
        if key in LIST_KEYS:
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise InvalidArgument(f'config {path}: "{key}" must be a list of strings')
        elif not isinstance(value, str):
            raise InvalidArgument(f'config {path}: "{key}" must be a string')
    return override(settings, **data)
