"""prctl switches, oom_score_adj, rlimits and the fd sweep, each tried in a forked child."""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

import pytest
from tests.linux.forked import in_child, report_fd

from dockyard.errors import InvalidArgument
from dockyard.linux import proc
from dockyard.linux.caps import CAP_NUMBERS, capget, capset


def _status(field: str) -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {field} in /proc/self/status")


def test_no_new_privs_is_set_in_the_child_only() -> None:
    def child() -> tuple[bool, bool, str]:
        before = proc.get_no_new_privs()
        proc.set_no_new_privs()
        return before, proc.get_no_new_privs(), _status("NoNewPrivs")

    assert in_child(child) == (False, True, "1")
    assert not proc.get_no_new_privs()


def test_dumpable_round_trip() -> None:
    def child() -> tuple[bool, bool]:
        proc.set_dumpable(False)
        off = proc.get_dumpable()
        proc.set_dumpable(True)
        return off, proc.get_dumpable()

    assert in_child(child) == (False, True)


def test_child_subreaper_round_trip() -> None:
    def child() -> tuple[bool, bool]:
        before = proc.get_child_subreaper()
        proc.set_child_subreaper(True)
        return before, proc.get_child_subreaper()

    assert in_child(child) == (False, True)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_pdeathsig_kills_the_grandchild_with_its_parent() -> None:
    def child() -> int:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(report_fd())  # so in_child does not wait for this process
            proc.set_pdeathsig(signal.SIGKILL)
            os.write(write_fd, b"x")
            while True:
                signal.pause()  # until a signal kills it
        os.read(read_fd, 1)
        return pid

    # The child exits after returning, so the grandchild must get SIGKILL; init reaps it.
    grandchild = in_child(child)
    deadline = time.monotonic() + 10
    while not _gone(grandchild):
        if time.monotonic() > deadline:
            os.kill(grandchild, signal.SIGKILL)
            pytest.fail(f"grandchild {grandchild} outlived its parent")
        time.sleep(0.01)


def test_prctl_error_names_the_option() -> None:
    with pytest.raises(OSError, match=r"prctl 4: Invalid argument") as info:
        proc.prctl(proc.PR_SET_DUMPABLE, 7)
    assert info.value.errno == errno.EINVAL


@pytest.mark.root
def test_oom_score_adj_is_written() -> None:
    def child() -> str:
        proc.set_oom_score_adj(500)  # raising needs no privilege; lowering CAP_SYS_RESOURCE
        return Path("/proc/self/oom_score_adj").read_text().strip()

    assert in_child(child) == "500"


@pytest.mark.parametrize("value", [-1001, 1001])
def test_oom_score_adj_range(value: int) -> None:
    with pytest.raises(InvalidArgument, match=f"oomScoreAdj {value}"):
        proc.set_oom_score_adj(value)


def test_rlimit_set_and_get_in_a_child() -> None:
    def child() -> tuple[tuple[int, int], tuple[int, int]]:
        proc.set_rlimit("RLIMIT_NOFILE", 100, 200)
        nofile = proc.get_rlimit("RLIMIT_NOFILE")
        proc.set_rlimit("RLIMIT_CORE", 0, proc.get_rlimit("RLIMIT_CORE")[1])
        return nofile, proc.get_rlimit("RLIMIT_CORE")

    nofile, core = in_child(child)
    assert nofile == (100, 200)
    assert core[0] == 0


def test_rlimit_infinity_is_the_spec_value() -> None:
    if proc.get_rlimit("RLIMIT_CPU")[1] != proc.RLIM_INFINITY:
        pytest.skip("RLIMIT_CPU hard limit is not unlimited here")

    def child() -> tuple[tuple[int, int], tuple[int, int]]:
        proc.set_rlimit("RLIMIT_CPU", 1000, 2**64 - 1)
        lowered = proc.get_rlimit("RLIMIT_CPU")
        proc.set_rlimit("RLIMIT_CPU", 2**64 - 1, 2**64 - 1)
        return lowered, proc.get_rlimit("RLIMIT_CPU")

    assert in_child(child) == ((1000, 2**64 - 1), (2**64 - 1, 2**64 - 1))


