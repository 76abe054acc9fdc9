"""Typed Dockerfile instructions: one frozen dataclass per instruction, made from a
:class:`~dockyard.build.dockerfile.nodes.Node` by
:func:`~dockyard.build.dockerfile.instruction_parse.parse_instruction`.

The types follow BuildKit's ``frontend/dockerfile/instructions`` (``commands.go``). Every
instruction keeps its ``node`` (position and source) for diagnostics.

Words and expansion. The fields that Docker expands (ADD, ARG defaults, COPY, ENV, EXPOSE,
FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, and the options of ``RUN --mount``) hold the
words *as written* — quotes, escapes and ``$var`` references intact — until
:func:`expand` (called by :func:`~dockyard.build.dockerfile.stages.plan` with the stage's
variables in scope) returns a copy with those fields expanded and unquoted. RUN, CMD and
ENTRYPOINT in shell form are never expanded here: the shell expands them; their exec forms and
SHELL, HEALTHCHECK and ONBUILD are literal.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from dockyard._util.units import ram_in_bytes
from dockyard.build.dockerfile.nodes import Diagnostic, DockerfileError, Heredoc, Node
from dockyard.errors import Unsupported
from dockyard.oci.containerconfig import HealthConfig

__all__ = [
    "Add",
    "Arg",
    "ArgDecl",
    "Cmd",
    "CommandLine",
    "Copy",
    "DockerfileUnsupported",
    "Entrypoint",
    "Env",
    "Expose",
    "From",
    "Healthcheck",
    "Instruction",
    "KeyValue",
    "Label",
    "Maintainer",
    "Mount",
    "MountType",
    "NetworkMode",
    "Onbuild",
    "Run",
    "Sharing",
    "Shell",
    "SourceContent",
    "Stopsignal",
    "User",
    "Volume",
    "Workdir",
    "diagnostic",
    "error_at",
    "expand",
    "parse_mount",
    "unsupported_at",
]


class DockerfileUnsupported(Unsupported):
    """The Dockerfile asks for something dockyard does not support (``RUN --security``,
    ``ADD --keep-git-dir``); ``diagnostic`` says where, like
    :class:`~dockyard.build.dockerfile.nodes.DockerfileError` does for invalid input."""

    def __init__(self, diagnostic: Diagnostic, *, filename: str = "Dockerfile") -> None:
        super().__init__(diagnostic.render(filename))
        self.diagnostic = diagnostic
        self.filename = filename


def diagnostic(node: Node, message: str, hint: str = "", *, severity: str = "error") -> Diagnostic:
    """A diagnostic pointing at ``node``'s first line."""
    line = node.source.split("\n", 1)[0].rstrip("\r")
    return Diagnostic(
        severity=severity, position=node.position, message=message, line=line, hint=hint
    )


def error_at(node: Node, message: str, hint: str = "") -> DockerfileError:
    """The error to raise for an invalid instruction."""
    return DockerfileError(diagnostic(node, message, hint))


def unsupported_at(node: Node, message: str, hint: str = "") -> DockerfileUnsupported:
    """The error to raise for an instruction feature dockyard does not support."""
    return DockerfileUnsupported(diagnostic(node, message, hint))


class MountType(StrEnum):
    """``RUN --mount=type=...``."""

    BIND = "bind"
    CACHE = "cache"
    TMPFS = "tmpfs"
    SECRET = "secret"


class Sharing(StrEnum):
    """``sharing=`` of a cache mount."""

    SHARED = "shared"
    PRIVATE = "private"
    LOCKED = "locked"


class NetworkMode(StrEnum):
    """``RUN --network=...``."""

    DEFAULT = "default"
    NONE = "none"
    HOST = "host"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyValue:
    """One ``key=value`` of ENV or LABEL (as written until expanded)."""

    key: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ArgDecl:
    """One declaration of ARG: ``name`` or ``name=default`` (``default`` None when absent)."""

    name: str
    default: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandLine:
    """The command of RUN, CMD or ENTRYPOINT.

    Attributes:
        argv: the exec form's words, or ``(text,)`` for the shell form.
        prepend_shell: True for the shell form (run ``SHELL + [text]``).
    """

    argv: tuple[str, ...]
    prepend_shell: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    """One ``RUN --mount``, BuildKit's ``Mount`` with Docker's documented defaults filled in.

    Attributes:
        type: bind (default), cache, tmpfs or secret.
        target: where it is mounted (relative: under the working directory). For secrets it
            defaults to ``/run/secrets/<id>``.
        source: path in ``from`` (bind, cache) or the secret's source.
        from_: a stage name, stage index or image for bind/cache; ``""`` is the build context
            (bind) or an empty directory (cache).
        id: the cache's id (defaults to ``target``) or the secret's id (defaults to the base
            name of ``target``).
        sharing: cache sharing mode (shared when not written).
        mode, uid, gid: file mode and owner of a cache or secret (None: default).
        required: a secret that must be provided.
        readonly: bind mounts default to read-only, the others to writable.
        size: tmpfs size limit in bytes (None: unlimited).
        spec: the ``--mount`` value as written.
    """

    type: MountType = MountType.BIND
    target: str = ""
    source: str = ""
    from_: str = ""
    id: str = ""
    sharing: Sharing = Sharing.SHARED
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    required: bool = False
    readonly: bool = False
    size: int | None = None
    spec: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceContent:
    """A here-document used as a COPY/ADD source (``COPY <<EOF /dest``).

    ``expand`` is False when the heredoc name was quoted (the body is then literal).
    """

    path: str
    data: str
    expand: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class From:
    """``FROM [--platform=p] image [AS name]``; ``name`` is lower-cased ("" when unnamed)."""

    node: Node
    image: str
    name: str = ""
    platform: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """``RUN [--mount=...] [--network=...] command``; ``heredocs`` are the here-documents the
    shell form opened (their bodies are fed to the shell by the builder)."""

    node: Node
    command: CommandLine
    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[Mount, ...] = ()
    network: NetworkMode = NetworkMode.DEFAULT


