"""The ``Mount`` value a snapshotter returns: what to mount, never the act of mounting.

Like containerd's ``mount.Mount``: a filesystem type, a source and fstab-style options. The
caller (the monitor for a container's rootfs, the unpacker for a layer) mounts it with
``dockyard.linux.mount.mount_options(m.source, target, m.type, m.options)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.errors import InvalidArgument


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    """One mount: ``mount -t {type} -o {",".join(options)} {source} <target>``.

    Attributes:
        type: the filesystem type: ``"bind"`` (a bind mount; the kernel is given no type) or
            ``"overlay"``.
        source: the path to bind, or ``"overlay"`` for an overlay.
        options: mount options in order (``"ro"``, ``"rbind"``, ``"lowerdir=a:b"``…).
    """

    type: str
    source: str
    options: tuple[str, ...] = ()

    def option(self, name: str) -> str:
        """The value of the ``name=value`` option (``"lowerdir"``...), or "" without one."""
        prefix = name + "="
        return next((o[len(prefix) :] for o in self.options if o.startswith(prefix)), "")

    def to_json(self) -> dict[str, str | list[str]]:
        """Return the JSON form containerd uses: ``{"type", "source", "options"}``."""
        return {"type": self.type, "source": self.source, "options": list(self.options)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Mount:
        """Parse the JSON form written by :meth:`to_json`.

        Raises:
            InvalidArgument: a field is missing or has the wrong type.
        """
        kind, source, options = data.get("type"), data.get("source"), data.get("options", [])
        if not isinstance(kind, str) or not kind:
            raise InvalidArgument(f"mount: type {kind!r}: not a non-empty string")
        if not isinstance(source, str):
            raise InvalidArgument(f"mount {kind}: source {source!r}: not a string")
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise InvalidArgument(f"mount {kind} {source}: options {options!r}: not strings")
        return cls(type=kind, source=source, options=tuple(options))