@pytest.mark.root
def test_raising_the_hard_limit_needs_cap_sys_resource() -> None:
    def child() -> None:
        sets = capget()
        drop = ~(1 << CAP_NUMBERS["CAP_SYS_RESOURCE"])
        capset(sets.effective & drop, sets.permitted & drop, sets.inheritable & drop)
        proc.set_rlimit("RLIMIT_NOFILE", 10, 20)
        proc.set_rlimit("RLIMIT_NOFILE", 10, 21)

    with pytest.raises(OSError, match="prlimit RLIMIT_NOFILE") as info:
        in_child(child)
    assert info.value.errno == errno.EPERM


@pytest.mark.parametrize(
    ("name", "soft", "hard", "message"),
    [
        ("RLIMIT_BOGUS", 1, 1, "rlimit 'RLIMIT_BOGUS': unknown"),
        ("nofile", 1, 1, "rlimit 'nofile': unknown"),
        ("RLIMIT_NOFILE", 5, 4, "soft limit 5 is above hard limit 4"),
        ("RLIMIT_NOFILE", -1, 4, "-1 is outside"),
        ("RLIMIT_NOFILE", 1, 2**64, "outside 0..2\\*\\*64-1"),
    ],
)
def test_rlimit_bad_input(name: str, soft: int, hard: int, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        proc.set_rlimit(name, soft, hard)


@pytest.mark.parametrize(
    ("keep", "gaps"),
    [
        ((), [(3, 0xFFFFFFFF)]),
        ((0, 1, 2), [(3, 0xFFFFFFFF)]),
        ((3,), [(4, 0xFFFFFFFF)]),
        ((5, 7), [(3, 4), (6, 6), (8, 0xFFFFFFFF)]),
        ((7, 5, 6), [(3, 4), (8, 0xFFFFFFFF)]),
    ],
)
def test_close_range_gaps(keep: tuple[int, ...], gaps: list[tuple[int, int]]) -> None:
    assert proc._gaps(keep) == gaps


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _open_fds() -> set[int]:
    # Probed one by one: listing /proc/self/fd would show the listing's own fd.
    return {fd for fd in range(1024) if _is_open(fd)}


@pytest.mark.parametrize("sweep", [proc.close_fds_except, proc.close_fds_listed])
def test_close_fds_except_closes_all_but_kept(sweep: object) -> None:
    def child() -> tuple[set[int], set[int]]:
        fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(6)]
        fds.append(os.dup2(fds[0], 200, inheritable=True))
        keep = {fds[2], 200}
        sweep({*keep, report_fd()})  # type: ignore[operator]
        return _open_fds() - {report_fd()}, keep

    left, keep = in_child(child)
    assert left == {0, 1, 2} | keep


@pytest.mark.parametrize("sweep", [proc.close_fds_except, proc.close_fds_listed])
def test_close_fds_cloexec_marks_instead_of_closing(sweep: object) -> None:
    def child() -> tuple[bool, bool, bool]:
        leaked = os.open("/dev/null", os.O_RDONLY)
        os.set_inheritable(leaked, True)
        kept = os.open("/dev/null", os.O_RDONLY)
        os.set_inheritable(kept, True)
        sweep({kept, report_fd()}, cloexec=True)  # type: ignore[operator]
        still_open = leaked in _open_fds()
        return still_open, os.get_inheritable(leaked), os.get_inheritable(kept)

    assert in_child(child) == (True, False, True)


def test_close_fds_leaves_no_fd_across_exec(tmp_path: Path) -> None:
    # The CVE-2024-21626 shape: an inheritable directory fd would leak into the program.
    out = tmp_path / "fds"
    pid = os.fork()
    if pid == 0:
        try:
            leaked = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
            os.set_inheritable(leaked, True)
            fd = os.open(str(out), os.O_WRONLY | os.O_CREAT, 0o644)
            os.dup2(fd, 1)
            proc.close_fds_except(cloexec=True)
            os.execv("/bin/ls", ["ls", "/proc/self/fd"])
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # ls sees 0, 1, 2 and its own directory fd (3) only.
    assert sorted(int(x) for x in out.read_text().split()) == [0, 1, 2, 3]