@dataclass(frozen=True, slots=True, kw_only=True)
class Cmd:
    """``CMD command``."""

    node: Node
    command: CommandLine


@dataclass(frozen=True, slots=True, kw_only=True)
class Entrypoint:
    """``ENTRYPOINT command`` (``ENTRYPOINT []`` has an empty ``argv``)."""

    node: Node
    command: CommandLine


@dataclass(frozen=True, slots=True, kw_only=True)
class Label:
    """``LABEL k=v ...`` (``legacy``: the old ``LABEL k v`` form)."""

    node: Node
    labels: tuple[KeyValue, ...]
    legacy: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Expose:
    """``EXPOSE 80 443/tcp``: the port words (one word may expand to several)."""

    node: Node
    ports: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Env:
    """``ENV k=v ...`` (``legacy``: the old ``ENV k v`` form)."""

    node: Node
    pairs: tuple[KeyValue, ...]
    legacy: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Add:
    """``ADD [--chown --chmod --checksum --link --exclude] src... dest``."""

    node: Node
    sources: tuple[str, ...]
    dest: str
    contents: tuple[SourceContent, ...] = ()
    chown: str = ""
    chmod: str = ""
    checksum: str = ""
    link: bool = False
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Copy:
    """``COPY [--from --chown --chmod --link --parents --exclude] src... dest``."""

    node: Node
    sources: tuple[str, ...]
    dest: str
    contents: tuple[SourceContent, ...] = ()
    from_: str = ""
    chown: str = ""
    chmod: str = ""
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Volume:
    """``VOLUME /a /b`` or ``VOLUME ["/a", "/b"]``."""

    node: Node
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """``USER name[:group]``."""

    node: Node
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Workdir:
    """``WORKDIR path``."""

    node: Node
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Arg:
    """``ARG a b=default ...``."""

    node: Node
    args: tuple[ArgDecl, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Onbuild:
    """``ONBUILD <trigger>``: ``expression`` is the trigger's text as the image config stores
    it; ``trigger`` is that text parsed (never expanded until it runs in a child build)."""

    node: Node
    expression: str
    trigger: Instruction


@dataclass(frozen=True, slots=True, kw_only=True)
class Stopsignal:
    """``STOPSIGNAL signal``."""

    node: Node
    signal: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Healthcheck:
    """``HEALTHCHECK NONE`` or ``HEALTHCHECK [--interval ...] CMD command``."""

    node: Node
    health: HealthConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class Shell:
    """``SHELL ["executable", "parameters"]``."""

    node: Node
    shell: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Maintainer:
    """``MAINTAINER name`` (deprecated: :func:`~.stages.plan` warns)."""

    node: Node
    maintainer: str


Instruction = (
    From
    | Run
    | Cmd
    | Entrypoint
    | Label
    | Expose
    | Env
    | Add
    | Copy
    | Volume
    | User
    | Workdir
    | Arg
    | Onbuild
    | Stopsignal
    | Healthcheck
    | Shell
    | Maintainer
)

# one word -> one word (quotes removed, variables replaced)
WordExpander = Callable[[str], str]
# one word -> the fields it splits into (EXPOSE)
WordsExpander = Callable[[str], list[str]]
# a RUN --mount spec -> the mount with its options expanded
MountExpander = Callable[[Mount], Mount]


def expand(
    instruction: Instruction,
    word: WordExpander,
    words: WordsExpander,
    mount: MountExpander,
) -> Instruction:
    """A copy of ``instruction`` with the fields Docker expands expanded.

    Args:
        instruction: as :func:`parse_instruction` made it.
        word: expands one word (processes quotes and escapes, substitutes variables).
        words: expands one word into fields (for EXPOSE, where ``$PORTS`` may be ``80 443``).
        mount: re-parses one RUN mount with its options expanded.

    Returns:
        The expanded copy; instructions Docker does not expand are returned unchanged
        (ARG is expanded by the stage planner itself: its defaults use the scope it builds).

    Raises:
        whatever the expanders raise (a malformed ``${...}``, ``${x:?error}``).
    """
    replace = dataclasses.replace
    match instruction:
        case From():
            return replace(
                instruction,
                image=word(instruction.image),
                platform=_opt(word, instruction.platform),
            )
        case Env():
            return replace(instruction, pairs=_pairs(word, instruction.pairs))
        case Label():
            return replace(instruction, labels=_pairs(word, instruction.labels))
        case Add():
            return replace(
                instruction,
                sources=tuple(map(word, instruction.sources)),
                dest=word(instruction.dest),
                chown=_opt(word, instruction.chown),
                chmod=_opt(word, instruction.chmod),
                checksum=_opt(word, instruction.checksum),
                exclude=tuple(map(word, instruction.exclude)),
            )
        case Copy():
            return replace(
                instruction,
                sources=tuple(map(word, instruction.sources)),
                dest=word(instruction.dest),
                chown=_opt(word, instruction.chown),
                chmod=_opt(word, instruction.chmod),
                exclude=tuple(map(word, instruction.exclude)),
            )
        case Expose():
            return replace(instruction, ports=tuple(p for w in instruction.ports for p in words(w)))
        case Volume():
            return replace(instruction, paths=tuple(map(word, instruction.paths)))
        case User():
            return replace(instruction, user=word(instruction.user))
        case Workdir():
            return replace(instruction, path=word(instruction.path))
        case Stopsignal():
            return replace(instruction, signal=word(instruction.signal))
        case Run():
            return replace(instruction, mounts=tuple(map(mount, instruction.mounts)))
    return instruction


def _opt(word: WordExpander, value: str) -> str:
    return word(value) if value else value


def _pairs(word: WordExpander, pairs: tuple[KeyValue, ...]) -> tuple[KeyValue, ...]:
    return tuple(KeyValue(key=word(p.key), value=word(p.value)) for p in pairs)


# --- RUN --mount (BuildKit's commands_runmount.go) ---------------------------------------

_MOUNT_ALIASES = {
    "src": "source",
    "dst": "target",
    "destination": "target",
    "ro": "readonly",
    "rw": "readwrite",
}
_MOUNT_KEYS = (
    "type", "from", "source", "target", "readonly", "readwrite", "required", "size", "id",
    "sharing", "mode", "uid", "gid",
)  # fmt: skip
_BARE_KEYS = ("readonly", "readwrite", "required")
_GO_BOOLS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}


