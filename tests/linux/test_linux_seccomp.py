"""Seccomp: the pure rule planner, and real filters loaded in forked children."""

from __future__ import annotations

import errno
import os
import platform
import signal
from pathlib import Path

import pytest
from tests.linux.forked import ChildDied, in_child

from dockyard.errors import InvalidArgument, Unsupported
from dockyard.linux import seccomp
from dockyard.linux.caps import CAP_NUMBERS, capget, capset
from dockyard.linux.proc import set_no_new_privs
from dockyard.linux.seccomp import SeccompArg, SeccompProfile, SeccompRule
from dockyard.linux.syscalls import syscall

ALLOW = "SCMP_ACT_ALLOW"
ERRNO = "SCMP_ACT_ERRNO"
X86_64 = platform.machine() == "x86_64"


def _deny(
    *names: str, errno_ret: int = errno.EPERM, args: tuple[SeccompArg, ...] = ()
) -> SeccompProfile:
    rule = SeccompRule(names=names, action=ERRNO, errno_ret=errno_ret, args=args)
    return SeccompProfile(default_action=ALLOW, rules=(rule,))


def _status(field: str) -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return line.split(":", 1)[1].strip()
    return ""


def _errno_of(call: object, *args: object) -> int:
    try:
        call(*args)  # type: ignore[operator]
    except OSError as err:
        return err.errno or 0
    return 0


# -- planning (pure) ----------------------------------------------------------------------


def test_actions_carry_errno_and_default_to_eperm() -> None:
    assert seccomp.action_value(ERRNO, None, "x") == 0x50000 | errno.EPERM
    assert seccomp.action_value(ERRNO, 38, "x") == 0x50026
    assert seccomp.action_value("SCMP_ACT_TRACE", 7, "x") == 0x7FF00007
    assert seccomp.action_value("SCMP_ACT_KILL", None, "x") == 0
    assert seccomp.action_value("SCMP_ACT_KILL_THREAD", None, "x") == 0
    assert seccomp.action_value("SCMP_ACT_KILL_PROCESS", None, "x") == 0x80000000
    assert seccomp.action_value("SCMP_ACT_TRAP", None, "x") == 0x30000
    assert seccomp.action_value("SCMP_ACT_LOG", None, "x") == 0x7FFC0000
    assert seccomp.action_value(ALLOW, 5, "x") == 0x7FFF0000


def test_rules_equal_to_the_default_are_skipped() -> None:
    profile = SeccompProfile(
        default_action=ERRNO,
        default_errno_ret=1,
        rules=(
            SeccompRule(names=("mkdir",), action=ERRNO),  # EPERM == default: skipped
            SeccompRule(names=("rmdir",), action=ERRNO, errno_ret=2),
            SeccompRule(names=("read", "write"), action=ALLOW),
        ),
    )
    planned = [(c.name, c.action) for c in seccomp.plan_rules(profile)]
    assert planned == [("rmdir", 0x50002), ("read", 0x7FFF0000), ("write", 0x7FFF0000)]


def test_conditions_on_distinct_args_stay_in_one_rule() -> None:
    a0 = SeccompArg(index=0, value=1, op="SCMP_CMP_EQ")
    a1 = SeccompArg(index=1, value=2, op="SCMP_CMP_NE")
    calls = seccomp.plan_rules(_deny("kill", args=(a0, a1)))
    assert [c.conditions for c in calls] == [(a0, a1)]


def test_repeated_arg_index_splits_every_condition() -> None:
    # runc's matchCall: one repeat makes every condition a rule of its own (ORed).
    a0 = SeccompArg(index=0, value=8, op="SCMP_CMP_EQ")
    b0 = SeccompArg(index=0, value=0x20000, op="SCMP_CMP_EQ")
    c1 = SeccompArg(index=1, value=3, op="SCMP_CMP_GT")
    calls = seccomp.plan_rules(_deny("personality", "x", args=(a0, b0, c1)))
    assert [(c.name, c.conditions) for c in calls] == [
        ("personality", (a0,)),
        ("personality", (b0,)),
        ("personality", (c1,)),
        ("x", (a0,)),
        ("x", (b0,)),
        ("x", (c1,)),
    ]


