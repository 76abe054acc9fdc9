"""Node -> typed instruction: :func:`parse_instruction`, following BuildKit's
``instructions/parse.go`` and the per-instruction argument rules of its ``line_parsers.go``
(which words are split on blanks, which are ``name=value`` words with quotes kept, which may
be JSON). Flags are checked against each instruction's list (BuildKit's ``bflag.go``);
``RUN --mount`` values are parsed into :class:`~.instructions.Mount` by :func:`parse_mount`.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, NoReturn

from dockyard._util.units import parse_go_duration
from dockyard.build.dockerfile.grammar import JSON_KEYWORDS, exec_form, split_instruction
from dockyard.build.dockerfile.instructions import (
    Add,
    Arg,
    ArgDecl,
    Cmd,
    CommandLine,
    Copy,
    DockerfileUnsupported,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    NetworkMode,
    Onbuild,
    Run,
    Shell,
    SourceContent,
    Stopsignal,
    User,
    Volume,
    Workdir,
    error_at,
    parse_mount,
    unsupported_at,
)
from dockyard.build.dockerfile.nodes import DockerfileError, Node
from dockyard.oci.containerconfig import HealthConfig

__all__ = ["KEYWORDS", "parse_instruction", "words"]

_BLANKS = re.compile(r"[\t\v\f\r ]+")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
_HEREDOC_WORD = re.compile(r"^\d*<<(-?)(.+)$")
_ONBUILD_PREFIX = re.compile(r"(?i)^\s*ONBUILD\s*")
_MIN_INTERVAL_NS = 1_000_000  # Docker's container.MinimumDuration (1 ms)


def parse_instruction(node: Node, *, escape: str = "\\") -> Instruction:
    """The typed instruction for ``node``.

    Args:
        node: one instruction from the parser.
        escape: the file's escape character (``# escape=``), for the quote-aware word rules.

    Raises:
        DockerfileError: unknown instruction, wrong arguments, unknown or malformed flag.
        DockerfileUnsupported: a feature dockyard does not support (``RUN --security``,
            ``RUN --mount=type=ssh``, ``ADD --keep-git-dir``).
    """
    parse = _PARSERS.get(node.keyword.upper())
    if parse is None:
        _unknown_instruction(node)
    return parse(node, escape)


def fail(node: Node, message: str, hint: str = "") -> NoReturn:
    raise error_at(node, message, hint)


def _unknown_instruction(node: Node) -> NoReturn:
    close = difflib.get_close_matches(node.keyword.upper(), KEYWORDS, n=1)
    fail(node, f"unknown instruction: {node.keyword}", f"did you mean {close[0]}?" if close else "")


# --- flags (BuildKit's bflag.go) ---------------------------------------------------------


class _Kind(Enum):
    BOOL = "bool"  # --link, --link=true|false
    STRING = "string"  # --from=x, once
    STRINGS = "strings"  # --mount=x, repeatable


BOOL, STRING, STRINGS = _Kind.BOOL, _Kind.STRING, _Kind.STRINGS
_FlagValues = dict[str, str | bool | list[str]]

# Flags BuildKit knows that dockyard deliberately does not implement.
_UNSUPPORTED = {
    ("RUN", "security"): "RUN --security (insecure or sandbox) is not supported",
    ("RUN", "device"): "RUN --device is not supported",
    ("ADD", "keep-git-dir"): "ADD --keep-git-dir is not supported (git sources are not supported)",
    ("ADD", "unpack"): "ADD --unpack is not supported",
}


def _parse_flags(node: Node, allowed: Mapping[str, _Kind]) -> _FlagValues:
    """Check ``node.flags`` against ``allowed`` and return their values.

    Raises:
        DockerfileError: a flag not in ``allowed`` (the hint lists those), a repeated
            single-valued flag, a missing or malformed value.
        DockerfileUnsupported: a flag dockyard deliberately does not implement.
    """
    values: _FlagValues = {}
    for raw in node.flags:
        if not raw.startswith("--"):
            fail(node, f"{node.keyword}: flag {raw!r} should start with --")
        if raw == "--":
            break
        name, eq, value = raw[2:].partition("=")
        kind = allowed.get(name)
        if kind is None:
            _unknown_flag(node, name, allowed)
        if name in values and kind is not STRINGS:
            fail(node, f"{node.keyword}: duplicate flag specified: --{name}")
        if kind is BOOL:
            if eq and value.lower() not in ("true", "false"):
                fail(
                    node,
                    f"{node.keyword}: expecting boolean value for flag --{name}, not: {value!r}",
                )
            values[name] = not eq or value.lower() == "true"
        elif not eq:
            fail(
                node, f"{node.keyword}: missing a value on flag --{name}", f"write --{name}=<value>"
            )
        elif kind is STRINGS:
            listed = values.setdefault(name, [])
            assert isinstance(listed, list)
            listed.append(value)
        else:
            values[name] = value
    return values


def _unknown_flag(node: Node, name: str, allowed: Mapping[str, _Kind]) -> NoReturn:
    message = _UNSUPPORTED.get((node.keyword.upper(), name))
    if message is not None:
        raise unsupported_at(node, message, "remove the flag")
    known = ", ".join(f"--{n}" for n in allowed)
    hint = f"{node.keyword} accepts {known}" if allowed else f"{node.keyword} accepts no flags"
    close = difflib.get_close_matches(name, list(allowed), n=1)
    if close:
        hint = f"did you mean --{close[0]}? {hint}"
    fail(node, f"{node.keyword}: unknown flag --{name}", hint)


def _text(values: _FlagValues, name: str) -> str:
    value = values.get(name, "")
    return value if isinstance(value, str) else ""


def _texts(values: _FlagValues, name: str) -> tuple[str, ...]:
    value = values.get(name, [])
    return tuple(value) if isinstance(value, list) else ()


def _boolean(values: _FlagValues, name: str) -> bool:
    return values.get(name) is True


# --- argument shapes (line_parsers.go) ---------------------------------------------------


def words(text: str, escape: str) -> list[str]:
    """BuildKit's ``parseWords``: split on blanks outside quotes, keeping quotes and escapes in
    the words (expansion removes them later)."""
    out: list[str] = []
    current: list[str] = []
    quote = ""
    blank_ok = False
    i = 0
    while i < len(text):
        ch = text[i]
        if not quote and ch.isspace():
            if blank_ok or current:
                out.append("".join(current))
            current, blank_ok = [], False
        elif ch == escape and quote != "'":
            if i + 1 < len(text):
                current.append(ch + text[i + 1])
                i += 1
        else:
            if quote and ch == quote:
                quote = ""
            elif not quote and ch in "'\"":
                quote, blank_ok = ch, True
            current.append(ch)
        i += 1
    if blank_ok or current:
        out.append("".join(current))
    return out


def _blank_split(text: str) -> list[str]:
    """BuildKit's ``parseStringsWhitespaceDelimited``."""
    text = text.strip()
    return _BLANKS.split(text) if text else []