def parse_mount(spec: str, *, node: Node, expand: WordExpander | None = None) -> Mount:
    """Parse one ``RUN --mount`` value (comma-separated ``key=value`` fields, CSV quoting).

    Without ``expand`` (at parse time) a value that references a variable is kept as written
    and the mount is not validated: :func:`~.stages.plan` parses it again with the stage's
    variables. ``from`` never expands (BuildKit: define an alias stage instead).

    Raises:
        DockerfileError: an unknown key or type, a malformed value, an option the type does
            not take, a missing target.
        DockerfileUnsupported: ``type=ssh``.
    """
    opts, readonly, deferred = _mount_fields(spec, node, expand)
    if deferred:
        return Mount(spec=spec, target=opts.get("target") or "", source=opts.get("source") or "")
    kind = _mount_type(opts.get("type") or "bind", spec, node)
    mount = Mount(
        type=kind,
        target=opts.get("target") or "",
        source=opts.get("source") or "",
        from_=opts.get("from") or "",
        id=opts.get("id") or "",
        readonly=kind in (MountType.BIND, MountType.SECRET) if readonly is None else readonly,
        spec=spec,
    )
    return _mount_defaults(_mount_options(mount, opts, node), node)


def _mount_fields(
    spec: str, node: Node, expand: WordExpander | None
) -> tuple[dict[str, str | None], bool | None, bool]:
    """The fields by canonical key (None: written bare), the read-only setting, and whether
    some value waits for expansion."""
    try:
        fields: Sequence[str] = next(csv.reader([spec]), [])
    except csv.Error as err:
        raise error_at(node, f"RUN --mount {spec!r}: {err}") from None
    opts: dict[str, str | None] = {}
    readonly: bool | None = None
    deferred = False
    for field in fields:
        raw_key, sep, value = field.partition("=")
        key = _MOUNT_ALIASES.get(raw_key.lower(), raw_key.lower())
        if key not in _MOUNT_KEYS:
            raise error_at(
                node,
                f"RUN --mount: unexpected key {raw_key!r} in {field!r}",
                _suggest(key, _MOUNT_KEYS),
            )
        if not sep:
            if key not in _BARE_KEYS:
                raise error_at(
                    node, f"RUN --mount: invalid field {field!r}: must be a key=value pair"
                )
            value = "true"
        elif key == "from" and re.search(r"\$.", value):
            raise error_at(
                node,
                "RUN --mount: 'from' doesn't support variable expansion",
                "define an alias stage instead",
            )
        elif expand is not None and key != "from":
            value = expand(value)
        elif "$" in value and key != "from":
            deferred = True
        if key in ("readonly", "readwrite") and not deferred:
            flag = _go_bool(value, key, node)
            readonly = flag if key == "readonly" else not flag
            continue
        opts[key] = value if sep else None
    return opts, readonly, deferred


