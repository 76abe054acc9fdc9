"""Containers end to end through the real CLI: ``-it`` through a real pseudo-terminal (typing,
exit code, window size, detach and attach), what a process sees inside (PID 1, its own
processes only, hostname, capabilities, seccomp, masked and read-only /proc paths) and that
``rm -f`` of many running containers leaves nothing on the host."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner
from tests.engine.containers_harness import (
    Box,
    Pty,
    bounding_set,
    boxed,
    proc_status,
    processes_of,
    wait_until,
)

from dockyard.engine.specdefaults import MASKED_PATHS

pytestmark = [pytest.mark.root, pytest.mark.overlay]

DEFAULT_CAPS = 0x00000000A80425FB  # docker's default capability set
DETACH = b"\x10\x11"  # ctrl-p ctrl-q


@pytest.fixture
def box(dockyard: DockyardRunner, busybox_tar: Path) -> Iterator[Box]:
    yield from boxed(dockyard, busybox_tar)


def _pty(box: Box, *args: str, size: tuple[int, int] = (24, 80)) -> Pty:
    return Pty(box.runner.argv(*args), box.runner.env(), size)


def test_run_it_types_into_a_real_terminal(box: Box) -> None:
    term = _pty(box, "run", "-it", "--name", "tty", "busybox", "sh", size=(33, 101))
    try:
        term.expect(b"# ")
        term.send(b"stty size\n")
        term.expect(b"33 101")
        term.send(b"echo hi-$((1+2))\n")
        term.expect(b"hi-3")  # only the shell's arithmetic makes 3: not the typed echo
        term.send(b"tty; exit 5\n")
        assert term.wait() == 5
    finally:
        term.close()
    assert b"/dev/pts/0" in term.output
    assert box.inspect("tty", "{{.State.Status}} {{.State.ExitCode}}") == "exited 5"


def test_detach_with_ctrl_p_ctrl_q_and_attach_again(box: Box) -> None:
    term = _pty(box, "run", "-it", "--name", "away", "busybox", "sh")
    try:
        term.expect(b"# ")
        term.send(b"echo one-$((2+2))\n")
        term.expect(b"one-4")
        term.send(DETACH)
        assert term.wait() == 0
    finally:
        term.close()
    assert box.status("away") == "running"
    again = _pty(box, "attach", "away")
    try:
        # The shell does not know anyone came back: type until its answer shows up.
        wait_until(lambda: _typed(again, b"echo two-$((3+3))\n", b"two-6"), "the attached shell")
        again.send(b"exit 6\n")
        assert again.wait() == 6
    finally:
        again.close()
    assert box.inspect("away", "{{.State.Status}} {{.State.ExitCode}}") == "exited 6"


def _typed(term: Pty, line: bytes, answer: bytes) -> bool:
    term.send(line)
    try:
        term.expect(answer, timeout=0.5)
    except AssertionError:
        return False
    return True


INSIDE = """
echo "pid $$"
echo "host $(hostname)"
ps -o pid,comm > /tmp/ps && sed 1d /tmp/ps | sed 's/^ */ps /'
for p in {masked}; do
    if [ -d $p ]; then echo "masked $p $(ls -A $p | wc -l)"
    elif [ -e $p ]; then echo "masked $p $(cat $p | wc -c)"; fi
done
echo 1 > /proc/sys/kernel/domainname || echo "sysctl-write failed"
echo 1 > /proc/sysrq-trigger || echo "sysrq-write failed"
cat /proc/self/status
""".format(masked=" ".join(MASKED_PATHS))


def test_what_a_container_sees_inside(box: Box) -> None:
    proc = box("run", "--name", "inside", "busybox", "sh", "-c", INSIDE)
    lines = proc.stdout.decode().splitlines()
    words = [line.split() for line in lines]
    cid = box.inspect("inside", "{{.Id}}")
    assert "pid 1" in lines
    assert f"host {cid[:12]}" in lines
    seen = sorted((w[2], w[1]) for w in words if w[0] == "ps")
    assert [comm for comm, _ in seen] == ["ps", "sh"] and seen[1] == ("sh", "1"), seen
    masked = {w[1]: int(w[2]) for w in words if w[0] == "masked"}
    assert masked and set(masked.values()) == {0}, masked
    assert any(_host_has_content(path) for path in masked), "no masked path hides anything here"
    assert {"sysctl-write failed", "sysrq-write failed"} <= set(lines)
    status = proc_status(proc.stdout.decode())
    assert (status["Seccomp"], status["NoNewPrivs"]) == ("2", "1")
    assert int(status["CapEff"], 16) == DEFAULT_CAPS


def _host_has_content(path: str) -> bool:
    p = Path(path)
    try:
        return any(p.iterdir()) if p.is_dir() else bool(p.read_bytes()[:1])
    except OSError:
        return False


@pytest.mark.parametrize(
    ("flags", "caps", "seccomp"),
    [
        ((), DEFAULT_CAPS, "2"),
        (("--privileged",), None, "0"),  # None: every capability we have ourselves
        (("--cap-drop", "ALL"), 0, "2"),
        (("--cap-drop", "ALL", "--cap-add", "NET_ADMIN"), 1 << 12, "2"),
    ],
    ids=["default", "privileged", "cap-drop-all", "only-net-admin"],
)
def test_capabilities_and_seccomp(
    box: Box, flags: tuple[str, ...], caps: int | None, seccomp: str
) -> None:
    status = proc_status(box.out("run", "--rm", *flags, "busybox", "cat", "/proc/self/status"))
    assert int(status["CapEff"], 16) == (bounding_set() if caps is None else caps)
    assert status["Seccomp"] == seccomp


def test_rm_f_of_many_running_containers_leaves_nothing(box: Box) -> None:
    starts = [
        box.popen("run", "-d", "busybox", "sleep", "100", stdout=subprocess.PIPE) for _ in range(20)
    ]
    ids = [p.communicate(timeout=120)[0].decode().strip() for p in starts]
    assert [p.returncode for p in starts] == [0] * 20
    assert sorted(box.ids()) == sorted(ids)
    for cid in ids:  # the monitor and the container's sleep, each
        wait_until(lambda cid=cid: len(processes_of(cid)) == 2, f"{cid[:12]}'s processes")
    assert sorted(box.out("rm", "-f", *ids).split()) == sorted(ids)
    assert box.ids() == []
    assert box.leftovers(ids) == []