def _json(node: Node, text: str | None = None) -> tuple[str, ...] | None:
    """The exec (JSON) form of the arguments, or None for the shell form.

    Raises:
        DockerfileError: a JSON array whose items are not all strings.
    """
    if text is None:
        if node.json is not None:
            return node.json
        text = node.args
    text = text.lstrip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        fail(
            node,
            f"{node.keyword}: when using JSON array syntax, arrays must contain only strings",
        )
    return tuple(value)


def _command(node: Node, *, empty_ok: bool) -> CommandLine:
    """The shell or exec form of RUN, CMD, ENTRYPOINT (``empty_ok``: ``[]`` is allowed)."""
    argv = _json(node)
    if argv is not None:
        if not argv and not empty_ok:
            fail(node, f"{node.keyword} requires at least one argument")
        return CommandLine(argv=argv, prepend_shell=False)
    if not node.args.strip():
        fail(node, f"{node.keyword} requires at least one argument")
    return CommandLine(argv=(node.args,), prepend_shell=True)


def _exactly_one(node: Node) -> str:
    if not node.args.strip():
        fail(node, f"{node.keyword} requires exactly one argument")
    return node.args


def _name_values(node: Node, escape: str) -> tuple[tuple[KeyValue, ...], bool]:
    """ENV and LABEL: ``k=v ...`` words, or the legacy ``k v`` (the value is the rest)."""
    found = words(node.args, escape)
    if not found:
        fail(node, f"{node.keyword} requires at least one argument")
    if "=" not in found[0]:
        parts = _BLANKS.split(node.args.strip(), maxsplit=1)
        if len(parts) < 2:
            fail(node, f"{node.keyword} must have two arguments", f"{node.keyword} <key>=<value>")
        return (KeyValue(key=parts[0], value=parts[1]),), True
    pairs = []
    for word in found:
        key, sep, value = word.partition("=")
        if not sep:
            fail(
                node, f"{node.keyword}: syntax error - can't find = in {word!r}", "write name=value"
            )
        if not key:
            fail(node, f"{node.keyword} names can not be blank")
        pairs.append(KeyValue(key=key, value=value))
    return tuple(pairs), False


