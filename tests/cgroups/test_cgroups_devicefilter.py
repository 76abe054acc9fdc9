"""The eBPF device filter: runc's expected listings, the emulator's refusals, the encoding."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from dockyard.cgroups.devicefilter import build, disassemble, normalize
from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_resources import DeviceRule, DeviceType

TESTDATA = Path(__file__).parent / "testdata" / "devicefilter"
C, B, A = DeviceType.CHAR, DeviceType.BLOCK, DeviceType.ALL


def rule(
    kind: DeviceType, major: int | None, minor: int | None, access: str, allow: bool
) -> DeviceRule:
    return DeviceRule(allow=allow, type=kind, major=major, minor=minor, access=access)


# runc's specconv.AllowedDevices, in runc's test order.
ALLOWED = [
    rule(C, None, None, "m", True),
    rule(B, None, None, "m", True),
    *(rule(C, 1, n, "rwm", True) for n in (3, 8, 7)),
    rule(C, 5, 0, "rwm", True),
    rule(C, 1, 5, "rwm", True),
    rule(C, 1, 9, "rwm", True),
    rule(C, 136, None, "rwm", True),
    rule(C, 5, 2, "rwm", True),
    rule(C, 10, 200, "rwm", True),
]
CASES = {
    "nil": [],
    "builtin_allow_list": ALLOWED,
    "privileged": [rule(A, None, None, "rwm", True)],
    "privileged_except_single_device": [
        rule(A, None, None, "rwm", True),
        rule(B, 8, 0, "rwm", False),
    ],
    "weird": [
        rule(B, 8, 1, "rwm", False),
        rule(A, None, None, "rwm", True),
        rule(B, 8, 2, "rwm", False),
    ],
}


def _normal(listing: str) -> list[str]:
    """runc's test ``hash``: trimmed lines, without blanks and ``//`` comments."""
    lines = (line.strip() for line in listing.splitlines())
    return [line for line in lines if line and not line.startswith("//")]


@pytest.mark.parametrize("case", sorted(CASES))
def test_listing_matches_runc(case: str) -> None:
    expected = (TESTDATA / f"{case}.txt").read_text()
    assert _normal(disassemble(build(CASES[case]))) == _normal(expected)


def _decode(code: bytes) -> list[tuple[int, int, int, int, int]]:
    out = []
    for i in range(0, len(code), 8):
        op, regs, off, imm = struct.unpack_from("<BBhi", code, i)
        out.append((op, regs & 0xF, regs >> 4, off, imm))
    return out


def test_encoding_resolves_jumps() -> None:
    insns = _decode(build(CASES["privileged_except_single_device"]).encode())
    assert len(insns) == 13
    assert insns[0] == (0x61, 2, 1, 0, 0)  # ldxw r2, [r1+0]
    assert insns[1] == (0x54, 2, 0, 0, 0xFFFF)
    assert insns[4] == (0x61, 4, 1, 4, 0)
    # jne r2, 1, +4 / jne r4, 8, +3 / jne r5, 0, +2: all land on insn 11 (block-1)
    assert insns[6] == (0x55, 2, 0, 4, 1)
    assert insns[7] == (0x55, 4, 0, 3, 8)
    assert insns[8] == (0x55, 5, 0, 2, 0)
    assert insns[9] == (0xB4, 0, 0, 0, 0) and insns[10][0] == 0x95
    assert insns[11] == (0xB4, 0, 0, 0, 1) and insns[12][0] == 0x95


def test_access_check_uses_register_jump() -> None:
    insns = _decode(build([rule(C, 1, 3, "rw", True)]).encode())
    assert insns[7] == (0xBC, 1, 3, 0, 0)  # mov32 r1, r3
    assert insns[8] == (0x54, 1, 0, 0, 6)  # and32 r1, READ|WRITE
    assert insns[9] == (0x5D, 1, 3, 4, 0)  # jne r1, r3, +4 -> default block at 14
    assert len(insns) == 16


def test_emulator_merges_and_sorts() -> None:
    default_allow, rules = normalize(
        [
            rule(A, None, None, "rwm", False),
            rule(C, 5, 1, "r", True),
            rule(C, 1, 3, "w", True),
            rule(C, 5, 1, "w", True),
        ]
    )
    assert not default_allow
    assert [(r.major, r.minor, r.perms) for r in rules] == [(1, 3, "w"), (5, 1, "rw")]
    _, after_deny = normalize([rule(C, 1, 3, "rwm", True), rule(C, 1, 3, "w", False)])
    assert [(r.major, r.minor, r.perms) for r in after_deny] == [(1, 3, "rm")]


def test_emulator_refuses_punching_holes_in_wildcards() -> None:
    with pytest.raises(InvalidArgument, match="cannot punch a hole"):
        normalize([rule(C, None, None, "rwm", True), rule(C, 1, 3, "w", False)])


@pytest.mark.parametrize("kind", [DeviceType.FIFO, DeviceType.UNBUFFERED])
def test_non_cgroup_types_refused(kind: DeviceType) -> None:
    with pytest.raises(InvalidArgument, match="not valid in a cgroup"):
        build([rule(kind, 1, 1, "rwm", True)])
