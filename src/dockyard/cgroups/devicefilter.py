"""The cgroup v2 device filter: device rules -> an eBPF ``BPF_PROG_TYPE_CGROUP_DEVICE`` program.

Pure. Follows runc's ``libcontainer/cgroups/devices/devicefilter.go`` (itself from crun's
``ebpf.c``) instruction for instruction, so :func:`disassemble` output equals the expected
listings in runc's ``devicefilter_test.go``:

1. The rules go through :func:`normalize`, runc's device-cgroup *emulator*: it replays the
   rules as cgroup v1 would (an ``a`` rule resets to allow-all or deny-all; other rules add or
   remove exceptions) and returns the default and the exceptions sorted by (major, minor,
   type). Like runc, it refuses a deny that would punch a hole in a wildcard allow (v1
   silently ignores those, which would give a false sense of security).
2. The program loads ``bpf_cgroup_dev_ctx`` (access_type u32: type in the low 16 bits, access
   in the high 16; major u32; minor u32) into r2..r5, then one block per exception:
   ``if type != T goto next; [if access & A != access goto next]; [if major != M goto next];
   [if minor != m goto next]; return allow``, and a final ``return default``.

Jumps are kept symbolic (``<block-N>``) until :meth:`Program.encode` resolves them to
offsets; wildcards are -1 in runc's notation and None here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_resources import DeviceRule, DeviceType

LICENSE: Final = "Apache"

# include/uapi/linux/bpf.h
BPF_DEVCG_ACC_MKNOD: Final = 1
BPF_DEVCG_ACC_READ: Final = 2
BPF_DEVCG_ACC_WRITE: Final = 4
BPF_DEVCG_DEV_BLOCK: Final = 1
BPF_DEVCG_DEV_CHAR: Final = 2

_ACCESS: Final = {"r": BPF_DEVCG_ACC_READ, "w": BPF_DEVCG_ACC_WRITE, "m": BPF_DEVCG_ACC_MKNOD}
_ALL_ACCESS: Final = 7
_TYPES: Final = {DeviceType.BLOCK: BPF_DEVCG_DEV_BLOCK, DeviceType.CHAR: BPF_DEVCG_DEV_CHAR}

# opcode, and cilium/ebpf's mnemonic (runc's tests print programs with cilium's String()).
_OPS: Final = {
    "LdXMemW": 0x61,  # BPF_LDX | BPF_MEM | BPF_W
    "AndImm32": 0x54,  # BPF_ALU | BPF_AND | BPF_K
    "RShImm32": 0x74,  # BPF_ALU | BPF_RSH | BPF_K
    "MovImm32": 0xB4,  # BPF_ALU | BPF_MOV | BPF_K
    "MovReg32": 0xBC,  # BPF_ALU | BPF_MOV | BPF_X
    "JNEImm": 0x55,  # BPF_JMP | BPF_JNE | BPF_K
    "JNEReg": 0x5D,  # BPF_JMP | BPF_JNE | BPF_X
    "Exit": 0x95,  # BPF_JMP | BPF_EXIT
}


@dataclass(frozen=True, slots=True, kw_only=True)
class NormalRule:
    """A normalized rule: ``allow`` access ``perms`` to devices of ``type`` major:minor."""

    type: DeviceType
    major: int | None
    minor: int | None
    perms: str
    allow: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Insn:
    """One eBPF instruction; ``target`` is the block a jump goes to, ``label`` the block
    this instruction starts."""

    op: str
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    target: int | None = None
    label: int | None = None

    def text(self) -> str:
        """cilium/ebpf's rendering, e.g. ``JNEImm dst: r2 off: -1 imm: 1 <block-1>``."""
        jump = f" <block-{self.target}>" if self.target is not None else ""
        off = -1 if self.target is not None else self.off
        match self.op:
            case "LdXMemW":
                return f"{self.op} dst: r{self.dst} src: r{self.src} off: {off} imm: {self.imm}"
            case "AndImm32" | "RShImm32" | "MovImm32":
                return f"{self.op} dst: r{self.dst} imm: {self.imm}"
            case "MovReg32":
                return f"{self.op} dst: r{self.dst} src: r{self.src}"
            case "JNEImm":
                return f"{self.op} dst: r{self.dst} off: {off} imm: {self.imm}{jump}"
            case "JNEReg":
                return f"{self.op} dst: r{self.dst} off: {off} src: r{self.src}{jump}"
        return self.op


@dataclass(frozen=True, slots=True)
class Program:
    """A device filter program with symbolic jumps."""

    insns: tuple[Insn, ...]

    def encode(self) -> bytes:
        """The program as ``struct bpf_insn`` bytes (little-endian), jumps resolved."""
        starts = {i.label: n for n, i in enumerate(self.insns) if i.label is not None}
        out = bytearray()
        for n, insn in enumerate(self.insns):
            off = insn.off if insn.target is None else starts[insn.target] - (n + 1)
            regs = (insn.src << 4) | insn.dst
            out += _OPS[insn.op].to_bytes(1, "little") + regs.to_bytes(1, "little")
            out += off.to_bytes(2, "little", signed=True)
            out += insn.imm.to_bytes(4, "little", signed=True)
        return bytes(out)


