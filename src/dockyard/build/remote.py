"""``ADD https://…``: remote files, downloaded by the builder (not inside a container), checked
against ``--checksum`` and copied like a context file named after the URL's last path segment
(mode ``0600`` unless ``--chmod``, as docker gives them; the modification time from
``Last-Modified``). Archives from URLs are not unpacked (docker's rule).

The download is part of the step's cache key (its content digest), so a changed remote file
rebuilds the step and an unchanged one is a cache hit; each build fetches it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from dockyard.errors import DataCorrupted, InvalidArgument, NotFound, Unsupported

if TYPE_CHECKING:
    import urllib.response

# urllib.request (with ssl and http.client) and email.utils are imported by the download alone:
# every build imports this module, few builds download.

MAX_SIZE: Final = 8 << 30  # a bound, so a lying server cannot fill the disk
TIMEOUT: Final = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Download:
    """A fetched URL: where the file is, its sha256 digest, its name and mtime."""

    url: str
    path: Path
    digest: str
    name: str
    mtime: float | None


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def check_url(source: str, where: str) -> None:
    """Only http(s) URLs; git and other schemes are refused by name.

    Raises:
        Unsupported: another scheme (``git@…``, ``ftp://`` …).
    """
    if ("://" in source and not is_url(source)) or source.startswith("git@"):
        raise Unsupported(f"{where}: ADD from {source.split(':', 1)[0]} is not supported",
                          hint="use an http:// or https:// URL")  # fmt: skip


def fetch(url: str, directory: Path, *, checksum: str = "", where: str = "ADD") -> Download:
    """Download ``url`` into ``directory``; verify ``--checksum`` (``sha256:<hex>``).

    Raises:
        NotFound: the server answered with an error or could not be reached.
        DataCorrupted: the content does not match ``checksum``.
        InvalidArgument: a malformed checksum.
    """
    expected = _checksum(checksum, where)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="add-", dir=directory)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, _open(url, where) as response:
            size = 0
            while chunk := response.read(1 << 20):
                size += len(chunk)
                if size > MAX_SIZE:
                    raise InvalidArgument(f"{where}: {url} is larger than {MAX_SIZE >> 30} GiB")
                h.update(chunk)
                out.write(chunk)
            modified = response.headers.get("Last-Modified")
            final = response.geturl()
    except BaseException:
        os.unlink(tmp)
        raise
    digest = "sha256:" + h.hexdigest()
    if expected and digest != expected:
        os.unlink(tmp)
        raise DataCorrupted(f"{where}: {url}: checksum mismatch: expected {expected}, got {digest}")
    return Download(url=url, path=Path(tmp), digest=digest, name=_name(final or url),
                    mtime=_mtime(modified))  # fmt: skip


def _open(url: str, where: str) -> urllib.response.addinfourl:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "dockyard-builder"})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT)  # type: ignore[no-any-return]
    except urllib.error.HTTPError as err:
        raise NotFound(f"{where}: {url}: the server answered {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise NotFound(f"{where}: {url}: cannot fetch: {reason}",
                       hint="check the URL and the network") from err  # fmt: skip


def _checksum(text: str, where: str) -> str:
    if not text:
        return ""
    algo, _, hexdigest = text.partition(":")
    if (
        algo != "sha256"
        or len(hexdigest) != 64
        or not all(c in "0123456789abcdef" for c in hexdigest)
    ):
        raise InvalidArgument(f"{where}: invalid --checksum {text!r}",
                              hint="use --checksum=sha256:<64 hex digits>")  # fmt: skip
    return text


def _name(url: str) -> str:
    """The URL path's last segment (docker's file name for ``ADD URL dir/``)."""
    name = posixpath.basename(urllib.parse.urlsplit(url).path)
    return urllib.parse.unquote(name) or "index.html"


def _mtime(header: str | None) -> float | None:
    if not header:
        return None
    import email.utils

    try:
        return email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return None


def remove(downloads: dict[str, Download]) -> None:
    """Delete the build's downloads."""
    for download in downloads.values():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(download.path)
    downloads.clear()