# --- instructions --------------------------------------------------------------------------


def _from(node: Node, escape: str) -> From:
    values = _parse_flags(node, {"platform": STRING})
    args = _blank_split(node.args)
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            fail(
                node,
                f"invalid name for build stage: {args[2]!r}",
                "a stage name starts with a letter and has only letters, digits, '-', '_' and '.'",
            )
    elif len(args) != 1:
        fail(
            node,
            "FROM requires either one or three arguments",
            "FROM [--platform=<p>] <image> [AS <name>]",
        )
    return From(node=node, image=args[0], name=name, platform=_text(values, "platform"))


def _run(node: Node, escape: str) -> Run:
    values = _parse_flags(node, {"mount": STRINGS, "network": STRING})
    command = _command(node, empty_ok=False)
    if node.heredocs and not command.prepend_shell:
        fail(node, "RUN: here-documents need the shell form", "write RUN <<EOF ... EOF")
    network = _text(values, "network") or "default"
    if network not in NetworkMode.__members__.values():
        fail(
            node,
            f"RUN: unsupported network mode {network!r}",
            "use --network=default, none or host",
        )
    mounts = tuple(parse_mount(spec, node=node) for spec in _texts(values, "mount"))
    return Run(
        node=node,
        command=command,
        heredocs=node.heredocs,
        mounts=mounts,
        network=NetworkMode(network),
    )


def _cmd(node: Node, escape: str) -> Cmd:
    _parse_flags(node, {})
    return Cmd(node=node, command=_command(node, empty_ok=True))


def _entrypoint(node: Node, escape: str) -> Entrypoint:
    _parse_flags(node, {})
    return Entrypoint(node=node, command=_command(node, empty_ok=True))


def _label(node: Node, escape: str) -> Label:
    _parse_flags(node, {})
    labels, legacy = _name_values(node, escape)
    return Label(node=node, labels=labels, legacy=legacy)


def _env(node: Node, escape: str) -> Env:
    _parse_flags(node, {})
    pairs, legacy = _name_values(node, escape)
    return Env(node=node, pairs=pairs, legacy=legacy)


def _expose(node: Node, escape: str) -> Expose:
    _parse_flags(node, {})
    ports = _blank_split(node.args)
    if not ports:
        fail(node, "EXPOSE requires at least one argument")
    return Expose(node=node, ports=tuple(ports))


def _sources_and_dest(node: Node) -> tuple[tuple[str, ...], str, tuple[SourceContent, ...]]:
    args = _json(node)
    parts = list(args) if args is not None else _blank_split(node.args)
    if len(parts) < 2:
        fail(
            node,
            f"{node.keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined",
            f"{node.keyword} <src>... <dest>",
        )
    *sources, dest = parts
    if _heredoc_word(dest) is not None:
        fail(node, f"{node.keyword} cannot accept a heredoc as a destination")
    bodies = {h.name: h for h in node.heredocs}
    paths: list[str] = []
    contents: list[SourceContent] = []
    for src in sources:
        name = _heredoc_word(src)
        if name is None or name not in bodies:
            paths.append(src)
            continue
        doc = bodies[name]
        contents.append(SourceContent(path=name, data=doc.content, expand=doc.expand))
    return tuple(paths), dest, tuple(contents)


