"""What every command gets: the settings and, built on first use, the image store."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.cli.config import Settings
from dockyard.image import ImageStore
from dockyard.linux import features


@dataclass(slots=True)
class AppContext:
    """Per-invocation state, passed down by click's ``obj``."""

    settings: Settings
    debug: bool = False
    _images: ImageStore | None = field(default=None, repr=False)

    @property
    def storage_driver(self) -> str:
        if self.settings.storage_driver:
            return self.settings.storage_driver
        return "overlayfs" if features.overlay_supported() else "native"

    @property
    def images(self) -> ImageStore:
        if self._images is None:
            self._images = ImageStore(self.settings.root, snapshotter=self.storage_driver)
        return self._images