def _mount_type(text: str, spec: str, node: Node) -> MountType:
    kind = text.lower()
    if kind == "ssh":
        raise unsupported_at(
            node, "RUN --mount=type=ssh is not supported", "pass what you need as a secret mount"
        )
    if kind not in MountType.__members__.values():
        names = [str(t) for t in MountType]
        raise error_at(node, f"RUN --mount: unsupported mount type {text!r}", _suggest(kind, names))
    return MountType(kind)


def _mount_options(mount: Mount, opts: dict[str, str | None], node: Node) -> Mount:
    """Apply the typed options, checking that the mount's type takes each."""
    changes: dict[str, object] = {}
    kind = mount.type
    for key in ("mode", "uid", "gid"):
        value = opts.get(key)
        if value is None:
            continue
        if kind not in (MountType.CACHE, MountType.SECRET):
            raise error_at(node, f"RUN --mount: {key} not allowed for '{kind}' type mounts")
        changes[key] = _mount_int(value, key, node)
    if (sharing := opts.get("sharing")) is not None:
        if kind is not MountType.CACHE:
            raise error_at(node, f"RUN --mount: invalid cache sharing set for {kind} mount")
        if sharing.lower() not in Sharing.__members__.values():
            names = [str(s) for s in Sharing]
            raise error_at(
                node,
                f"RUN --mount: unsupported sharing value {sharing!r}",
                _suggest(sharing, names),
            )
        changes["sharing"] = Sharing(sharing.lower())
    if "required" in opts:
        if kind is not MountType.SECRET:
            raise error_at(node, f"RUN --mount: unexpected key 'required' for mount type '{kind}'")
        changes["required"] = _go_bool(opts["required"] or "true", "required", node)
    if (size := opts.get("size")) is not None:
        if kind is not MountType.TMPFS:
            raise error_at(node, f"RUN --mount: unexpected key 'size' for mount type '{kind}'")
        changes["size"] = _ram_in_bytes(size, node)
    return dataclasses.replace(mount, **changes)  # type: ignore[arg-type]


def _mount_defaults(mount: Mount, node: Node) -> Mount:
    """Docker's defaults (secret id and target, cache id) and the per-type checks."""
    if mount.type is MountType.SECRET:
        if mount.from_:
            raise error_at(node, "RUN --mount: secret mount should not have a from")
        if mount.source and mount.id:
            raise error_at(node, "RUN --mount: both source and id can't be set for a secret")
        ident = mount.id or mount.source or posixpath.basename(mount.target)
        if not ident:
            raise error_at(
                node, "RUN --mount: invalid secret mount: one of id, source or target is required"
            )
        target = mount.target or f"/run/secrets/{posixpath.basename(ident)}"
        return dataclasses.replace(mount, id=ident, target=target)
    if not mount.target:
        raise error_at(
            node, f"RUN --mount: a {mount.type} mount needs a target", "add target=<path>"
        )
    if mount.type is MountType.CACHE and not mount.id:
        return dataclasses.replace(mount, id=mount.target)
    return mount


def _mount_int(value: str, key: str, node: Node) -> int:
    base = 8 if key == "mode" else 10
    try:
        number = int(value, base)
    except ValueError:
        number = -1
    if not 0 <= number < 2**32:
        raise error_at(node, f"RUN --mount: invalid value {value} for {key}")
    return number


def _go_bool(value: str, key: str, node: Node) -> bool:
    parsed = _GO_BOOLS.get(value.lower())
    if parsed is None:
        raise error_at(node, f"RUN --mount: invalid value for {key}: {value}")
    return parsed


def _ram_in_bytes(text: str, node: Node) -> int:
    """go-units' ``RAMInBytes`` (binary units: ``64m``, ``1g``)."""
    size = ram_in_bytes(text)
    if size is None:
        raise error_at(node, f"RUN --mount: invalid value for size: {text}")
    return size


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    known = ", ".join(options)
    return f"did you mean {close[0]}? (one of {known})" if close else f"one of {known}"