def _heredoc_word(word: str) -> str | None:
    """The name a ``<<EOF`` / ``<<-"EOF"`` word refers to, or None for a plain word."""
    m = _HEREDOC_WORD.match(word)
    if m is None:
        return None
    name = m.group(2)
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
        name = name[1:-1]
    return name or None


def _add(node: Node, escape: str) -> Add:
    values = _parse_flags(
        node,
        {
            "chown": STRING,
            "chmod": STRING,
            "checksum": STRING,
            "link": BOOL,
            "exclude": STRINGS,
        },
    )
    return Add(**_transfer(node, values), checksum=_text(values, "checksum"))


def _copy(node: Node, escape: str) -> Copy:
    values = _parse_flags(
        node,
        {
            "from": STRING,
            "chown": STRING,
            "chmod": STRING,
            "link": BOOL,
            "parents": BOOL,
            "exclude": STRINGS,
        },
    )
    return Copy(
        **_transfer(node, values),
        from_=_text(values, "from"),
        parents=_boolean(values, "parents"),
    )


def _transfer(node: Node, values: _FlagValues) -> dict[str, Any]:
    """What ADD and COPY share: sources, destination, heredoc contents and the common flags."""
    sources, dest, contents = _sources_and_dest(node)
    return {
        "node": node, "sources": sources, "dest": dest, "contents": contents,
        "chown": _text(values, "chown"), "chmod": _text(values, "chmod"),
        "link": _boolean(values, "link"), "exclude": _texts(values, "exclude"),
    }  # fmt: skip


def _volume(node: Node, escape: str) -> Volume:
    _parse_flags(node, {})
    args = _json(node)
    paths = [p.strip() for p in (args if args is not None else _blank_split(node.args))]
    if not paths:
        fail(node, "VOLUME requires at least one argument")
    if "" in paths:
        fail(node, "VOLUME specified can not be an empty string")
    return Volume(node=node, paths=tuple(paths))


def _user(node: Node, escape: str) -> User:
    _parse_flags(node, {})
    return User(node=node, user=_exactly_one(node))


def _workdir(node: Node, escape: str) -> Workdir:
    _parse_flags(node, {})
    return Workdir(node=node, path=_exactly_one(node))


def _stopsignal(node: Node, escape: str) -> Stopsignal:
    _parse_flags(node, {})
    return Stopsignal(node=node, signal=_exactly_one(node))


def _maintainer(node: Node, escape: str) -> Maintainer:
    _parse_flags(node, {})
    return Maintainer(node=node, maintainer=_exactly_one(node))


def _arg(node: Node, escape: str) -> Arg:
    _parse_flags(node, {})
    decls = []
    for word in words(node.args, escape):
        name, sep, default = word.partition("=")
        if not name:
            fail(node, "ARG names can not be blank")
        decls.append(ArgDecl(name=name, default=default if sep else None))
    if not decls:
        fail(node, "ARG requires at least one argument", "ARG <name>[=<default value>]")
    return Arg(node=node, args=tuple(decls))


def _shell(node: Node, escape: str) -> Shell:
    _parse_flags(node, {})
    argv = _json(node)
    if argv is None:
        fail(node, "SHELL requires the arguments to be in JSON form", 'SHELL ["/bin/sh", "-c"]')
    if not argv:
        fail(node, "SHELL requires at least one argument")
    return Shell(node=node, shell=argv)


