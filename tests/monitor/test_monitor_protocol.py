"""The attach wire protocol: framing, the header line, EXIT/RESIZE payloads, long socket paths."""

from __future__ import annotations

import itertools
import os
import socket
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.monitor import protocol
from dockyard.monitor.protocol import FrameReader, ProtocolError

FRAMES = [
    (protocol.STDOUT, b"hello\n"),
    (protocol.STDERR, b""),
    (protocol.EXIT, b'{"code": 0}'),
    (protocol.STDIN, bytes(range(256))),
    (protocol.CLOSE_STDIN, b""),
]


def test_frame_layout() -> None:
    assert protocol.encode(protocol.STDERR, b"ab") == b"\x02\x00\x00\x00\x02ab"
    assert protocol.encode(protocol.CLOSE_STDIN) == b"\x05\x00\x00\x00\x00"


def test_many_frames_in_one_feed() -> None:
    stream = b"".join(protocol.encode(kind, payload) for kind, payload in FRAMES)
    reader = FrameReader()
    assert reader.feed(stream) == FRAMES
    assert reader.buffered == 0


def test_frames_split_at_every_byte() -> None:
    stream = b"".join(protocol.encode(kind, payload) for kind, payload in FRAMES)
    for cut in range(len(stream) + 1):
        reader = FrameReader()
        assert reader.feed(stream[:cut]) + reader.feed(stream[cut:]) == FRAMES, cut


def test_byte_by_byte_feed_holds_partial_frame() -> None:
    frame = protocol.encode(protocol.STDOUT, b"xyz")
    reader = FrameReader()
    got = [reader.feed(frame[i : i + 1]) for i in range(len(frame))]
    assert got[:-1] == [[]] * (len(frame) - 1)
    assert got[-1] == [(protocol.STDOUT, b"xyz")]
    reader.feed(frame[:3])
    assert reader.buffered == 3


@given(
    frames=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=300)), max_size=8),
    cuts=st.lists(st.integers(0, 4000), max_size=6),
)
def test_round_trip_with_any_split(frames: list[tuple[int, bytes]], cuts: list[int]) -> None:
    stream = b"".join(protocol.encode(kind, payload) for kind, payload in frames)
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    reader = FrameReader()
    got = []
    for start, end in itertools.pairwise(bounds):
        got += reader.feed(stream[start:end])
    assert got == frames
    assert reader.buffered == 0


def test_payload_limit() -> None:
    assert len(protocol.encode(protocol.STDOUT, bytes(protocol.MAX_PAYLOAD))) > protocol.MAX_PAYLOAD
    with pytest.raises(ProtocolError, match="exceeds"):
        protocol.encode(protocol.STDOUT, bytes(protocol.MAX_PAYLOAD + 1))
    with pytest.raises(ProtocolError, match="exceeds"):
        FrameReader().feed(b"\x01" + (protocol.MAX_PAYLOAD + 1).to_bytes(4, "big"))
    with pytest.raises(ProtocolError, match="not a byte"):
        protocol.encode(256, b"")


@pytest.mark.parametrize(
    "flags", [(True, True, True), (False, True, True), (True, False, False), (False,) * 3]
)
def test_header_round_trip(flags: tuple[bool, bool, bool]) -> None:
    line = protocol.encode_header(*flags)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert protocol.parse_header(line) == flags
    assert protocol.parse_header(line.rstrip(b"\n")) == flags


@pytest.mark.parametrize(
    ("line", "flags"),
    [
        (b"{}\n", (False, False, False)),
        (b'{"stdout": true}', (False, True, False)),
        (b'{"stdin": true, "detach": "x", "version": 2}\n', (True, False, False)),
    ],
)
def test_header_missing_and_unknown_keys(line: bytes, flags: tuple[bool, bool, bool]) -> None:
    assert protocol.parse_header(line) == flags


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"\n",
        b"stdin\n",
        b"[true]\n",
        b'"x"\n',
        b'{"stdin": 1}\n',
        b'{"stderr": null}',
        b"\xff",
    ],
)
def test_header_garbage(line: bytes) -> None:
    with pytest.raises(ValueError, match="attach header"):
        protocol.parse_header(line)


