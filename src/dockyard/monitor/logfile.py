"""Docker's json-file log driver, writing side: one JSON object per line of container output.

Each line the container writes becomes ``{"log":"hi\\n","stream":"stdout","time":"…Z"}\\n``,
byte for byte as moby's ``jsonlog`` writes it: the string escaped like Go's encoder (``<``,
``>``, ``&``, control characters, U+2028/U+2029 as ``\\uXXXX``), each invalid UTF-8 byte as
``\\ufffd``, the time in UTC with nine fraction digits. A line longer than 16 KiB is cut into
16 KiB pieces written without a newline, as docker's copier does; so is a last line that never
ends (:meth:`LogWriter.flush`).

Rotation follows moby's ``loggerutils.LogFile``: before a write, a file that holds
``max_size`` bytes or more is rotated: ``path.{n-1}`` -> ``path.{n}`` ... ``path`` -> ``path.1``,
the oldest dropped (``rename`` replaces it), or, with ``max_file=1``, truncated. So a file may
pass ``max_size`` by one entry.

Layout of a container's logs (``containers/<id>/``)::

    <id>-json.log        current file, appended to
    <id>-json.log.1      previous file (rotated)
    ...
    <id>-json.log.N      oldest, N = max_file - 1

The monitor imports this module, and the monitor's memory is paid per running container, so it
imports only small stdlib modules: no ``json`` (it pulls in ``re`` and ``enum``; the encoding
below is a ``str.translate`` table), no dataclasses, a plain class with ``__slots__``.
"""

from __future__ import annotations

import codecs
import errno
import os
import time

from dockyard._util.numbers import is_uint
from dockyard.errors import InvalidArgument

# moby daemon/logger/copier.go: the copier's buffer; a line that fills it is logged in pieces.
MAX_LINE = 16 * 1024

_DEFAULT_PERMS = 0o640


def _go_replace(err: UnicodeError) -> tuple[str, int]:
    """Decode error handler: one U+FFFD per invalid byte, like Go's ``utf8.DecodeRune``."""
    if isinstance(err, UnicodeDecodeError):
        return "\ufffd", err.start + 1
    raise err


# The name to pass as ``errors=`` to ``bytes.decode`` for Go's replacement of invalid UTF-8.
GO_REPLACE = "dockyard-go-replace"
codecs.register_error(GO_REPLACE, _go_replace)


def _escapes() -> dict[int, str]:
    table = {c: f"\\u{c:04x}" for c in range(0x20)}
    table.update({ord("\n"): "\\n", ord("\r"): "\\r", ord('"'): '\\"', ord("\\"): "\\\\"})
    for char in "<>&\u2028\u2029\ufffd":
        table[ord(char)] = f"\\u{ord(char):04x}"
    return table


_ESCAPES = _escapes()


def json_string(data: bytes) -> str:
    """``data`` as a JSON string literal (quotes included), escaped as moby's ``jsonlog`` does."""
    text = data.decode("utf-8", GO_REPLACE)
    return '"' + text.translate(_ESCAPES) + '"'


def format_time_ns(ns: int) -> str:
    """RFC 3339 in UTC with nine fraction digits (Go's ``RFC3339NanoFixed``).

    >>> format_time_ns(1_700_000_000_123_456_789)
    '2023-11-14T22:13:20.123456789Z'
    """
    seconds, fraction = divmod(ns, 1_000_000_000)
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{fraction:09d}Z"
    )


def format_time_trimmed(ns: int) -> str:
    """RFC 3339 in UTC, trailing zeros of the fraction dropped (Go's ``RFC3339Nano``)."""
    fixed = format_time_ns(ns)
    head, fraction = fixed[:19], fixed[20:-1].rstrip("0")
    return f"{head}.{fraction}Z" if fraction else f"{head}Z"


def seconds_to_ns(seconds: float) -> int:
    """A UNIX time in seconds as integer nanoseconds (the nearest to the float's value)."""
    whole = int(seconds // 1)
    # The fraction is exact; scaling the whole time at once would round 0.25 to 0.249999872.
    return whole * 1_000_000_000 + round((seconds - whole) * 1_000_000_000)


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text: str) -> int:
    """A ``max-size`` log option in bytes (go-units ``RAMInBytes``: binary units).

    Accepts ``1024``, ``10k``, ``10m``, ``1.5g``, ``10MB``, ``10 MiB`` (units k, m, g, t, p;
    case-insensitive; an optional ``i`` and ``b``).

    Raises:
        InvalidArgument: not a size, or not positive (docker: "max-size must be a positive
            number").
    """
    number, rest = _split_number(text)
    unit = rest.lstrip(" ").lower()
    if unit.endswith("b"):
        unit = unit[:-1]
    if unit.endswith("i") and len(unit) == 2:
        unit = unit[:-1]
    if not number or unit not in _UNITS or number.count(".") > 1 or number.endswith("."):
        raise InvalidArgument(f"invalid size: '{text}'", hint="use a size like 10m or 1g")
    size = int(float(number) * _UNITS[unit])
    if size <= 0:
        raise InvalidArgument("max-size must be a positive number", hint="use a size like 10m")
    return size


