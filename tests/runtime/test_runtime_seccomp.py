"""runtime.seccomp: the spec's linux.seccomp -> linux SeccompProfile -> BPF bytes."""

from __future__ import annotations

import errno
import os

import pytest
from tests.linux.forked import in_child
from tests.runtime.test_runtime_process_harness import seccomp_profile

from dockyard.errors import InvalidArgument, Unsupported
from dockyard.linux.proc import set_no_new_privs
from dockyard.linux.seccomp import SeccompArg, SeccompProfile, SeccompRule, load_bpf
from dockyard.runtime.seccomp import compile_seccomp, load_flags, to_profile

DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 0x40000, "op": "SCMP_CMP_EQ"}],
        },
        {
            "names": ["unshare"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 13,
            "args": [
                {
                    "index": 0,
                    "value": 0x10000000,
                    "valueTwo": 0x10000000,
                    "op": "SCMP_CMP_MASKED_EQ",
                }
            ],
        },
    ],
}


def test_to_profile_carries_every_field() -> None:
    assert to_profile(seccomp_profile(DENY_MKDIR)) == SeccompProfile(
        default_action="SCMP_ACT_ALLOW",
        architectures=("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
        flags=("SECCOMP_FILTER_FLAG_LOG",),
        rules=(
            SeccompRule(names=("mkdir", "mkdirat"), action="SCMP_ACT_ERRNO"),
            SeccompRule(names=("clone3",), action="SCMP_ACT_ERRNO", errno_ret=38),
            SeccompRule(
                names=("personality",),
                action="SCMP_ACT_ERRNO",
                args=(SeccompArg(index=0, value=0x40000, op="SCMP_CMP_EQ"),),
            ),
            SeccompRule(
                names=("unshare",),
                action="SCMP_ACT_ERRNO",
                errno_ret=13,
                args=(
                    SeccompArg(
                        index=0, value=0x10000000, value_two=0x10000000, op="SCMP_CMP_MASKED_EQ"
                    ),
                ),
            ),
        ),
    )


@pytest.mark.parametrize(
    ("flags", "bits"),
    [
        ([], 0),
        (["SECCOMP_FILTER_FLAG_TSYNC"], 1),
        (["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"], 6),
        (["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"], 0),  # a listener flag: not for the kernel
    ],
)
def test_load_flags(flags: list[str], bits: int) -> None:
    profile = seccomp_profile({"defaultAction": "SCMP_ACT_ALLOW", "flags": flags})
    assert load_flags(profile) == bits
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" not in to_profile(profile).flags


def test_no_seccomp_compiles_to_nothing() -> None:
    assert compile_seccomp(None) is None
    assert load_flags(None) == 0


def test_compiled_program_is_whole_instructions_and_depends_on_the_rules() -> None:
    program = compile_seccomp(seccomp_profile(DENY_MKDIR))
    assert program is not None
    assert len(program) % 8 == 0
    assert program == compile_seccomp(seccomp_profile(DENY_MKDIR))
    fewer = dict(DENY_MKDIR, syscalls=DENY_MKDIR["syscalls"][:1])  # type: ignore[index]
    assert compile_seccomp(seccomp_profile(fewer)) != program


def test_unknown_syscall_names_are_skipped() -> None:
    known = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": DENY_MKDIR["syscalls"][:1]}  # type: ignore[index]
    extra = {"names": ["no_such_syscall_here"], "action": "SCMP_ACT_ERRNO"}
    with_unknown = dict(known, syscalls=[*known["syscalls"], extra])  # type: ignore[misc]
    assert compile_seccomp(seccomp_profile(with_unknown)) == compile_seccomp(seccomp_profile(known))


@pytest.mark.parametrize(
    ("obj", "error", "match"),
    [
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}],
            },
            Unsupported,
            r"syscalls\[0\] action SCMP_ACT_NOTIFY",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}],
            },
            InvalidArgument,
            r"syscalls\[0\].*errnoRet 70000",
        ),
        (
            {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 65536},
            InvalidArgument,
            r"defaultAction.*errnoRet 65536",
        ),
    ],
)
def test_compile_errors_name_the_entry(obj: dict[str, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        compile_seccomp(seccomp_profile(obj))


def test_program_loads_and_denies_in_a_child(tmp_path: os.PathLike[str]) -> None:
    program = compile_seccomp(seccomp_profile(DENY_MKDIR))
    assert program is not None
    target = os.path.join(tmp_path, "d")

    def child() -> tuple[int, bool]:
        set_no_new_privs()  # lets an unprivileged process load a filter too
        load_bpf(program, load_flags(seccomp_profile(DENY_MKDIR)))
        try:
            os.mkdir(target)
        except OSError as err:
            return err.errno or 0, os.path.exists(target)
        return 0, True

    assert in_child(child) == (errno.EPERM, False)
