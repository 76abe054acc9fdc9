"""What a pull or push reports as it goes; the CLI draws it (bars on a terminal, lines if not).

Items are blobs, named by the first 12 hex digits of their digest like docker. Statuses use
docker's words so scripts that read docker's output read ours. Implementations must accept
calls from several threads at once (blobs move in parallel).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Status(StrEnum):
    """An item's state, in docker's words."""

    WAITING = "Waiting"
    PULLING = "Pulling fs layer"
    DOWNLOADING = "Downloading"
    RETRYING = "Retrying"
    VERIFYING = "Verifying Checksum"
    DOWNLOADED = "Download complete"
    EXTRACTING = "Extracting"
    PULLED = "Pull complete"
    EXISTS = "Already exists"
    PREPARING = "Preparing"
    PUSHING = "Pushing"
    PUSHED = "Pushed"
    LAYER_EXISTS = "Layer already exists"
    MOUNTED = "Mounted"


class Progress(Protocol):
    """The receiver of a transfer's events."""

    def message(self, text: str) -> None:
        """A line of its own (``latest: Pulling from library/busybox``)."""

    def status(self, item: str, status: Status, detail: str = "") -> None:
        """``item`` moved to ``status`` (``detail``: e.g. the repository a blob was mounted
        from)."""

    def transfer(self, item: str, done: int, total: int) -> None:
        """``done`` of ``total`` bytes of ``item`` have moved."""


class NoProgress:
    """Reports nothing (``-q``, and callers that do not show progress)."""

    def message(self, text: str) -> None:
        return None

    def status(self, item: str, status: Status, detail: str = "") -> None:
        return None

    def transfer(self, item: str, done: int, total: int) -> None:
        return None


def short_id(digest: object) -> str:
    """docker's name for a blob in progress output: 12 hex digits of its digest."""
    return str(digest).partition(":")[2][:12]
