"""Platforms (``linux/arm64/v8``) as the OCI image index and image config describe them.

Architecture names are normalised the way containerd's ``platforms.Normalize`` does
(``x86_64`` -> ``amd64``, ``aarch64`` -> ``arm64``), so matching compares like with like.
"""

from __future__ import annotations

import platform as _host
from dataclasses import dataclass

from dockyard.errors import InvalidArgument
from dockyard.oci import _json
from dockyard.oci._json import JSONObject

# architecture alias -> (architecture, variant implied by the alias or None)
_ARCH_ALIASES: dict[str, tuple[str, str | None]] = {
    "x86_64": ("amd64", None),
    "x86-64": ("amd64", None),
    "amd64": ("amd64", None),
    "aarch64": ("arm64", None),
    "arm64": ("arm64", None),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "armv5l": ("arm", "v5"),
    "armv6l": ("arm", "v6"),
    "armv7l": ("arm", "v7"),
    "armv8l": ("arm", "v8"),
    "arm": ("arm", None),
    "i386": ("386", None),
    "i486": ("386", None),
    "i586": ("386", None),
    "i686": ("386", None),
    "386": ("386", None),
    "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
    "mips64": ("mips64", None),
    "mips64le": ("mips64le", None),
    "loongarch64": ("loong64", None),
    "loong64": ("loong64", None),
}
# The variant an architecture has when none is written.
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}
# On a host of (architecture, variant): the other variants it runs, best first.
_COMPATIBLE = {
    ("arm", "v8"): ("v7", "v6", "v5"),
    ("arm", "v7"): ("v6", "v5"),
    ("arm", "v6"): ("v5",),
}


@dataclass(frozen=True, slots=True)
class Platform:
    """An operating system and CPU architecture.

    Attributes:
        os: ``linux``, ``windows``, ...
        architecture: GOARCH spelling: ``amd64``, ``arm64``, ``arm``, ``386``, ...
        variant: CPU variant (``v7``, ``v8``), or None.
        os_version: the ``os.version`` field (Windows builds), or None.
        os_features: the ``os.features`` field.
    """

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: object, where: str = "platform") -> Platform:
        """Parse the OCI ``platform`` object.

        Raises:
            InvalidArgument: a field is missing or has the wrong type.
        """
        fields = _json.as_object(obj, where)
        return cls(
            os=_json.req_str(fields, "os", where),
            architecture=_json.req_str(fields, "architecture", where),
            variant=_json.opt_str(fields, "variant", where) or None,
            os_version=_json.opt_str(fields, "os.version", where) or None,
            os_features=_json.opt_str_list(fields, "os.features", where) or (),
        )

    def to_json(self) -> dict[str, object]:
        """The OCI ``platform`` object, in the field order Go writes."""
        out: dict[str, object] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    def normalized(self) -> Platform:
        """This platform with architecture aliases resolved and the default variant filled."""
        arch, implied = _ARCH_ALIASES.get(self.architecture.lower(), (self.architecture, None))
        variant = self.variant or implied or _DEFAULT_VARIANT.get(arch)
        if arch == "arm64" and variant == "8":
            variant = "v8"
        return Platform(self.os.lower(), arch, variant, self.os_version, self.os_features)

    def matches(self, other: Platform) -> bool:
        """Whether ``other`` (an image's platform) satisfies ``self`` (the wanted platform).

        OS and architecture must be equal after normalisation (which fills the default variant
        of ``arm`` and ``arm64``); a wanted variant must be equal too, while a wanted platform
        without one accepts any variant.
        """
        want, have = self.normalized(), other.normalized()
        if (want.os, want.architecture) != (have.os, have.architecture):
            return False
        return want.variant is None or want.variant == have.variant

    def __str__(self) -> str:
        parts = [self.os, self.architecture]
        if self.variant:
            parts.append(self.variant)
        return "/".join(parts)


def parse_platform(s: str) -> Platform:
    """Parse ``os/arch[/variant]`` as ``--platform`` takes it (``linux/arm64/v8``).

    A bare architecture (``arm64``) means Linux. The result is normalised.

    Raises:
        InvalidArgument: ``s`` is empty or has more than three parts.
    """
    parts = s.strip().lower().split("/")
    if not all(parts) or len(parts) > 3:
        raise InvalidArgument(f'invalid platform "{s}": expected os/arch[/variant]')
    if len(parts) == 1:
        parts = ["linux", *parts]
    variant = parts[2] if len(parts) == 3 else None
    return Platform(parts[0], parts[1], variant).normalized()


def compatibility(want: Platform, have: Platform | None) -> int | None:
    """How well an image for ``have`` serves a machine or request for ``want``.

    containerd's rules: OS and architecture must be equal after normalisation; a ``want``
    without a variant takes any; an equal variant is exact; an older variant the wanted one
    runs is compatible (an ``arm/v7`` host runs ``v6`` and ``v5`` images).

    Returns:
        0 for an exact match, 1.. for a compatible variant (lower is better), None when an
        image for ``have`` cannot run there (or ``have`` is None).
    """
    if have is None:
        return None
    want, got = want.normalized(), have.normalized()
    if (want.os, want.architecture) != (got.os, got.architecture):
        return None
    if want.variant is None or want.variant == got.variant:
        return 0
    compatible = _COMPATIBLE.get((want.architecture, want.variant), ())
    if got.variant in compatible:
        return 1 + compatible.index(got.variant)
    return None


def host_platform() -> Platform:
    """The platform of this machine (``linux/amd64``, ``linux/arm64/v8``, ``linux/arm/v7``)."""
    machine = _host.machine().lower()
    system = _host.system().lower() or "linux"
    arch, variant = _ARCH_ALIASES.get(machine, (machine, None))
    return Platform(system, arch, variant or _DEFAULT_VARIANT.get(arch))


def platform_from_json(obj: JSONObject, where: str) -> Platform | None:
    """The optional ``platform`` field of ``obj``, or None when absent or null."""
    value = obj.get("platform")
    return None if value is None else Platform.from_json(value, f"{where}: platform")
