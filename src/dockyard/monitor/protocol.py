"""The attach wire protocol between a container's monitor and its clients (the CLI).

The monitor owns the container's stdio and listens on a unix stream socket (the *attach
socket*). A client connects and first sends one header line, a JSON object and ``b"\\n"``::

    {"stdin": true, "stdout": true, "stderr": true}

naming the streams it wants (unknown keys are ignored, a missing key means false). After the
header both sides speak in frames::

    +--------+----------------+-----------------+
    | type   | length         | payload         |
    | 1 byte | 4 bytes, BE    | length bytes    |
    +--------+----------------+-----------------+

- ``STDIN`` (0), client -> monitor: bytes for the container's stdin.
- ``STDOUT`` (1), monitor -> client: what the container wrote to stdout (everything, on a tty).
- ``STDERR`` (2), monitor -> client: what the container wrote to stderr.
- ``EXIT`` (3), monitor -> client, the last frame: JSON
  ``{"code": int, "error": str|null, "oom": bool}``.
- ``RESIZE`` (4), client -> monitor: JSON ``{"rows": int, "cols": int}``, the client's
  terminal size.
- ``CLOSE_STDIN`` (5), client -> monitor, empty: the client's stdin reached end of file.

A payload larger than :data:`MAX_PAYLOAD` is a protocol error. Readers pass frames of types
they do not know on to their caller, who ignores them (a newer monitor may send more).

Unix socket addresses are limited to 108 bytes (``sun_path``) and the engine's state
directories can be deeper than that, so :func:`bind_listener` and :func:`connect` reach the
socket through ``/proc/self/fd/<fd>/<name>``, where ``fd`` is an ``O_PATH`` descriptor of the
socket's directory (the trick conmon and crun use).

This module is imported by the monitor, whose memory is paid per running container: it uses
only os, struct and :mod:`.minijson` (socket only in the functions the CLI calls; no typing,
dataclasses, enum or pathlib),
and its classes are plain classes with ``__slots__``.
"""

from __future__ import annotations

import os
import struct

from dockyard.monitor import minijson

TYPE_CHECKING = False  # typing and socket cost the monitor ~1 MB: only the CLI side needs them
if TYPE_CHECKING:
    import socket

STDIN = 0
STDOUT = 1
STDERR = 2
EXIT = 3
RESIZE = 4
CLOSE_STDIN = 5

MAX_PAYLOAD = 1 << 20
"""The largest payload a frame may carry (1 MiB); writers split larger data."""

MAX_HEADER = 4096
"""The longest header line (with its newline) a monitor needs to accept."""

_HEAD = struct.Struct(">BI")
_HEADER_KEYS = ("stdin", "stdout", "stderr")
_S_IFMT = 0o170000  # stat.S_IFMT and S_IFSOCK, spelled out to keep this module's imports small
_S_IFSOCK = 0o140000


class ProtocolError(ValueError):
    """The peer sent bytes that are not a valid header or frame."""


def encode_header(stdin: bool, stdout: bool, stderr: bool) -> bytes:
    """The client's header line: which streams it attaches, as JSON and ``b"\\n"``."""
    fields = {"stdin": bool(stdin), "stdout": bool(stdout), "stderr": bool(stderr)}
    return minijson.dumps(fields).encode() + b"\n"


def parse_header(line: bytes) -> tuple[bool, bool, bool]:
    """Parse a client's header line (with or without its trailing newline).

    Returns:
        ``(stdin, stdout, stderr)``; a missing key is false, unknown keys are ignored.

    Raises:
        ProtocolError: (a ValueError) the line is not a JSON object of booleans.
    """
    try:
        value = minijson.loads(line)
    except (ValueError, UnicodeDecodeError) as err:
        raise ProtocolError(f"attach header: not JSON: {err}") from err
    if not isinstance(value, dict):
        raise ProtocolError("attach header: not a JSON object")
    flags = []
    for key in _HEADER_KEYS:
        flag = value.get(key, False)
        if not isinstance(flag, bool):
            raise ProtocolError(f"attach header: {key!r} is not a boolean")
        flags.append(flag)
    return flags[0], flags[1], flags[2]


def encode(kind: int, payload: bytes = b"") -> bytes:
    """One frame of type ``kind`` carrying ``payload``.

    Raises:
        ProtocolError: ``kind`` is not a byte, or ``payload`` exceeds :data:`MAX_PAYLOAD`.
    """
    if not 0 <= kind <= 0xFF:
        raise ProtocolError(f"frame type {kind} is not a byte")
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"frame payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return _HEAD.pack(kind, len(payload)) + payload


