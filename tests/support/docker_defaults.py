"""Docker's defaults as SECURITY.md measured them, for tests that compare against them."""

from __future__ import annotations

# SECURITY.md 1.1: moby's default capabilities; CapEff/CapBnd of a Docker 20.10 container.
DOCKER_CAPS: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
DOCKER_CAPS_MASK = 0x00000000A80425FB