def _payload(frame: bytes) -> bytes:
    [(_kind, payload)] = FrameReader().feed(frame)
    return payload


@pytest.mark.parametrize(
    "exit_",
    [(0, None, False), (137, None, True), (127, "exec: no such file", False), (-1, "", True)],
)
def test_exit_round_trip(exit_: tuple[int, str | None, bool]) -> None:
    frame = protocol.encode_exit(*exit_)
    assert frame[0] == protocol.EXIT
    assert protocol.decode_exit(_payload(frame)) == exit_


def test_exit_defaults() -> None:
    assert protocol.decode_exit(_payload(protocol.encode_exit(3))) == (3, None, False)
    assert protocol.decode_exit(b'{"code": 4}') == (4, None, False)


@pytest.mark.parametrize(
    "payload",
    [b"", b"[]", b"{}", b'{"code": "1"}', b'{"code": true}', b'{"code": 1, "error": 5}',
     b'{"code": 1, "oom": "yes"}'],
)  # fmt: skip
def test_exit_garbage(payload: bytes) -> None:
    with pytest.raises(ProtocolError, match="exit frame"):
        protocol.decode_exit(payload)


def test_resize_round_trip() -> None:
    frame = protocol.encode_resize(24, 80)
    assert frame[0] == protocol.RESIZE
    assert protocol.decode_resize(_payload(frame)) == (24, 80)


@pytest.mark.parametrize(
    "payload",
    [b"x", b"{}", b'{"rows": 1}', b'{"rows": -1, "cols": 2}', b'{"rows": 1, "cols": 65536}',
     b'{"rows": true, "cols": 2}', b'{"rows": 1.5, "cols": 2}'],
)  # fmt: skip
def test_resize_garbage(payload: bytes) -> None:
    with pytest.raises(ProtocolError, match="resize frame"):
        protocol.decode_resize(payload)


@pytest.fixture
def long_path(tmp_path: Path) -> str:
    directory = tmp_path / ("d" * 70) / ("e" * 70)
    directory.mkdir(parents=True)
    path = str(directory / "attach.sock")
    assert len(path.encode()) > 108
    return path


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_long_path_bind_and_connect(long_path: str) -> None:
    fds = _open_fds()
    with protocol.bind_listener(long_path) as listener:
        assert stat.S_ISSOCK(os.stat(long_path).st_mode)
        assert stat.S_IMODE(os.stat(long_path).st_mode) == 0o600
        with protocol.connect(long_path, timeout=5) as client:
            assert client.gettimeout() is None
            server, _ = listener.accept()
            with server:
                client.sendall(b"ping")
                assert server.recv(4) == b"ping"
    assert _open_fds() == fds  # the directory descriptors are closed


def test_bind_replaces_stale_socket(long_path: str) -> None:
    protocol.bind_listener(long_path).close()  # leaves the socket file behind
    with pytest.raises(ConnectionRefusedError):
        protocol.connect(long_path, timeout=5)
    with protocol.bind_listener(long_path), protocol.connect(long_path, timeout=5):
        pass


def test_bind_keeps_a_file_that_is_not_a_socket(long_path: str) -> None:
    Path(long_path).write_text("keep me")
    with pytest.raises(OSError, match="in use"):
        protocol.bind_listener(long_path)
    assert Path(long_path).read_text() == "keep me"


def test_connect_to_missing_socket(long_path: str) -> None:
    with pytest.raises(FileNotFoundError):
        protocol.connect(long_path)
    with pytest.raises(FileNotFoundError):
        protocol.connect(os.path.join(os.path.dirname(long_path), "nodir", "x.sock"))


def test_short_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with protocol.bind_listener("a.sock") as listener, protocol.connect("a.sock") as client:
        server, _ = listener.accept()
        server.close()
        assert client.recv(1) == b""
    assert isinstance(listener, socket.socket)