def _split_number(text: str) -> tuple[str, str]:
    """Split ``12.5 mb`` into ``("12.5", " mb")``."""
    end = 0
    while end < len(text) and (is_uint(text[end]) or text[end] == "."):
        end += 1
    if text[:1] == ".":
        return "", text
    return text[:end], text[end:]


def parse_max_file(text: str) -> int:
    """A ``max-file`` log option: how many files to keep, at least 1.

    Raises:
        InvalidArgument: not an integer, or below 1 (docker: "max-file cannot be less than 1").
    """
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not is_uint(digits):
        raise InvalidArgument(f"invalid max-file: '{text}'", hint="use a whole number, like 3")
    count = int(text)
    if count < 1:
        raise InvalidArgument("max-file cannot be less than 1", hint="use a whole number >= 1")
    return count


class LogWriter:
    """Appends a container's output to a json-file log, rotating it.

    Args:
        path: the log file; created (mode 0640) if missing, appended to if present.
        max_size: rotate when the file holds this many bytes; 0 means never.
        max_file: how many files to keep, the current one included (at least 1).

    Raises:
        InvalidArgument: ``max_size`` < 0 or ``max_file`` < 1.
        OSError: the file cannot be opened.
    """

    __slots__ = ("_fd", "_pending", "_size", "max_file", "max_size", "path")

    def __init__(self, path: str, max_size: int = 0, max_file: int = 1) -> None:
        if max_size < 0 or max_file < 1:
            raise InvalidArgument(
                f"log file {path}: max-size {max_size}, max-file {max_file}: out of range",
                hint="max-size must be >= 0 and max-file >= 1",
            )
        self.path = path
        self.max_size = max_size
        self.max_file = max_file
        self._pending: dict[str, bytes] = {}
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        return os.open(self.path, flags, _DEFAULT_PERMS)

    def write(self, stream: str, data: bytes, now: float) -> None:
        """Log ``data`` that ``stream`` produced at UNIX time ``now``.

        Every complete line becomes one entry; a line reaching :data:`MAX_LINE` bytes is cut
        into pieces; an unfinished line waits for its end (or :meth:`flush`).

        Args:
            stream: ``stdout`` or ``stderr``.
            data: bytes as read from the container's pipe or pty.
            now: the time of the read, in seconds since the epoch.

        Raises:
            OSError: writing or rotating failed (ENOSPC, EIO); the entries are lost.
        """
        buf = self._pending.pop(stream, b"") + data
        stamp = format_time_ns(seconds_to_ns(now))
        pieces: list[bytes] = []
        start = 0
        while True:
            newline = buf.find(b"\n", start, start + MAX_LINE)
            if newline >= 0:
                pieces.append(buf[start : newline + 1])
                start = newline + 1
            elif len(buf) - start >= MAX_LINE:
                pieces.append(buf[start : start + MAX_LINE])
                start += MAX_LINE
            else:
                break
        if start < len(buf):
            self._pending[stream] = buf[start:]
        self._emit(stream, pieces, stamp)

    def flush(self, now: float | None = None, *, stream: str | None = None) -> None:
        """Log the unfinished line of ``stream`` (all streams if None) without a newline.

        Call it when a stream reaches end of file (the container exited).

        Args:
            now: UNIX time of the entry; the current time if None.
            stream: the stream to flush, or None for all.
        """
        stamp = format_time_ns(time.time_ns() if now is None else seconds_to_ns(now))
        names = [stream] if stream is not None else sorted(self._pending)
        for name in names:
            rest = self._pending.pop(name, b"")
            if rest:
                self._emit(name, [rest], stamp)

    def _emit(self, stream: str, pieces: list[bytes], stamp: str) -> None:
        tail = f',"stream":{json_string(stream.encode())},"time":"{stamp}"}}\n'.encode()
        batch = bytearray()
        for piece in pieces:
            if self.max_size and self._size + len(batch) >= self.max_size:
                self._write_all(batch)
                batch.clear()
                self._rotate()
            batch += b'{"log":'
            batch += json_string(piece).encode()
            batch += tail
        self._write_all(batch)

    def _write_all(self, data: bytearray) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            self._size += written
            view = view[written:]

    def _rotate(self) -> None:
        """Shift ``path.{i}`` to ``path.{i+1}`` and start an empty ``path`` (moby ``rotate``)."""
        os.close(self._fd)
        self._fd = -1
        try:
            for i in range(self.max_file - 1, 1, -1):
                _rename_if_present(f"{self.path}.{i - 1}", f"{self.path}.{i}")
            if self.max_file >= 2:
                _rename_if_present(self.path, f"{self.path}.1")
        finally:
            # Reopened even when a rename failed (the error propagates): writes go on.
            self._fd = self._open()
            self._size = os.fstat(self._fd).st_size
        if self.max_file == 1:
            os.ftruncate(self._fd, 0)
            self._size = 0

    def close(self) -> None:
        """Flush unfinished lines (:meth:`flush`) and close the file. Idempotent."""
        if self._fd < 0:
            return
        try:
            self.flush()
        finally:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rename_if_present(source: str, target: str) -> None:
    try:
        os.rename(source, target)
    except OSError as err:
        if err.errno != errno.ENOENT:
            raise
