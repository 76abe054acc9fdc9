"""Docker-format seccomp profiles -> the OCI ``linux.seccomp`` of one container.

Owns the default profile (``seccomp_default.json``: moby's ``profiles/seccomp/default.json``,
``github.com/moby/profiles``, verbatim) and the filtering moby's ``setupSeccomp``
(``profiles/seccomp/seccomp_linux.go``) applies to it and to user profiles: ``archMap`` picks
the native architecture and its sub-architectures; a rule is kept only when its ``includes``
(arches, caps in the bounding set, minKernel) all hold and its ``excludes`` do not.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime import Capability
from dockyard.oci.runtime_fields import Fields
from dockyard.oci.runtime_seccomp import Arch, Seccomp, SyscallRule

# Docker's seccomp arch names are Go's GOARCH; OCI image configs use the same names.
GOARCH_TO_SECCOMP: Final = {
    "amd64": Arch.X86_64,
    "386": Arch.X86,
    "arm64": Arch.AARCH64,
    "arm": Arch.ARM,
    "ppc64le": Arch.PPC64LE,
    "s390x": Arch.S390X,
    "riscv64": Arch.RISCV64,
    "mips64": Arch.MIPS64,
    "mips64le": Arch.MIPSEL64,
    "loong64": Arch.LOONGARCH64,
}

_KERNEL = re.compile(r"(\d+)\.(\d+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Filter:
    """A rule's ``includes`` or ``excludes``: every non-empty part must match."""

    arches: tuple[str, ...] = ()
    caps: tuple[str, ...] = ()
    min_kernel: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Rule:
    rule: SyscallRule
    includes: _Filter
    excludes: _Filter


def default_profile_text() -> str:
    """The default profile's JSON text, as shipped in the package."""
    with open(os.path.join(os.path.dirname(__file__), "seccomp_default.json")) as f:
        return f.read()


def _filter(obj: object, where: str) -> _Filter:
    if obj is None:
        return _Filter()
    if not isinstance(obj, dict):
        raise InvalidArgument(f"{where}: want an object")
    kernel = obj.get("minKernel")
    min_kernel = None
    if kernel is not None:
        match = _KERNEL.match(str(kernel))
        if match is None:
            raise InvalidArgument(f'{where}.minKernel: invalid kernel version "{kernel}"')
        min_kernel = (int(match[1]), int(match[2]))
    return _Filter(
        arches=tuple(str(a) for a in obj.get("arches") or ()),
        caps=tuple(str(c) for c in obj.get("caps") or ()),
        min_kernel=min_kernel,
    )


def _rule(obj: object, where: str) -> _Rule:
    if not isinstance(obj, dict):
        raise InvalidArgument(f"{where}: want an object")
    fields = {k: v for k, v in obj.items() if k not in ("includes", "excludes", "comment")}
    if "name" in fields and "names" not in fields:  # the pre-1.12 single-name form
        fields["names"] = [fields.pop("name")]
    return _Rule(
        rule=SyscallRule.from_fields(Fields(fields, where)),
        includes=_filter(obj.get("includes"), f"{where}.includes"),
        excludes=_filter(obj.get("excludes"), f"{where}.excludes"),
    )


def _architectures(doc: dict[str, object], native: Arch | None) -> list[object]:
    arch_map = doc.get("archMap")
    if not arch_map:
        arches = doc.get("architectures") or []
        return list(arches) if isinstance(arches, list) else []
    out: list[object] = []
    for entry in arch_map if isinstance(arch_map, list) else []:
        if isinstance(entry, dict) and native is not None and entry.get("architecture") == native:
            out += [native, *(entry.get("subArchitectures") or [])]
    return out


def _applies(rule: _Rule, goarch: str, caps: Collection[str], kernel: tuple[int, int]) -> bool:
    inc, exc = rule.includes, rule.excludes
    if exc.arches and goarch in exc.arches:
        return False
    if any(c in caps for c in exc.caps):
        return False
    if exc.min_kernel is not None and kernel >= exc.min_kernel:
        return False
    if inc.arches and goarch not in inc.arches:
        return False
    if not all(c in caps for c in inc.caps):
        return False
    return inc.min_kernel is None or kernel >= inc.min_kernel


def build_seccomp(
    profile_text: str,
    *,
    goarch: str,
    capabilities: Sequence[Capability],
    kernel: tuple[int, int],
) -> Seccomp:
    """A Docker-format profile filtered for one container, as moby's ``setupSeccomp`` does.

    Args:
        profile_text: the profile's JSON (the default, or ``--security-opt seccomp=...``).
        goarch: the container's architecture in Go's names (``amd64``, ``arm64`` ...).
        capabilities: the container's bounding set (``includes.caps``/``excludes.caps``).
        kernel: the host kernel's (major, minor), for ``minKernel``.

    Raises:
        InvalidArgument: the text is not a valid profile.
    """
    try:
        doc = json.loads(profile_text)
    except ValueError as err:
        raise InvalidArgument(f"seccomp profile: invalid JSON: {err}") from err
    if not isinstance(doc, dict):
        raise InvalidArgument("seccomp profile: want a JSON object")
    syscalls = doc.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise InvalidArgument("seccomp profile: syscalls: want a list")
    caps = {str(c) for c in capabilities}
    try:
        rules = [_rule(r, f"syscalls[{i}]") for i, r in enumerate(syscalls)]
        oci = {k: v for k, v in doc.items() if k not in ("archMap", "syscalls", "architectures")}
        oci["architectures"] = _architectures(doc, GOARCH_TO_SECCOMP.get(goarch))
        oci["syscalls"] = [r.rule.to_json() for r in rules if _applies(r, goarch, caps, kernel)]
        return Seccomp.from_fields(Fields(oci, "linux.seccomp"))
    except InvalidArgument as err:
        raise InvalidArgument(f"seccomp profile: {err}") from err
