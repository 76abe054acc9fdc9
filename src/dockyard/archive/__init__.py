"""Layer archives: tar streams <-> directories, OCI whiteouts, safe extraction, compression.

- ``apply_layer`` extracts a layer blob (gzip, zstd or plain) into a snapshot directory in one
  streaming pass, computing its diff_id, refusing hostile members and enforcing ``Limits``.
- ``write_layer`` writes a directory (plain, or an overlayfs upperdir) as a deterministic,
  compressed layer blob with its diff_id and digest.
- ``compression`` detects, reads and writes gzip (ISA-L) and zstd streams.

This package imports only ``dockyard.oci``, ``dockyard.errors`` and ``dockyard._util``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.archive.apply import ApplyResult, WhiteoutMode, apply_layer
    from dockyard.archive.compression import (
        Compression,
        compressing_writer,
        decompressing_reader,
        detect,
    )
    from dockyard.archive.create import LayerResult, SourceForm, write_layer
    from dockyard.archive.limits import Limits

# The names above, from their modules on first use: importing one submodule (the tar format,
# say, for a build's COPY) does not load the compressors (isal, zstandard) with the package.
_HOMES = {
    "ApplyResult": "apply", "WhiteoutMode": "apply", "apply_layer": "apply",
    "Compression": "compression", "compressing_writer": "compression",
    "decompressing_reader": "compression", "detect": "compression",
    "LayerResult": "create", "SourceForm": "create", "write_layer": "create",
    "Limits": "limits",
}  # fmt: skip


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ApplyResult",
    "Compression",
    "LayerResult",
    "Limits",
    "SourceForm",
    "WhiteoutMode",
    "apply_layer",
    "compressing_writer",
    "decompressing_reader",
    "detect",
    "write_layer",
]
