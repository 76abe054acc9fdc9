"""Reading json-file logs: order across rotated files, --tail, --since/--until, --follow."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.engine.logs import (
    LogEntry,
    decode_line,
    follow,
    format_entry,
    parse_time_ns,
    read_logs,
)
from dockyard.monitor.logfile import LogWriter

T0 = 1_700_000_000.0
S = 1_000_000_000


def entry_size() -> int:
    return len(b'{"log":"line 00\\n","stream":"stdout","time":"2023-11-14T22:13:20.000000000Z"}\n')


def write_lines(log: LogWriter, first: int, last: int) -> None:
    """Lines ``line NN`` for first..last, line i at T0 + i seconds, stderr for odd i."""
    for i in range(first, last + 1):
        log.write("stderr" if i % 2 else "stdout", f"line {i:02d}\n".encode(), T0 + i)


def numbers(entries: Iterator[LogEntry] | list[LogEntry]) -> list[int]:
    return [int(e.data.split()[1]) for e in entries]


@pytest.fixture
def rotated(tmp_path: Path) -> Path:
    """Lines 1..20 in files of 3 entries, 4 files kept: lines 10..20 survive."""
    path = tmp_path / "c-json.log"
    with LogWriter(str(path), max_size=3 * entry_size(), max_file=4) as log:
        write_lines(log, 1, 20)
    assert sorted(p.name for p in tmp_path.iterdir())[-1] == "c-json.log.3"
    return path


def test_reads_rotated_files_oldest_first(rotated: Path) -> None:
    entries = list(read_logs(rotated, 4))
    assert numbers(entries) == list(range(10, 21))
    assert entries[0] == LogEntry(stream="stdout", data=b"line 10\n", time_ns=int(T0 + 10) * S)
    assert entries[1].stream == "stderr"
    assert numbers(read_logs(rotated, 2)) == [16, 17, 18, 19, 20]  # max_file bounds the files


@pytest.mark.parametrize(
    ("tail", "want"),
    [
        (None, list(range(10, 21))),
        (-1, list(range(10, 21))),
        (0, []),
        (1, [20]),
        (2, [19, 20]),
        (4, [17, 18, 19, 20]),
        (7, list(range(14, 21))),
        (11, list(range(10, 21))),
        (500, list(range(10, 21))),
    ],
)
def test_tail_across_files(rotated: Path, tail: int | None, want: list[int]) -> None:
    assert numbers(read_logs(rotated, 4, tail=tail)) == want


@pytest.mark.parametrize(
    ("since", "until", "tail", "want"),
    [
        (T0 + 15, None, None, [15, 16, 17, 18, 19, 20]),
        (T0 + 14.5, None, None, [15, 16, 17, 18, 19, 20]),
        (None, T0 + 12, None, [10, 11, 12]),
        (T0 + 12, T0 + 16, None, [12, 13, 14, 15, 16]),
        (T0 + 12, T0 + 16, 2, [15, 16]),
        (T0 + 12, T0 + 16, 10, [12, 13, 14, 15, 16]),
        (None, T0 + 11.5, 1, [11]),
        (T0 + 30, None, None, []),
        (T0 + 30, None, 3, []),
        (None, T0, 3, []),
    ],
)
def test_since_until(
    rotated: Path, since: float | None, until: float | None, tail: int | None, want: list[int]
) -> None:
    assert numbers(read_logs(rotated, 4, tail=tail, since=since, until=until)) == want


def test_missing_log_is_empty(tmp_path: Path) -> None:
    assert list(read_logs(tmp_path / "never", 3)) == []
    assert list(read_logs(tmp_path / "never", 3, tail=5)) == []


def test_skips_bad_lines_and_an_unfinished_last_line(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with LogWriter(str(path)) as log:
        write_lines(log, 1, 2)
    with path.open("ab") as f:
        f.write(b"not json\n{}\n" + b'{"log":1,"stream":"stdout","time":"x"}\n')
    with LogWriter(str(path)) as log:
        write_lines(log, 3, 3)
    with path.open("ab") as f:
        f.write(b'{"log":"line 04\\n","stream":"std')  # the writer is mid-line
    assert numbers(read_logs(path, 1)) == [1, 2, 3]
    assert numbers(read_logs(path, 1, tail=2)) == [2, 3]


def test_long_lines_cross_read_blocks(tmp_path: Path) -> None:
    path = tmp_path / "log"
    big = [f"{i:02d}".encode() * 100_000 + b"\n" for i in range(3)]  # 200 KB lines
    with path.open("wb") as f:
        for i, data in enumerate(big):
            f.write(
                b'{"log":%s,"stream":"stdout","time":"2023-11-14T22:13:2%dZ"}\n'
                % (json.dumps(data.decode()).encode(), i)
            )
    assert [e.data for e in read_logs(path, 1)] == big
    assert [e.data for e in read_logs(path, 1, tail=2)] == big[1:]


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2023-11-14T22:13:20.000000000Z", 1_700_000_000 * S),
        ("2023-11-14T22:13:20.123456789Z", 1_700_000_000 * S + 123_456_789),
        ("2023-11-14T22:13:20.5Z", 1_700_000_000 * S + 500_000_000),
        ("2023-11-14T22:13:20Z", 1_700_000_000 * S),
        ("2023-11-14T23:13:20.25+01:00", 1_700_000_000 * S + 250_000_000),
        ("2023-11-14T17:13:20-05:00", 1_700_000_000 * S),
        ("1970-01-01T00:00:00Z", 0),
        ("2000-02-29T00:00:00Z", 951_782_400 * S),
        ("1969-12-31T23:59:59.9Z", -100_000_000),
    ],
)
def test_parse_time_ns(text: str, ns: int) -> None:
    assert parse_time_ns(text) == ns


@pytest.mark.parametrize(
    "text", ["", "2023-11-14", "2023-11-14T22:13:20", "2023-13-14T22:13:20Z", "2023-11-14Tx:13:20Z"]
)
def test_parse_time_ns_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_time_ns(text)


def test_decode_line_and_format_entry() -> None:
    line = b'{"log":"caf\\u00e9 \\ufffd\\n","stream":"stderr","time":"2023-11-14T22:13:20.5Z"}'
    entry = decode_line(line)
    assert entry == LogEntry(
        stream="stderr", data="café \ufffd\n".encode(), time_ns=1_700_000_000 * S + S // 2
    )
    assert format_entry(entry, False) == "café \ufffd\n".encode()
    assert format_entry(entry, True) == b"2023-11-14T22:13:20.500000000Z " + entry.data
    assert decode_line(b'{"log":"x"}') is None


class Running:
    """An ``is_running`` the test switches off."""

    def __init__(self) -> None:
        self.on = True

    def __call__(self) -> bool:
        return self.on


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("max_file", "want"),
    [
        (4, [3, 4, 5, 6, 7]),  # the followed file is now .3: .2 and .1 come before the new one
        (2, [5, 6, 7]),  # the followed file was rotated away: 3 and 4 are gone with it
        (1, [3]),  # truncated (max-file 1): read again from the start
    ],
)
def test_follow_across_rotations_between_polls(
    tmp_path: Path, max_file: int, want: list[int]
) -> None:
    path = tmp_path / "c-json.log"
    running = Running()
    log = LogWriter(str(path), max_size=2 * entry_size(), max_file=max_file)
    write_lines(log, 1, 2)
    reader = follow(path, max_file, is_running=running, poll=0.01)
    assert numbers([next(reader), next(reader)]) == [1, 2]
    write_lines(log, 3, 3 if max_file == 1 else 7)
    log.close()
    running.on = False
    assert numbers(reader) == want


@pytest.mark.timeout(20)
def test_follow_a_writer_thread(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    running = Running()
    count = 300

    def writer() -> None:
        with LogWriter(str(path), max_size=20 * entry_size(), max_file=5) as log:
            for i in range(count):
                log.write("stdout", f"line {i}\n".encode(), T0 + i)
                if i % 3 == 0:
                    log.write("stderr", b"par", T0 + i)  # pieces of a line across writes
                    time.sleep(0.001)
                    log.write("stderr", b"tial\n", T0 + i)
        running.on = False

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        got = list(follow(path, 5, is_running=running, poll=0.002))
    finally:
        thread.join()
    assert numbers(e for e in got if e.stream == "stdout") == list(range(count))
    assert [e.data for e in got if e.stream == "stderr"] == [b"partial\n"] * 100


@pytest.mark.timeout(10)
def test_follow_with_tail_since_and_until(tmp_path: Path) -> None:
    path = tmp_path / "log"
    log = LogWriter(str(path))
    write_lines(log, 1, 5)
    running = Running()
    reader = follow(path, 1, is_running=running, tail=2, since=T0 + 2, until=T0 + 7, poll=0.01)
    assert numbers([next(reader), next(reader)]) == [4, 5]
    write_lines(log, 6, 9)
    log.close()
    assert numbers(reader) == [6, 7]  # stops at the first entry after until, still running


@pytest.mark.timeout(10)
def test_follow_stops_once_until_has_passed(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with LogWriter(str(path)) as log:
        write_lines(log, 1, 2)
    # Always running, but until is long past and nothing newer comes.
    assert numbers(follow(path, 1, is_running=lambda: True, until=T0 + 100, poll=0.01)) == [1, 2]


@pytest.mark.timeout(10)
def test_follow_waits_for_the_file(tmp_path: Path) -> None:
    path = tmp_path / "log"
    running = Running()

    def writer() -> None:
        time.sleep(0.05)
        with LogWriter(str(path)) as log:
            write_lines(log, 1, 3)
        running.on = False

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        got = list(follow(path, 1, is_running=running, poll=0.005))
    finally:
        thread.join()
    assert numbers(got) == [1, 2, 3]
