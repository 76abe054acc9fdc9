"""The json-file log writer: docker's line format, partial and long lines, rotation."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.monitor.logfile import (
    GO_REPLACE,
    MAX_LINE,
    LogWriter,
    format_time_ns,
    format_time_trimmed,
    json_string,
    parse_max_file,
    parse_size,
    seconds_to_ns,
)

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
STAMP = "2023-11-14T22:13:20.000000000Z"


def line(log: str, stream: str = "stdout", stamp: str = STAMP) -> str:
    """One json-file line as docker writes it; ``log`` is already JSON-escaped."""
    return f'{{"log":"{log}","stream":"{stream}","time":"{stamp}"}}\n'


@pytest.mark.parametrize(
    ("data", "want"),
    [
        (b"hello\n", r'"hello\n"'),
        (b'say "hi" \\o/\r\n', r'"say \"hi\" \\o/\r\n"'),
        (b"a\tb\x00\x1b[0m", r'"a\u0009b\u0000\u001b[0m"'),
        (b"<a href='x'>&</a>", r'"\u003ca href=' + "'x'" + r'\u003e\u0026\u003c/a\u003e"'),
        ("héllo ✓ \x7f".encode(), '"héllo ✓ \x7f"'),
        (b"bad \xff byte", r'"bad \ufffd byte"'),
        (b"cut \xe2\x82A", r'"cut \ufffd\ufffdA"'),
        (b"surrogate \xed\xa0\x80", r'"surrogate \ufffd\ufffd\ufffd"'),
        ("sep \u2028\u2029".encode(), r'"sep \u2028\u2029"'),
    ],
)
def test_json_string_escapes_like_moby(data: bytes, want: str) -> None:
    assert json_string(data) == want
    assert json.loads(want) == data.decode("utf-8", GO_REPLACE)


@pytest.mark.parametrize(
    ("ns", "fixed", "trimmed"),
    [
        (0, "1970-01-01T00:00:00.000000000Z", "1970-01-01T00:00:00Z"),
        (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456789Z", None),
        (1_700_000_000_500_000_000, "2023-11-14T22:13:20.500000000Z", "2023-11-14T22:13:20.5Z"),
        (-1, "1969-12-31T23:59:59.999999999Z", None),
        (4_102_444_800 * 10**9, "2100-01-01T00:00:00.000000000Z", "2100-01-01T00:00:00Z"),
    ],
)
def test_format_time(ns: int, fixed: str, trimmed: str | None) -> None:
    assert format_time_ns(ns) == fixed
    assert format_time_trimmed(ns) == (trimmed or fixed)


@pytest.mark.parametrize(
    ("seconds", "ns"),
    [(T0, 1_700_000_000 * 10**9), (T0 + 0.25, 1_700_000_000_250_000_000), (-0.5, -500_000_000)],
)
def test_seconds_to_ns(seconds: float, ns: int) -> None:
    assert seconds_to_ns(seconds) == ns


def test_lines_partial_lines_and_streams(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    with LogWriter(str(path)) as log:
        log.write("stdout", b"one\ntw", T0)
        log.write("stderr", b"err", T0 + 1)
        log.write("stdout", b"o\n\nthr", T0 + 2)
        log.write("stderr", b"or\n", T0 + 3)
        log.flush(T0 + 4)
        log.flush(T0 + 5)  # nothing left
    stamp = [f"2023-11-14T22:13:2{i}.000000000Z" for i in range(5)]
    assert path.read_text() == "".join(
        [
            line(r"one\n", stamp=stamp[0]),
            line(r"two\n", stamp=stamp[2]),
            line(r"\n", stamp=stamp[2]),
            line(r"error\n", "stderr", stamp[3]),
            line("thr", stamp=stamp[4]),  # flushed at exit: no newline, like docker
        ]
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_flush_one_stream_and_close_flushes(tmp_path: Path) -> None:
    path = tmp_path / "log"
    log = LogWriter(str(path))
    log.write("stdout", b"out", T0)
    log.write("stderr", b"err", T0)
    log.flush(T0, stream="stderr")
    assert path.read_text() == line("err", "stderr")
    log.close()
    log.close()
    assert path.read_text().splitlines()[1].startswith('{"log":"out","stream":"stdout"')


# Lengths of the content of one line (before its newline) -> the pieces docker logs.
LONG = [
    (MAX_LINE - 1, [(MAX_LINE - 1, True)]),
    (MAX_LINE, [(MAX_LINE, False), (0, True)]),
    (MAX_LINE + 1, [(MAX_LINE, False), (1, True)]),
    (2 * MAX_LINE + 5, [(MAX_LINE, False), (MAX_LINE, False), (5, True)]),
]


@pytest.mark.parametrize(("length", "pieces"), LONG)
@pytest.mark.parametrize("chunk", [1000, 1 << 20])
def test_long_lines_are_cut_at_16k(
    tmp_path: Path, length: int, pieces: list[tuple[int, bool]], chunk: int
) -> None:
    data = b"x" * length + b"\nnext\n"
    path = tmp_path / "log"
    with LogWriter(str(path)) as log:
        for start in range(0, len(data), chunk):
            log.write("stdout", data[start : start + chunk], T0)
    entries = [json.loads(text)["log"] for text in path.read_text().splitlines()]
    want = ["x" * n + ("\n" if newline else "") for n, newline in pieces] + ["next\n"]
    assert entries == want


def test_unfinished_long_line_is_written_in_16k_pieces(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with LogWriter(str(path)) as log:
        log.write("stdout", b"y" * (MAX_LINE * 2 + 10), T0)
        assert [len(json.loads(t)["log"]) for t in path.read_text().splitlines()] == [
            MAX_LINE,
            MAX_LINE,
        ]
        log.flush(T0)
    assert json.loads(path.read_text().splitlines()[-1])["log"] == "y" * 10


ENTRY = len(line(r"line 0\n"))  # every test entry below has this size


def _files(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("one_write", [False, True])
def test_rotation_keeps_max_file_files(tmp_path: Path, one_write: bool) -> None:
    path = tmp_path / "c-json.log"
    lines = [f"line {i}\n".encode() for i in range(1, 8)]
    with LogWriter(str(path), max_size=2 * ENTRY, max_file=3) as log:
        if one_write:
            log.write("stdout", b"".join(lines), T0)
        else:
            for data in lines:
                log.write("stdout", data, T0)
    # A file holding max_size bytes is rotated before the next write (moby LogFile).
    assert _files(tmp_path) == {
        "c-json.log": line(r"line 7\n"),
        "c-json.log.1": line(r"line 5\n") + line(r"line 6\n"),
        "c-json.log.2": line(r"line 3\n") + line(r"line 4\n"),
    }


def test_rotation_counts_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text(line(r"old\n") * 2)
    with LogWriter(str(path), max_size=2 * len(line(r"old\n")), max_file=2) as log:
        log.write("stderr", b"new\n", T0)
    assert _files(tmp_path) == {"log": line(r"new\n", "stderr"), "log.1": line(r"old\n") * 2}


def test_max_file_one_truncates(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with LogWriter(str(path), max_size=2 * ENTRY, max_file=1) as log:
        for i in range(1, 6):
            log.write("stdout", f"line {i}\n".encode(), T0)
    assert _files(tmp_path) == {"log": line(r"line 5\n")}


def test_no_max_size_never_rotates(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with LogWriter(str(path), max_size=0, max_file=5) as log:
        for i in range(100):
            log.write("stdout", f"line {i % 10}\n".encode(), T0)
    assert list(_files(tmp_path)) == ["log"]
    assert path.stat().st_size == 100 * ENTRY


@pytest.mark.parametrize(("max_size", "max_file"), [(-1, 1), (0, 0)])
def test_writer_refuses_bad_limits(tmp_path: Path, max_size: int, max_file: int) -> None:
    with pytest.raises(InvalidArgument, match="out of range"):
        LogWriter(str(tmp_path / "log"), max_size, max_file)
    assert not (tmp_path / "log").exists()


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1", 1),
        ("100b", 100),
        ("10k", 10 << 10),
        ("10K", 10 << 10),
        ("10kb", 10 << 10),
        ("10m", 10 << 20),
        ("10 MiB", 10 << 20),
        ("1.5g", 3 << 29),
        ("2t", 2 << 40),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid size: ''"),
        ("ten", "invalid size"),
        ("10x", "invalid size"),
        ("-1m", "invalid size"),
        ("1.2.3m", "invalid size"),
        (".5m", "invalid size"),
        ("10mm", "invalid size"),
        ("0", "max-size must be a positive number"),
    ],
)
def test_parse_size_refuses(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_size(text)


@pytest.mark.parametrize(("text", "count"), [("1", 1), ("3", 3), ("+2", 2)])
def test_parse_max_file(text: str, count: int) -> None:
    assert parse_max_file(text) == count


@pytest.mark.parametrize(
    ("text", "message"),
    [("0", "cannot be less than 1"), ("-1", "cannot be less than 1"), ("x", "invalid max-file")],
)
def test_parse_max_file_refuses(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_max_file(text)
