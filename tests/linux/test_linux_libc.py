"""The libc handle and its errno check."""

from __future__ import annotations

import errno

import pytest

from dockyard.linux.libc import check, libc


def test_libc_is_loaded_once() -> None:
    assert libc() is libc()


def test_check_passes_success_values_through() -> None:
    assert check(0, "noop") == 0
    assert check(7, "noop") == 7


def test_check_raises_with_the_saved_errno() -> None:
    with pytest.raises(OSError, match=r"^\[Errno 9\] close fd -1: Bad file descriptor") as info:
        check(libc().close(-1), "close fd -1")
    assert info.value.errno == errno.EBADF
