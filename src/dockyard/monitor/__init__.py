"""The per-container monitor (ARCHITECTURE.md, process model): a double-forked, ``setsid``
process that creates and starts the container, owns its stdio (json-file logs, the attach
socket, the pty), reaps it, records its exit, runs healthchecks and applies the restart policy.

Import cost is memory paid per running container, so the modules the long-lived loop uses
import only small stdlib modules (no dataclasses, enum, pathlib or re): see :mod:`.loop`.
"""
