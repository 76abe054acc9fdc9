"""Reading a container's json-file logs for ``logs`` (``--tail``, ``--since``, ``--until``,
``--follow``, ``--timestamps``).

The files are the ones :class:`dockyard.monitor.logfile.LogWriter` writes (docker's json-file
format and rotation): ``path.{max_file-1}`` (oldest) ... ``path.1``, then ``path`` (current).
Reading opens every file first, newest first, so that a rotation while reading neither loses
nor repeats entries (a file seen twice, by inode, is read once). ``--tail`` reads the files
backwards in blocks, so the last lines of a large log cost little.

``since`` and ``until`` are UNIX times in seconds (the CLI parses docker's forms); like docker,
an entry at ``since`` or ``until`` exactly is shown. With ``tail``, entries are filtered first
and the last ``tail`` of those are shown, and reading backwards stops at the first entry before
``since`` (entries are in time order).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from dockyard._util.numbers import is_uint
from dockyard._util.rfc3339 import days_from_civil
from dockyard.monitor.logfile import format_time_ns, seconds_to_ns

_BLOCK = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """One logged line: ``stream`` is ``stdout`` or ``stderr``; ``data`` keeps its newline
    (a piece of a long or unfinished line has none); ``time_ns`` is UNIX time in ns."""

    stream: str
    data: bytes
    time_ns: int


def format_entry(entry: LogEntry, timestamps: bool) -> bytes:
    """The bytes ``docker logs`` prints for ``entry``, with ``-t``: ``<RFC 3339 time> data``."""
    if not timestamps:
        return entry.data
    return format_time_ns(entry.time_ns).encode() + b" " + entry.data


def parse_time_ns(text: str) -> int:
    """UNIX time in ns of an RFC 3339 time (``2024-01-02T03:04:05.123456789Z``, any precision,
    ``Z`` or a ``±hh:mm`` offset).

    Raises:
        ValueError: not such a time.
    """
    date, sep, clock = text.partition("T")
    if not sep:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    offset = 0
    if clock.endswith(("Z", "z")):
        clock = clock[:-1]
    else:
        cut = max(clock.rfind("+"), clock.rfind("-"))
        if cut < 0:
            raise ValueError(f"not an RFC 3339 time: {text!r}")
        hours, _, minutes = clock[cut + 1 :].partition(":")
        offset = (int(hours) * 60 + int(minutes)) * 60
        offset = -offset if clock[cut] == "-" else offset
        clock = clock[:cut]
    hms, _, fraction = clock.partition(".")
    year, month, day = (int(part) for part in date.split("-"))
    hour, minute, second = (int(part) for part in hms.split(":"))
    if not (is_uint(fraction) or not fraction) or not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    days = days_from_civil(year, month, day)
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
    return seconds * 1_000_000_000 + int(fraction[:9].ljust(9, "0"))


def decode_line(line: bytes) -> LogEntry | None:
    """The entry of one json-file line, or None if the line is not one (it is skipped)."""
    try:
        obj = json.loads(line)
        text, stream, stamp = obj["log"], obj["stream"], obj["time"]
        if not (isinstance(text, str) and isinstance(stream, str) and isinstance(stamp, str)):
            return None
        return LogEntry(
            stream=stream, data=text.encode("utf-8", "replace"), time_ns=parse_time_ns(stamp)
        )
    except (ValueError, KeyError, TypeError):
        return None


class _File:
    """An open log file read up to ``end`` (the end of its last complete line)."""

    __slots__ = ("end", "fd", "ino")

    def __init__(self, fd: int) -> None:
        st = os.fstat(fd)
        self.fd = fd
        self.ino = st.st_ino
        self.end = _complete_end(fd, st.st_size)


def _complete_end(fd: int, size: int) -> int:
    """The offset just past the last newline before ``size`` (0 if none)."""
    pos = size
    while pos > 0:
        start = max(0, pos - _BLOCK)
        newline = os.pread(fd, pos - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        pos = start
    return 0


def _open(name: Path) -> _File | None:
    fd = _open_fd(name)
    return None if fd is None else _File(fd)


def _open_files(path: Path, max_file: int) -> tuple[list[_File], _File | None]:
    """Every log file, oldest first, and the one opened as ``path`` (None if missing).

    Opened newest first: a rotation in between moves a file we hold to a name we open next,
    and the inode check drops the second copy.
    """
    current = _open(path)
    files = [current] if current else []
    for n in range(1, max_file):
        found = _open(path.with_name(f"{path.name}.{n}"))
        if found is None:
            continue
        if any(f.ino == found.ino for f in files):
            os.close(found.fd)
        else:
            files.append(found)
    files.reverse()
    return files, current


def _forward_lines(fd: int, start: int, end: int) -> Iterator[bytes]:
    """Complete lines in ``[start, end)`` without their newlines, first to last."""
    carry = b""
    pos = start
    while pos < end:
        chunk = os.pread(fd, min(_BLOCK, end - pos), pos)
        if not chunk:
            break
        pos += len(chunk)
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        yield from lines


def _reverse_lines(fd: int, end: int) -> Iterator[bytes]:
    """Lines in ``[0, end)`` (``end`` just past a newline) without newlines, last to first."""
    carry = b""
    pos = end
    while pos > 0:
        start = max(0, pos - _BLOCK)
        lines = (os.pread(fd, pos - start, start) + carry).split(b"\n")
        pos = start
        carry = lines[0]
        yield from reversed(lines[1:])
    yield carry


def _entries(lines: Iterator[bytes]) -> Iterator[LogEntry]:
    for line in lines:
        entry = decode_line(line) if line else None
        if entry is not None:
            yield entry


def _initial(
    files: list[_File], tail: int | None, since: int | None, until: int | None
) -> Iterator[LogEntry]:
    """What is in ``files`` now, filtered by ``since``/``until`` (ns), the last ``tail``."""
    if tail is not None and tail >= 0:
        yield from _last(files, tail, since, until)
        return
    for f in files:
        for entry in _entries(_forward_lines(f.fd, 0, f.end)):
            if until is not None and entry.time_ns > until:
                return
            if since is None or entry.time_ns >= since:
                yield entry


def _last(files: list[_File], tail: int, since: int | None, until: int | None) -> list[LogEntry]:
    """The last ``tail`` entries within ``[since, until]``, oldest first, read backwards."""
    picked: list[LogEntry] = []
    if tail == 0:
        return picked
    for f in reversed(files):
        for entry in _entries(_reverse_lines(f.fd, f.end)):
            if until is not None and entry.time_ns > until:
                continue
            if since is not None and entry.time_ns < since:
                return picked[::-1]
            picked.append(entry)
            if len(picked) == tail:
                return picked[::-1]
    return picked[::-1]


def read_logs(
    path: Path,
    max_file: int,
    *,
    tail: int | None = None,
    since: float | None = None,
    until: float | None = None,
) -> Iterator[LogEntry]:
    """The entries of a container's log, oldest first.

    Args:
        path: the current log file (``<id>-json.log``); rotated ones are ``path.1`` ...
        max_file: the container's ``max-file`` (how many files may exist).
        tail: only the last ``tail`` entries (None or negative: all; 0: none).
        since: only entries at or after this UNIX time.
        until: only entries at or before this UNIX time.

    Missing files (a container that never ran) give no entries; lines that are not json-file
    entries are skipped. Raises ``OSError`` when a file cannot be read.
    """
    files, _ = _open_files(path, max_file)
    try:
        yield from _initial(files, tail, _ns(since), _ns(until))
    finally:
        for f in files:
            os.close(f.fd)


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None else seconds_to_ns(seconds)


class _Cursor:
    """The file being followed: the offset read up to and the unfinished line after it."""

    __slots__ = ("fd", "ino", "offset", "pending")

    def __init__(self, fd: int, offset: int) -> None:
        self.fd = fd
        self.ino = os.fstat(fd).st_ino
        self.offset = offset
        self.pending = b""

    def read(self) -> list[LogEntry]:
        """The entries of the lines completed since the last read (from 0 if truncated)."""
        if os.fstat(self.fd).st_size < self.offset:  # truncated: max-file=1 rotation
            self.offset, self.pending = 0, b""
        out: list[LogEntry] = []
        while chunk := os.pread(self.fd, _BLOCK, self.offset):
            self.offset += len(chunk)
            lines = (self.pending + chunk).split(b"\n")
            self.pending = lines.pop()
            out.extend(_entries(iter(lines)))
        return out

    def close(self) -> None:
        os.close(self.fd)


def follow(
    path: Path,
    max_file: int,
    *,
    is_running: Callable[[], bool],
    tail: int | None = None,
    since: float | None = None,
    until: float | None = None,
    poll: float = 0.1,
) -> Iterator[LogEntry]:
    """:func:`read_logs`, then the entries written after, until the container stops.

    After the end of the log, the current file is polled every ``poll`` seconds. A rotation
    (``path`` renamed to ``path.1``, a new ``path``) is followed: the old file is read to its
    end, then any file rotated in between, then the new one; a truncation (``max_file=1``)
    starts over at the beginning of the file. It stops when ``is_running()`` is false and the
    log holds nothing more, at the first entry after ``until``, or once the clock passes
    ``until`` and nothing is left to read.

    Args:
        path, max_file, tail, since, until: as for :func:`read_logs`.
        is_running: whether the container (its monitor) may still write.
        poll: seconds between polls when there is nothing new.
    """
    since_ns, until_ns = _ns(since), _ns(until)
    files, current = _open_files(path, max_file)
    cursor = None
    try:
        yield from _initial(files, tail, since_ns, until_ns)
        if current is not None:
            cursor = _Cursor(os.dup(current.fd), current.end)
    finally:
        for f in files:
            os.close(f.fd)
    follower = _Follower(path, max_file, cursor)
    try:
        for entry in follower.entries(is_running, poll, until):
            if until_ns is not None and entry.time_ns > until_ns:
                return
            if since_ns is None or entry.time_ns >= since_ns:
                yield entry
    finally:
        follower.close()


class _Follower:
    """Reads what is appended to ``path``, across rotations."""

    def __init__(self, path: Path, max_file: int, cursor: _Cursor | None) -> None:
        self.path = path
        self.max_file = max_file
        self.cursor = cursor

    def entries(
        self, is_running: Callable[[], bool], poll: float, until: float | None
    ) -> Iterator[LogEntry]:
        while True:
            running = is_running()
            progressed = yield from self._step()
            if progressed:
                continue
            if not running or (until is not None and time.time() > until):
                return
            time.sleep(poll)

    def _step(self) -> Generator[LogEntry, None, bool]:
        """Yield what is new; return whether anything happened (entries, a new file)."""
        if self.cursor is None:
            fd = _open_fd(self.path)
            if fd is None:
                return False
            self.cursor = _Cursor(fd, 0)
        entries = self.cursor.read()
        yield from entries
        try:
            now = os.stat(self.path)
        except FileNotFoundError:  # between the writer's rename and its new file
            return bool(entries)
        if now.st_ino == self.cursor.ino:
            return bool(entries)
        yield from self.cursor.read()  # the rotated file's last entries
        for name in self._rotated_since(self.cursor.ino):
            yield from read_logs(name, 1)
        self.cursor.close()
        self.cursor = None
        return True

    def _rotated_since(self, ino: int) -> list[Path]:
        """Rotated files newer than the file ``ino`` (now ``path.k``): ``path.{k-1}``..``path.1``.

        If that file was rotated away entirely, every rotated file is newer.
        """
        names = [self.path.with_name(f"{self.path.name}.{n}") for n in range(1, self.max_file)]
        for k, name in enumerate(names):
            try:
                if os.stat(name).st_ino == ino:
                    return names[:k][::-1]
            except FileNotFoundError:
                continue
        return [name for name in names[::-1] if name.exists()]

    def close(self) -> None:
        if self.cursor is not None:
            self.cursor.close()
            self.cursor = None


def _open_fd(name: Path) -> int | None:
    try:
        return os.open(name, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