def disassemble(program: Program) -> str:
    """The listing runc's tests compare: ``block-N:`` labels and ``index: insn`` lines."""
    lines = []
    for n, insn in enumerate(program.insns):
        if insn.label is not None:
            lines.append(f"block-{insn.label}:")
        lines.append(f"{n:>8}: {insn.text()}")
    return "\n".join(lines) + "\n"


def _perm_set(perms: str) -> frozenset[str]:
    return frozenset(perms)


def _perm_str(perms: frozenset[str]) -> str:
    return "".join(c for c in "rwm" if c in perms)


_Key = tuple[DeviceType, int | None, int | None]


class _Emulator:
    """runc's devices emulator: cgroup v1 semantics of a sequence of allow/deny writes."""

    def __init__(self) -> None:
        self.default_allow = False
        self.rules: dict[_Key, frozenset[str]] = {}

    def apply(self, rule: DeviceRule) -> None:
        if rule.kind is DeviceType.ALL:
            self.default_allow, self.rules = rule.allow, {}
            return
        if rule.kind not in _TYPES:
            raise InvalidArgument(f'device rule: type "{rule.kind}" is not valid in a cgroup')
        key: _Key = (rule.kind, rule.major, rule.minor)
        perms = _perm_set(rule.permissions)
        if rule.allow != self.default_allow:
            self.rules[key] = self.rules.get(key, frozenset()) | perms
        else:
            self._remove(key, perms)

    def _remove(self, key: _Key, perms: frozenset[str]) -> None:
        kind, major, minor = key
        for partial in ((kind, None, minor), (kind, major, None), (kind, None, None)):
            if partial != key and self.rules.get(partial, frozenset()) & perms:
                raise InvalidArgument(
                    f"device rule {_describe(key, perms)}: cannot punch a hole in the "
                    f"wildcard rule {_describe(partial, self.rules[partial])}"
                )
        left = self.rules.get(key, frozenset()) - perms
        if left:
            self.rules[key] = left
        else:
            self.rules.pop(key, None)

    def exceptions(self) -> list[NormalRule]:
        def order(key: _Key) -> tuple[int, int, str]:
            kind, major, minor = key
            return (-1 if major is None else major, -1 if minor is None else minor, str(kind))

        return [
            NormalRule(
                type=key[0],
                major=key[1],
                minor=key[2],
                perms=_perm_str(self.rules[key]),
                allow=not self.default_allow,
            )
            for key in sorted(self.rules, key=order)
        ]


def _describe(key: _Key, perms: frozenset[str]) -> str:
    kind, major, minor = key
    majors = "*" if major is None else str(major)
    minors = "*" if minor is None else str(minor)
    return f'"{kind} {majors}:{minors} {_perm_str(perms)}"'


def normalize(rules: Iterable[DeviceRule]) -> tuple[bool, list[NormalRule]]:
    """Replay ``rules`` as cgroup v1 would: (default allow?, sorted exceptions).

    Raises:
        InvalidArgument: a rule has a type a cgroup cannot filter (``u``, ``p``), or would
            punch a hole in a wildcard rule.
    """
    emu = _Emulator()
    for rule in rules:
        emu.apply(rule)
    return emu.default_allow, emu.exceptions()


def _block(block: int, rule: NormalRule) -> list[Insn]:
    access = 0
    for letter in rule.perms:
        access |= _ACCESS[letter]
    nxt = block + 1
    insns = [Insn(op="JNEImm", dst=2, imm=_TYPES[rule.type], target=nxt)]
    if access != _ALL_ACCESS:
        insns += [
            Insn(op="MovReg32", dst=1, src=3),
            Insn(op="AndImm32", dst=1, imm=access),
            Insn(op="JNEReg", dst=1, src=3, target=nxt),
        ]
    if rule.major is not None:
        insns.append(Insn(op="JNEImm", dst=4, imm=_u32_as_s32(rule.major), target=nxt))
    if rule.minor is not None:
        insns.append(Insn(op="JNEImm", dst=5, imm=_u32_as_s32(rule.minor), target=nxt))
    insns += [Insn(op="MovImm32", dst=0, imm=int(rule.allow)), Insn(op="Exit")]
    first = insns[0]
    insns[0] = Insn(op=first.op, dst=first.dst, imm=first.imm, target=first.target, label=block)
    return insns


def _u32_as_s32(value: int) -> int:
    # runc passes int32(major): numbers above 2**31 wrap, as the kernel compares 32 bits.
    return value - 2**32 if value >= 2**31 else value


def build(rules: Iterable[DeviceRule]) -> Program:
    """The device filter program for ``rules`` (the spec's ``linux.resources.devices``).

    Raises:
        InvalidArgument: see :func:`normalize`.
    """
    default_allow, exceptions = normalize(rules)
    insns = [
        Insn(op="LdXMemW", dst=2, src=1, off=0),
        Insn(op="AndImm32", dst=2, imm=0xFFFF),
        Insn(op="LdXMemW", dst=3, src=1, off=0),
        Insn(op="RShImm32", dst=3, imm=16),
        Insn(op="LdXMemW", dst=4, src=1, off=4),
        Insn(op="LdXMemW", dst=5, src=1, off=8),
    ]
    for block, rule in enumerate(exceptions):
        insns += _block(block, rule)
    last = len(exceptions)
    insns += [Insn(op="MovImm32", dst=0, imm=int(default_allow), label=last), Insn(op="Exit")]
    return Program(tuple(insns))