@pytest.mark.parametrize(
    ("profile", "error", "message"),
    [
        (
            SeccompProfile(default_action="SCMP_ACT_NOPE"),
            InvalidArgument,
            "defaultAction 'SCMP_ACT_NOPE'",
        ),
        (SeccompProfile(default_action="SCMP_ACT_NOTIFY"), Unsupported, "notify"),
        (
            SeccompProfile(
                default_action=ALLOW, rules=(SeccompRule(names=("a",), action="allow"),)
            ),
            InvalidArgument,
            r"syscalls\[0\] action 'allow': unknown action",
        ),
        (
            _deny("a", args=(SeccompArg(index=6, value=0, op="SCMP_CMP_EQ"),)),
            InvalidArgument,
            r"syscalls\[0\] args\[0\] index 6",
        ),
        (
            _deny("a", args=(SeccompArg(index=0, value=0, op="SCMP_CMP_LIKE"),)),
            InvalidArgument,
            "op 'SCMP_CMP_LIKE': unknown operator",
        ),
        (
            _deny("a", args=(SeccompArg(index=0, value=2**64, op="SCMP_CMP_EQ"),)),
            InvalidArgument,
            "outside 0..2",
        ),
        (_deny("a", errno_ret=70000), InvalidArgument, "errnoRet 70000"),
        (
            SeccompProfile(
                default_action=ALLOW, rules=(SeccompRule(names=("a",), action="SCMP_ACT_NOTIFY"),)
            ),
            Unsupported,
            r"syscalls\[0\] action SCMP_ACT_NOTIFY",
        ),
    ],
)
def test_bad_profiles_name_the_field(
    profile: SeccompProfile, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        seccomp.plan_rules(profile)


def test_filter_flags() -> None:
    flags = (
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    )
    assert seccomp.filter_flags(flags) == 7
    assert seccomp.filter_flags(()) == 0
    with pytest.raises(InvalidArgument, match="seccomp flag 'SECCOMP_FILTER_FLAG_FOO': unknown"):
        seccomp.filter_flags(("SECCOMP_FILTER_FLAG_FOO",))


@pytest.mark.parametrize(
    ("arch", "name"),
    [
        ("SCMP_ARCH_X86_64", "x86_64"),
        ("SCMP_ARCH_AARCH64", "aarch64"),
        ("SCMP_ARCH_MIPSEL64N32", "mipsel64n32"),
        ("x86_64", ""),
    ],
)
def test_arch_names(arch: str, name: str) -> None:
    assert seccomp.arch_name(arch) == name


# -- building with libseccomp -------------------------------------------------------------


def test_unknown_syscall_names_are_skipped() -> None:
    with seccomp.build_filter(_deny("mkdir", "no_such_syscall", "mkdir")) as built:
        assert built.skipped == ("no_such_syscall",)
        assert len(built.export_bpf()) > 0


def test_unknown_architecture_is_refused() -> None:
    profile = SeccompProfile(default_action=ALLOW, architectures=("SCMP_ARCH_VAX",))
    with pytest.raises(
        InvalidArgument, match="architecture 'SCMP_ARCH_VAX': unknown to libseccomp"
    ):
        seccomp.build_filter(profile)


@pytest.mark.skipif(not X86_64, reason="x86_64 compat architectures")
def test_compat_architectures_grow_the_program() -> None:
    native = SeccompProfile(default_action=ALLOW, rules=_deny("mkdir").rules)
    multi = SeccompProfile(
        default_action=ALLOW,
        architectures=("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
        rules=native.rules,
    )
    with seccomp.build_filter(native) as one, seccomp.build_filter(multi) as three:
        assert len(three.export_bpf()) > len(one.export_bpf())


def test_export_is_whole_instructions_and_release_is_idempotent() -> None:
    built = seccomp.build_filter(_deny("mkdir", "mkdirat"))
    program = built.export_bpf()
    assert program and len(program) % 8 == 0
    built.release()
    built.release()
    with pytest.raises(ValueError, match="released"):
        built.export_bpf()


@pytest.mark.parametrize("size", [0, 7, 8 * 4097])
def test_load_bpf_rejects_malformed_programs(size: int) -> None:
    with pytest.raises(InvalidArgument, match="seccomp program"):
        seccomp.load_bpf(bytes(size))


# -- loading in a child -------------------------------------------------------------------


def _mkdir_probe(tmp_path: Path) -> tuple[int, int, bool, str]:
    denied = _errno_of(os.mkdir, str(tmp_path / "x"))
    created = _errno_of(os.open, str(tmp_path / "f"), os.O_CREAT | os.O_WRONLY, 0o644)
    return denied, created, os.getpid() > 0, _status("Seccomp")


def test_errno_rule_denies_mkdir_only(tmp_path: Path) -> None:
    def child() -> tuple[int, int, bool, str]:
        with seccomp.build_filter(_deny("mkdir", "mkdirat")) as built:
            built.load()
        return _mkdir_probe(tmp_path)

    assert in_child(child) == (errno.EPERM, 0, True, "2")
    assert not (tmp_path / "x").exists()
    os.mkdir(tmp_path / "x")  # the test process is unfiltered


def test_exported_program_loads_with_seccomp_syscall(tmp_path: Path) -> None:
    with seccomp.build_filter(_deny("mkdir", "mkdirat")) as built:
        program, flags = built.export_bpf(), built.flags

    def child() -> tuple[int, int, bool, str]:
        seccomp.load_bpf(program, flags)
        return _mkdir_probe(tmp_path)

    assert in_child(child) == (errno.EPERM, 0, True, "2")


def test_clone3_gets_enosys_like_docker() -> None:
    def child() -> tuple[int, int]:
        before = _errno_of(syscall, "clone3", 0, 0)
        with seccomp.build_filter(_deny("clone3", errno_ret=errno.ENOSYS)) as built:
            built.load()
        return before, _errno_of(syscall, "clone3", 0, 0)

    assert in_child(child) == (errno.EINVAL, errno.ENOSYS)


def test_masked_eq_denies_only_creating_opens(tmp_path: Path) -> None:
    (tmp_path / "exists").write_text("data")
    creat = SeccompArg(index=1, value=os.O_CREAT, value_two=os.O_CREAT, op="SCMP_CMP_MASKED_EQ")
    # open(path, flags) has flags in arg 1; openat(dirfd, path, flags) in arg 2.
    open_rule = SeccompRule(names=("open",), action=ERRNO, errno_ret=errno.EROFS, args=(creat,))
    at = SeccompArg(index=2, value=os.O_CREAT, value_two=os.O_CREAT, op="SCMP_CMP_MASKED_EQ")
    openat_rule = SeccompRule(names=("openat",), action=ERRNO, errno_ret=errno.EROFS, args=(at,))
    profile = SeccompProfile(default_action=ALLOW, rules=(open_rule, openat_rule))

    def child() -> tuple[str, int]:
        with seccomp.build_filter(profile) as built:
            built.load()
        text = (tmp_path / "exists").read_text()
        return text, _errno_of(os.open, str(tmp_path / "new"), os.O_CREAT | os.O_WRONLY, 0o644)

    assert in_child(child) == ("data", errno.EROFS)


def test_conditions_on_two_args_are_anded() -> None:
    who = SeccompArg(index=0, value=os.PRIO_PROCESS, op="SCMP_CMP_EQ")
    pid = SeccompArg(index=1, value=999_999, op="SCMP_CMP_EQ")

    def child() -> tuple[int, int, int]:
        with seccomp.build_filter(
            _deny("getpriority", errno_ret=errno.EACCES, args=(who, pid))
        ) as built:
            built.load()
        return (
            _errno_of(os.getpriority, os.PRIO_PROCESS, 999_999),
            _errno_of(os.getpriority, os.PRIO_PGRP, 999_999),
            _errno_of(os.getpriority, os.PRIO_PROCESS, 0),
        )

    assert in_child(child) == (errno.EACCES, errno.ESRCH, 0)


def test_repeated_index_conditions_are_ored() -> None:
    first = SeccompArg(index=1, value=999_998, op="SCMP_CMP_EQ")
    second = SeccompArg(index=1, value=999_999, op="SCMP_CMP_EQ")

    def child() -> list[int]:
        with seccomp.build_filter(
            _deny("getpriority", errno_ret=errno.EACCES, args=(first, second))
        ) as built:
            built.load()
        return [
            _errno_of(os.getpriority, os.PRIO_PROCESS, pid) for pid in (999_998, 999_999, 999_997)
        ]

    assert in_child(child) == [errno.EACCES, errno.EACCES, errno.ESRCH]


def test_kill_process_action_kills_with_sigsys() -> None:
    rule = SeccompRule(names=("getppid",), action="SCMP_ACT_KILL_PROCESS")
    profile = SeccompProfile(default_action=ALLOW, rules=(rule,))

    def child() -> int:
        with seccomp.build_filter(profile) as built:
            built.load()
        return os.getppid()

    with pytest.raises(ChildDied) as info:
        in_child(child)
    assert info.value.signal == signal.SIGSYS


def test_tsync_flag_loads() -> None:
    profile = SeccompProfile(
        default_action=ALLOW, flags=("SECCOMP_FILTER_FLAG_TSYNC",), rules=_deny("mkdir").rules
    )

    def child() -> tuple[int, str]:
        with seccomp.build_filter(profile) as built:
            flags = built.flags
            built.load()
        return flags, _status("Seccomp_filters")

    assert in_child(child) == (1, "1")


@pytest.mark.root
def test_loading_needs_no_new_privs_without_cap_sys_admin() -> None:
    with seccomp.build_filter(_deny("mkdir")) as built:
        program = built.export_bpf()

    def drop_sys_admin() -> None:
        sets = capget()
        drop = ~(1 << CAP_NUMBERS["CAP_SYS_ADMIN"])
        capset(sets.effective & drop, sets.permitted & drop, sets.inheritable & drop)

    def refused() -> None:
        drop_sys_admin()
        seccomp.load_bpf(program)

    def allowed() -> str:
        drop_sys_admin()
        set_no_new_privs()
        seccomp.load_bpf(program)
        return _status("Seccomp")

    with pytest.raises(OSError, match="seccomp load") as info:
        in_child(refused)
    assert info.value.errno == errno.EACCES
    assert in_child(allowed) == "2"


def test_allow_list_with_errno_default(tmp_path: Path) -> None:
    # Docker's shape: everything not listed fails with EPERM. The child may only write its
    # answer and exit, so it runs outside in_child.
    allowed = ("write", "exit", "exit_group", "rt_sigreturn", "getpid", "brk", "mmap", "munmap")
    profile = SeccompProfile(
        default_action=ERRNO,
        default_errno_ret=errno.EPERM,
        rules=(SeccompRule(names=allowed, action=ALLOW),),
    )
    with seccomp.build_filter(profile) as built:
        program = built.export_bpf()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            seccomp.load_bpf(program)
            results = (os.getpid() > 0, _errno_of(os.getcwd), _errno_of(os.uname))
            os.write(write_fd, repr(results).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    answer = os.read(read_fd, 100).decode()
    os.close(read_fd)
    os.waitpid(pid, 0)
    assert answer == f"(True, {errno.EPERM}, {errno.EPERM})"