class FrameReader:
    """Splits a byte stream into frames, whatever the boundaries of the reads.

    Plain class with ``__slots__`` (no dataclasses: see the module docstring).
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held of a frame not yet complete (non-zero at end of stream: truncated)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add ``data`` and return the frames it completes, in order, as ``(type, payload)``.

        Raises:
            ProtocolError: a frame announces a payload larger than :data:`MAX_PAYLOAD`.
        """
        self._buf += data
        frames = []
        start = 0
        buf = self._buf
        while len(buf) - start >= _HEAD.size:
            kind, length = _HEAD.unpack_from(buf, start)
            if length > MAX_PAYLOAD:
                raise ProtocolError(f"frame payload of {length} bytes exceeds {MAX_PAYLOAD}")
            end = start + _HEAD.size + length
            if len(buf) < end:
                break
            frames.append((kind, bytes(buf[start + _HEAD.size : end])))
            start = end
        del buf[:start]
        return frames


def encode_exit(code: int, error: str | None = None, oom: bool = False) -> bytes:
    """An EXIT frame: the container's exit code, an error that ended it, whether OOM killed it."""
    body = {"code": int(code), "error": error, "oom": bool(oom)}
    return encode(EXIT, minijson.dumps(body).encode())


def decode_exit(payload: bytes) -> tuple[int, str | None, bool]:
    """Parse an EXIT payload into ``(code, error, oom)``.

    Raises:
        ProtocolError: the payload is not ``{"code": int, "error": str|null, "oom": bool}``.
    """
    value = _json_object(payload, "exit")
    code, error, oom = value.get("code"), value.get("error"), value.get("oom", False)
    if not isinstance(code, int) or isinstance(code, bool):
        raise ProtocolError("exit frame: 'code' is not an integer")
    if error is not None and not isinstance(error, str):
        raise ProtocolError("exit frame: 'error' is not a string or null")
    if not isinstance(oom, bool):
        raise ProtocolError("exit frame: 'oom' is not a boolean")
    return code, error, oom


def encode_resize(rows: int, cols: int) -> bytes:
    """A RESIZE frame carrying the client's terminal size."""
    return encode(RESIZE, minijson.dumps({"rows": int(rows), "cols": int(cols)}).encode())


def decode_resize(payload: bytes) -> tuple[int, int]:
    """Parse a RESIZE payload into ``(rows, cols)``, each in 0..65535 (a ``winsize`` field).

    Raises:
        ProtocolError: the payload is not ``{"rows": int, "cols": int}`` within range.
    """
    value = _json_object(payload, "resize")
    size = []
    for key in ("rows", "cols"):
        number = value.get(key)
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 0xFFFF:
            raise ProtocolError(f"resize frame: {key!r} is not an integer in 0..65535")
        size.append(number)
    return size[0], size[1]


def _json_object(payload: bytes, what: str) -> dict[str, object]:
    try:
        value = minijson.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise ProtocolError(f"{what} frame: not JSON: {err}") from err
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} frame: not a JSON object")
    return value


def bind_listener(path: str, backlog: int = 16) -> socket.socket:
    """Listen on a unix stream socket at ``path``, however long ``path`` is.

    A socket file left at ``path`` (by a monitor that died) is removed first; the new one is
    made mode 0600. The returned socket is blocking and close-on-exec.

    Raises:
        OSError: the directory is missing, ``path`` is taken by something that is not a
            socket (EADDRINUSE), or binding fails.
    """
    dir_fd, name = _open_parent(path)
    try:
        _remove_stale_socket(name, dir_fd)
        import socket

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(f"/proc/self/fd/{dir_fd}/{name}")
            os.chmod(name, 0o600, dir_fd=dir_fd)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        return sock
    finally:
        os.close(dir_fd)


def connect(path: str, timeout: float | None = None) -> socket.socket:
    """Connect to the unix stream socket at ``path``, however long ``path`` is.

    Args:
        path: the socket's path.
        timeout: seconds the connect may take (None: no limit). The returned socket is
            blocking, with no timeout, whatever this is.

    Raises:
        FileNotFoundError: no socket at ``path``; ConnectionRefusedError: nobody listens;
        TimeoutError: ``timeout`` passed; OSError: other failures.
    """
    dir_fd, name = _open_parent(path)
    try:
        import socket

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(f"/proc/self/fd/{dir_fd}/{name}")
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        return sock
    finally:
        os.close(dir_fd)


def _open_parent(path: str) -> tuple[int, str]:
    """An ``O_PATH`` descriptor of ``path``'s directory, and the name within it."""
    head, name = os.path.split(path)
    if not name:
        raise IsADirectoryError(f"socket path {path!r} names no file")
    flags = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
    return os.open(head or ".", flags), name


def _remove_stale_socket(name: str, dir_fd: int) -> None:
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return
    if mode & _S_IFMT == _S_IFSOCK:
        os.unlink(name, dir_fd=dir_fd)
