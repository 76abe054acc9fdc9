"""The one syscall seam: every call into libc goes through this package.

``dockyard.linux`` is the only package that imports :mod:`ctypes`. It owns the libc handle
(:mod:`.libc`), mount(2)/umount2(2) with their flags and the ``/proc/self/mountinfo`` parser
(:mod:`.mount`), and probes of what the running kernel offers (:mod:`.features`). Everything
above it speaks in typed values and gets ``OSError`` with the errno and the operation named.
"""

from __future__ import annotations
