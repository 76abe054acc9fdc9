"""runtime.child: how forked children leave, and the error report their parent reads."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import DockyardError, NotFound, PermissionDenied
from dockyard.runtime.child import (
    ChildError,
    ChildErrorKind,
    ExecDenied,
    ExecNotFound,
    SetupFailed,
    parse_child_error,
    read_child_error,
    run_child,
)


def _fork(fn: Callable[[], object]) -> tuple[int, ChildError | None]:
    """Run ``fn`` under run_child in a fork; return (exit code, the error it reported)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        run_child(fn, error_fd=write_fd)
    os.close(write_fd)
    try:
        error = read_child_error(read_fd)
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), error


def _raise(err: BaseException) -> Callable[[], object]:
    def body() -> object:
        raise err

    return body


@pytest.mark.parametrize(
    ("err", "code", "cls", "message", "number"),
    [
        (
            ExecNotFound('exec: "x": not found', errno=2),
            127,
            ExecNotFound,
            'exec: "x": not found',
            2,
        ),
        (ExecDenied("exec /x: permission denied", errno=13), 126, ExecDenied, None, 13),
        (SetupFailed("process.cwd '/x': chdir: gone"), 1, SetupFailed, None, None),
        (OSError(errno.EPERM, "capset: Operation not permitted"), 1, SetupFailed, None, 1),
        (FileNotFoundError(errno.ENOENT, "No such file", "/etc/x"), 1, SetupFailed, None, 2),
        (ValueError("bad value"), 1, SetupFailed, "bad value", None),
        (KeyboardInterrupt(), 1, SetupFailed, "KeyboardInterrupt", None),
        (SystemExit(0), 1, SetupFailed, None, None),
    ],
)
def test_exceptions_become_reports_and_exit_codes(
    err: BaseException, code: int, cls: type[ChildError], message: str | None, number: int | None
) -> None:
    exit_code, error = _fork(_raise(err))
    assert exit_code == code
    assert type(error) is cls
    assert error.errno == number
    assert error.exit_code == code
    if message is not None:
        assert error.message == message


def test_os_error_report_names_the_file() -> None:
    _, error = _fork(_raise(FileNotFoundError(errno.ENOENT, "No such file", "/etc/x")))
    assert error is not None
    assert error.message == "No such file: /etc/x"


def test_a_body_that_returns_exits_zero_without_a_report() -> None:
    assert _fork(lambda: None) == (0, None)


def test_a_successful_exec_closes_the_error_pipe() -> None:
    def body() -> None:
        os.execv("/bin/busybox", ["true"])  # the pipe from os.pipe() is close-on-exec

    assert _fork(body) == (0, None)


def test_report_is_one_json_line() -> None:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        run_child(_raise(ExecNotFound('exec: "a\nb": gone', errno=2)), error_fd=write_fd)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as source:
        data = source.read()
    os.waitpid(pid, 0)
    assert data.endswith(b"\n")
    assert data.count(b"\n") == 1
    assert json.loads(data) == {"error": 'exec: "a\nb": gone', "errno": 2, "kind": "notfound"}


def test_categories_for_the_cli() -> None:
    assert isinstance(ChildError.of(ChildErrorKind.NOTFOUND, "x"), NotFound)
    assert isinstance(ChildError.of(ChildErrorKind.EXEC, "x"), PermissionDenied)
    setup = ChildError.of(ChildErrorKind.SETUP, "x")
    assert isinstance(setup, DockyardError)
    assert not isinstance(setup, (NotFound, PermissionDenied))


@pytest.mark.parametrize(
    "data",
    [
        b"not json\n",
        b'{"error": 1, "errno": null, "kind": "setup"}\n',
        b'{"error": "x", "errno": "2", "kind": "setup"}\n',
        b'{"error": "x", "errno": 2, "kind": "other"}\n',
        b'{"error": "x"}\n',
        b"[1, 2]\n",
    ],
)
def test_malformed_reports_are_setup_failures(data: bytes) -> None:
    error = parse_child_error(data)
    assert isinstance(error, SetupFailed)
    assert "malformed report" in error.message


@pytest.mark.parametrize("data", [b"", b"\n", b"  \n"])
def test_empty_reports_mean_success(data: bytes) -> None:
    assert parse_child_error(data) is None


@given(
    message=st.text(),
    number=st.none() | st.integers(min_value=0, max_value=4095),
    kind=st.sampled_from(ChildErrorKind),
)
def test_report_round_trip(message: str, number: int | None, kind: ChildErrorKind) -> None:
    line = json.dumps({"error": message, "errno": number, "kind": str(kind)}) + "\n"
    error = parse_child_error(line.encode())
    assert error is not None
    assert (error.message, error.errno, error.kind) == (message, number, kind)
