"""What every command gets: the settings and, built on first use, the stores."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockyard.cli.config import Settings
from dockyard.linux import features

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.volumes import VolumeStore
    from dockyard.image import ImageStore
    from dockyard.network.store import NetworkStore


@dataclass(slots=True)
class AppContext:
    """Per-invocation state, passed down by click's ``obj``."""

    settings: Settings
    debug: bool = False
    _images: ImageStore | None = field(default=None, repr=False)
    _volumes: VolumeStore | None = field(default=None, repr=False)
    _containers: Containers | None = field(default=None, repr=False)
    _networks: NetworkStore | None = field(default=None, repr=False)

    @property
    def storage_driver(self) -> str:
        if self.settings.storage_driver:
            return self.settings.storage_driver
        return "overlayfs" if features.overlay_supported() else "native"

    @property
    def images(self) -> ImageStore:
        if self._images is None:
            from dockyard.image import ImageStore

            self._images = ImageStore(self.settings.root, snapshotter=self.storage_driver)
        return self._images

    @property
    def volumes(self) -> VolumeStore:
        if self._volumes is None:
            from dockyard.engine.volumes import VolumeStore  # only commands that use it pay

            self._volumes = VolumeStore(self.settings.root, self.images.db)
        return self._volumes

    @property
    def containers(self) -> Containers:
        if self._containers is None:
            from dockyard.engine.containers import Containers
            from dockyard.network.model import HelperConfig

            self._containers = Containers(
                lambda: self.images,
                lambda: self.volumes,
                networks=lambda: self.networks,
                helper=HelperConfig(
                    root=self.settings.root,
                    runroot=self.settings.runroot,
                    dns_upstream=self.settings.dns_upstream,
                    userland_proxy=self.settings.userland_proxy,
                ),
                root=self.settings.root,
                runroot=self.settings.runroot,
                remove_prefix=(
                    sys.executable,
                    "-m",
                    "dockyard",
                    "--root",
                    str(self.settings.root),
                    "--storage-driver",
                    self.storage_driver,
                ),
            )
        return self._containers

    @property
    def networks(self) -> NetworkStore:
        if self._networks is None:
            from dockyard.network.store import NetworkStore

            self._networks = NetworkStore(
                self.images.db,
                default_bridge=self.settings.bridge_name,
                pools=self.settings.address_pools,
            )
        return self._networks