def _onbuild(node: Node, escape: str) -> Onbuild:
    _parse_flags(node, {})
    if not node.args.strip():
        fail(node, "ONBUILD requires at least one argument")
    split = split_instruction(node.args)
    keyword = split.keyword.upper()
    if keyword == "ONBUILD":
        fail(node, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if keyword in ("FROM", "MAINTAINER"):
        fail(node, f"{keyword} isn't allowed as an ONBUILD trigger")
    expression = _ONBUILD_PREFIX.sub("", node.source, count=1).rstrip("\n")
    trigger_node = Node(
        keyword=keyword,
        flags=split.flags,
        args=split.args,
        json=exec_form(split.args) if keyword in JSON_KEYWORDS else None,
        heredocs=node.heredocs,
        position=node.position,
        source=expression,
    )
    try:
        trigger = parse_instruction(trigger_node, escape=escape)
    except DockerfileError as err:  # point at the whole ONBUILD line
        raise error_at(node, err.diagnostic.message, err.diagnostic.hint) from None
    except DockerfileUnsupported as err:
        raise unsupported_at(node, err.diagnostic.message, err.diagnostic.hint) from None
    return Onbuild(node=node, expression=expression, trigger=trigger)


def _healthcheck(node: Node, escape: str) -> Healthcheck:
    names = ("interval", "timeout", "start-period", "start-interval", "retries")
    values = _parse_flags(node, dict.fromkeys(names, STRING))
    kind, *tail = _BLANKS.split(node.args.strip(), maxsplit=1)
    kind, rest = kind.upper(), (tail[0].strip() if tail else "")
    if not kind:
        fail(node, "HEALTHCHECK requires at least one argument")
    if kind == "NONE":
        if rest:
            fail(node, "HEALTHCHECK NONE takes no arguments")
        return Healthcheck(node=node, health=HealthConfig(test=("NONE",)))
    if kind != "CMD":
        fail(node, f"unknown type {kind!r} in HEALTHCHECK (try CMD)")
    if not rest:
        fail(node, "missing command after HEALTHCHECK CMD")
    argv = _json(node, rest)
    test = ("CMD", *argv) if argv is not None else ("CMD-SHELL", rest)
    if argv is not None and not argv:
        fail(node, "missing command after HEALTHCHECK CMD")
    durations = [_interval(node, name, _text(values, name)) for name in names[:4]]
    retries = _text(values, "retries")
    if retries and not re.fullmatch(r"[+-]?\d+", retries):
        fail(node, f"HEALTHCHECK: invalid --retries value {retries!r}")
    if retries and int(retries) < 0:
        fail(node, f"HEALTHCHECK: --retries cannot be negative ({retries})")
    health = HealthConfig(
        test=test,
        interval=durations[0],
        timeout=durations[1],
        start_period=durations[2],
        start_interval=durations[3],
        retries=int(retries or 0),
    )
    return Healthcheck(node=node, health=health)


def _interval(node: Node, flag: str, text: str) -> int:
    """A HEALTHCHECK duration in nanoseconds: 0 when absent, else at least 1 ms."""
    if not text:
        return 0
    ns = parse_go_duration(text)
    if ns is None:
        fail(
            node,
            f"HEALTHCHECK: invalid duration {text!r} for --{flag}",
            "use e.g. 30s, 1m30s, 500ms",
        )
    if ns != 0 and ns < _MIN_INTERVAL_NS:
        fail(node, f"HEALTHCHECK: --{flag} cannot be less than 1ms")
    return ns


_PARSERS: dict[str, Callable[[Node, str], Instruction]] = {
    "ADD": _add,
    "ARG": _arg,
    "CMD": _cmd,
    "COPY": _copy,
    "ENTRYPOINT": _entrypoint,
    "ENV": _env,
    "EXPOSE": _expose,
    "FROM": _from,
    "HEALTHCHECK": _healthcheck,
    "LABEL": _label,
    "MAINTAINER": _maintainer,
    "ONBUILD": _onbuild,
    "RUN": _run,
    "SHELL": _shell,
    "STOPSIGNAL": _stopsignal,
    "USER": _user,
    "VOLUME": _volume,
    "WORKDIR": _workdir,
}
KEYWORDS = tuple(sorted(_PARSERS))
