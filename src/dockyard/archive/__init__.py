"""Layer archives: tar streams <-> directories, OCI whiteouts, safe extraction, compression.

- ``apply_layer`` extracts a layer blob (gzip, zstd or plain) into a snapshot directory in one
  streaming pass, computing its diff_id, refusing hostile members and enforcing ``Limits``.
- ``write_layer`` writes a directory (plain, or an overlayfs upperdir) as a deterministic,
  compressed layer blob with its diff_id and digest.
- ``compression`` detects, reads and writes gzip (ISA-L) and zstd streams.

This package imports only ``dockyard.oci``, ``dockyard.errors`` and ``dockyard._util``.
"""

from __future__ import annotations

from dockyard.archive.apply import ApplyResult, WhiteoutMode, apply_layer
from dockyard.archive.compression import (
    Compression,
    compressing_writer,
    decompressing_reader,
    detect,
)
from dockyard.archive.create import LayerResult, SourceForm, write_layer
from dockyard.archive.limits import Limits

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
