"""The click command tree as documentation: one :class:`CommandDoc` per command object.

A command reachable by several paths (``dockyard run`` and ``dockyard container run``;
``image ls`` and ``image list``) is documented once, at its *canonical* path: the shallowest,
then the shortest name, then the first in order. The other paths are its ``aliases``, and a
group's :class:`Entry` for one of them points at the canonical path.

Help text is click's: cut at ``\\f``, indentation removed, paragraphs split on blank lines; a
paragraph that starts with a ``\\b`` line keeps its line breaks (``preformatted``). Inline
``code`` stays marked with double backquotes for the renderers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import click

_HELP_LIMIT = 1000  # click's short help stops at the first sentence; never cut it shorter


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """A paragraph of help text."""

    text: str
    preformatted: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionDoc:
    """An option: ``names`` as click's help shows them (``-m, --memory TEXT``)."""

    names: str
    help: str
    default: str | None = None
    envvar: str | None = None
    repeatable: bool = False
    required: bool = False

    def notes(self, code: Callable[[str], str]) -> list[str]:
        """What its help does not say: required, repeatable, default, environment variable
        (values marked up by ``code``)."""
        notes = []
        if self.required:
            notes.append("Required.")
        if self.repeatable:
            notes.append("Can be repeated.")
        if self.default is not None:
            notes.append(f"Default: {code(self.default)}.")
        if self.envvar:
            notes.append(f"Environment: {code(self.envvar)}.")
        return notes


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One name in a group's command list; ``target`` is the path documented for it."""

    name: str
    summary: str
    target: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandDoc:
    """A command at its canonical ``path`` (``("dockyard", "network", "create")``)."""

    path: tuple[str, ...]
    usage: str
    summary: str
    help: tuple[Block, ...]
    options: tuple[OptionDoc, ...]
    aliases: tuple[tuple[str, ...], ...] = ()
    commands: tuple[Entry, ...] = ()

    @property
    def name(self) -> str:
        """The path as typed: ``dockyard network create``."""
        return " ".join(self.path)


def collect(root: click.Command, prog: str = "dockyard") -> list[CommandDoc]:
    """Every visible command under ``root`` (``root`` first), documented at its canonical path,
    in depth-first order with names sorted."""
    found: list[tuple[tuple[str, ...], click.Command, click.Context]] = []
    _walk(root, click.Context(root, info_name=prog), (prog,), found)
    paths: dict[int, list[tuple[str, ...]]] = {}
    for path, command, _ctx in found:
        paths.setdefault(id(command), []).append(path)
    canonical = {key: min(group, key=_rank) for key, group in paths.items()}
    docs = []
    for path, command, ctx in found:
        if canonical[id(command)] != path:
            continue
        aliases = tuple(sorted(p for p in paths[id(command)] if p != path))
        entries = tuple(_entries(command, ctx, path, canonical))
        docs.append(_document(command, ctx, path, aliases, entries))
    return docs


def _rank(path: tuple[str, ...]) -> tuple[int, int, tuple[str, ...]]:
    return len(path), len(path[-1]), path


def _walk(
    command: click.Command,
    ctx: click.Context,
    path: tuple[str, ...],
    found: list[tuple[tuple[str, ...], click.Command, click.Context]],
) -> None:
    found.append((path, command, ctx))
    for name, sub in _subcommands(command, ctx):
        _walk(sub, click.Context(sub, info_name=name, parent=ctx), (*path, name), found)


def _subcommands(command: click.Command, ctx: click.Context) -> Iterator[tuple[str, click.Command]]:
    if not isinstance(command, click.Group):
        return
    for name in sorted(command.list_commands(ctx)):
        sub = command.get_command(ctx, name)
        if sub is not None and not sub.hidden:
            yield name, sub


def _entries(
    command: click.Command,
    ctx: click.Context,
    path: tuple[str, ...],
    canonical: dict[int, tuple[str, ...]],
) -> Iterator[Entry]:
    for name, sub in _subcommands(command, ctx):
        summary = sub.get_short_help_str(_HELP_LIMIT)
        yield Entry(name=name, summary=summary, target=canonical[id(sub)])


def _document(
    command: click.Command,
    ctx: click.Context,
    path: tuple[str, ...],
    aliases: tuple[tuple[str, ...], ...],
    entries: tuple[Entry, ...],
) -> CommandDoc:
    pieces = command.collect_usage_pieces(ctx)
    return CommandDoc(
        path=path,
        usage=" ".join((*path, *pieces)),
        summary=command.get_short_help_str(_HELP_LIMIT),
        help=blocks(command.help or ""),
        options=tuple(
            _option(param, ctx)
            for param in command.params
            if isinstance(param, click.Option) and not param.hidden
        ),
        aliases=aliases,
        commands=entries,
    )


def _option(option: click.Option, ctx: click.Context) -> OptionDoc:
    record = option.get_help_record(ctx)
    names = record[0] if record else ", ".join(option.opts)
    envvar = option.envvar if isinstance(option.envvar, str) else None
    return OptionDoc(
        names=names,
        help=" ".join((option.help or "").split()),
        default=_default(option, ctx),
        envvar=envvar,
        repeatable=option.multiple or option.count,
        required=option.required,
    )


def _default(option: click.Option, ctx: click.Context) -> str | None:
    """The default worth showing: a value the user would otherwise have to guess (not an
    unset value, an empty one, a callable, or False for a flag)."""
    value = option.get_default(ctx, call=False)
    # click marks "no default" with a sentinel object in recent versions, None in older ones.
    if callable(value) or not isinstance(value, (str, int, float, tuple, list)):
        return None
    if option.is_flag:
        return "on" if value is True else None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value) or None
    text = str(value)
    return text if text else None


def blocks(text: str) -> tuple[Block, ...]:
    """``text`` (a click help string) as paragraphs."""
    text = inspect.cleandoc(text.split("\f", 1)[0])
    out: list[Block] = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.strip("\n").splitlines()
        if not lines:
            continue
        if lines[0].strip() == "\b":
            out.append(Block(text="\n".join(lines[1:]), preformatted=True))
        else:
            out.append(Block(text=" ".join(line.strip() for line in lines)))
    return tuple(out)


def split_code(text: str) -> Iterator[tuple[bool, str]]:
    """``text`` as (is_code, piece) pairs: ``code`` spans and the text between them."""
    parts = text.split("``")
    if len(parts) % 2 == 0:  # an unpaired mark: text, not the start of a code span
        parts[-2:] = [parts[-2] + "``" + parts[-1]]
    for index, piece in enumerate(parts):
        if piece:
            yield index % 2 == 1, piece
