"""The seccomp filter as the exec'd container process meets it: mode, denials, errno values,
argument conditions, and when it is loaded relative to the capability drop."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest
from tests.runtime.test_runtime_process_harness import (
    WAIT_SCRIPT,
    caps,
    process,
    run,
    seccomp_profile,
    sh,
)
from tests.runtime.test_runtime_seccomp import DENY_MKDIR

from dockyard.linux.caps import capget, capset
from dockyard.runtime.child import SetupFailed

pytestmark = pytest.mark.root

# Run in the exec'd process: the errno of each raw syscall (0 when it succeeded).
PROBE = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(*args):
    ctypes.set_errno(0)
    ret = libc.syscall(*[ctypes.c_long(a) for a in args])
    return ctypes.get_errno() if ret == -1 else 0
print(call(435, 0, 0))            # clone3(NULL, 0)
print(call(135, 0xffffffff))      # personality(query)
print(call(135, 0x40000))         # personality(ADDR_NO_RANDOMIZE)
print(call(135, 0))               # personality(PER_LINUX)
print(call(272, 0x10000000))      # unshare(CLONE_NEWUSER)
print(call(272, 0x04000000))      # unshare(CLONE_NEWUTS)
"""


@pytest.mark.parametrize("nnp", [True, False])
def test_seccomp_mode_is_filter(nnp: bool) -> None:
    outcome = run(sh(WAIT_SCRIPT, nnp=nnp), seccomp=seccomp_profile(DENY_MKDIR), inspect=True)
    assert outcome.error is None
    assert outcome.status["Seccomp"] == "2"
    assert outcome.status["NoNewPrivs"] == ("1" if nnp else "0")


@pytest.mark.parametrize(("nnp", "uid"), [(True, 0), (False, 0), (True, 1000), (False, 1000)])
def test_denied_mkdir_gets_eperm_and_the_rest_works(nnp: bool, uid: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:  # pytest's tmp_path is not open to uid 1000
        os.chmod(tmp, 0o777)
        _mkdir_denied(Path(tmp), nnp=nnp, uid=uid)


def _mkdir_denied(tmp_path: Path, *, nnp: bool, uid: int) -> None:
    script = f"busybox mkdir {tmp_path}/d; echo rc=$?; busybox touch {tmp_path}/f && echo ok"
    outcome = run(sh(script, nnp=nnp, uid=uid), seccomp=seccomp_profile(DENY_MKDIR))
    assert outcome.error is None
    assert "Operation not permitted" in outcome.output
    assert "rc=1\nok\n" in outcome.output
    assert not (tmp_path / "d").exists()
    assert (tmp_path / "f").exists()


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (None, ["22", "0", "0", "0", "0", "0"]),
        # clone3 -> ENOSYS (Docker's rule); personality 0x40000 -> EPERM, other values pass;
        # unshare with CLONE_NEWUSER (masked) -> EACCES, other flags pass.
        (DENY_MKDIR, ["38", "0", "1", "0", "13", "0"]),
    ],
)
def test_errno_values_and_argument_conditions(
    profile: dict[str, object] | None, expected: list[str]
) -> None:
    seccomp = None if profile is None else seccomp_profile(profile)
    all_caps = caps(["CAP_SYS_ADMIN"])  # so unshare(CLONE_NEWUTS) may succeed
    proc = process([sys.executable, "-S", "-c", PROBE], capabilities=all_caps, nnp=True)
    outcome = run(proc, seccomp=seccomp)
    assert outcome.error is None
    assert outcome.output.split() == expected


DENY_CAPSET = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["capset"], "action": "SCMP_ACT_ERRNO"}],
}


@pytest.mark.parametrize(
    ("nnp", "names", "loaded_late"),
    [
        # With no_new_privs the filter goes on last: capset has already run.
        (True, None, True),
        # Without it, loading needs CAP_SYS_ADMIN, which Docker's set lacks: so it goes on
        # before the capabilities are dropped, and the capset after it is denied.
        (False, None, False),
        # ... unless the final set keeps CAP_SYS_ADMIN: then it can wait until the end.
        (False, ["CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID"], True),
    ],
)
def test_filter_load_order(nnp: bool, names: list[str] | None, loaded_late: bool) -> None:
    capabilities = caps() if names is None else caps(names)
    proc = sh("echo hi", uid=1000, nnp=nnp, capabilities=capabilities)
    outcome = run(proc, seccomp=seccomp_profile(DENY_CAPSET))
    if loaded_late:
        assert (outcome.error, outcome.output) == (None, "hi\n")
    else:
        assert isinstance(outcome.error, SetupFailed)
        assert outcome.error.message.startswith("capset")
        assert outcome.exit_code == 1


def test_seccomp_without_privilege_to_load_it_fails_cleanly() -> None:
    # Neither no_new_privs nor CAP_SYS_ADMIN at load time: the kernel refuses (EACCES).
    def drop_sys_admin() -> list[int]:
        now = capget()
        mask = ~(1 << 21)
        capset(now.effective & mask, now.permitted & mask, now.inheritable & mask)
        return []

    proc = sh("echo hi")
    outcome = run(proc, seccomp=seccomp_profile(DENY_CAPSET), before=drop_sys_admin)
    assert isinstance(outcome.error, SetupFailed)
    assert outcome.error.message == "linux.seccomp: load filter: permission denied"
