"""``dockyard ps`` without click: its plain forms, answered by :mod:`dockyard.engine.quickps`.

Two parsers, one behaviour (as ``dockyard-runtime``'s hot verbs): :func:`run` takes the forms
of ``ps`` (also ``container ps|ls|list``) that need no template engine: the global ``--root``
and ``--storage-driver``, and ``-a``, ``-q``, ``-l``, ``-n N``, ``--no-trunc`` (long, short,
or combined short flags), ``--format`` with ``{{.Field}}`` placeholders only (a ``table`` of
them between tabs, or fields and plain text). It answers None for anything else (other
templates, ``--filter``, ``-s``, help, a config file to read, a value the full command line
would reject) and whenever :mod:`~dockyard.engine.quickps` cannot be sure of the answer;
the launcher then runs the full command line, which owns the help texts and the errors.
The tests check that both print the same text wherever this one answers.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from dockyard.cli import defaults

DEFAULT_COLUMNS = ("ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names")
PS_DEFAULT = "table " + "\t".join(f"{{{{.{name}}}}}" for name in DEFAULT_COLUMNS)
FIELDS = (
    "ID", "Image", "Command", "CreatedAt", "RunningFor", "Ports", "State", "Status", "Size",
    "Names", "Labels", "Mounts", "LocalVolumes", "Networks", "HealthStatus",
)  # fmt: skip
_PLACEHOLDERS = frozenset(f"{{{{.{name}}}}}" for name in FIELDS)
PS_HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "Status": "STATUS", "State": "STATE",
    "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
}  # fmt: skip
_VERBS = (["ps"], ["container", "ps"], ["container", "ls"], ["container", "list"])
_FLAGS = {
    "-a": "all", "--all": "all", "-q": "quiet", "--quiet": "quiet", "-l": "latest",
    "--latest": "latest", "--no-trunc": "no_trunc",
}  # fmt: skip
_SHORT = {"a": "all", "q": "quiet", "l": "latest"}
EXIT_FAILED = 1  # a closed stdout, as the full command line


class Request:
    """What a plain ``ps`` asks for."""

    __slots__ = ("all", "fmt", "last", "latest", "no_trunc", "quiet", "root")

    def __init__(self) -> None:
        self.root = self.fmt = ""
        self.all = self.quiet = self.latest = self.no_trunc = False
        self.last = -1


def parse(argv: Sequence[str]) -> Request | None:
    """``argv`` (after ``dockyard``) as a plain ``ps``; None when it is anything else."""
    req, i = Request(), 0
    while i < len(argv) and argv[i].startswith("-"):  # the root command's options
        name, eq, value = argv[i].partition("=")
        if not eq:
            if i + 1 >= len(argv):
                return None
            value, i = argv[i + 1], i + 1
        i += 1
        if not value or value.startswith("-"):
            return None
        if name == "--root":
            req.root = value
        elif name != "--storage-driver" or value not in defaults.DRIVERS:
            return None
    verb = next((v for v in _VERBS if list(argv[i : i + len(v)]) == v), None)
    if verb is None:
        return None
    i += len(verb)
    while i < len(argv):
        arg, i = argv[i], i + 1
        name, eq, value = arg.partition("=")
        if arg in _FLAGS:
            setattr(req, _FLAGS[arg], True)
        elif name == "--format" and (eq or i < len(argv)):
            if not eq:
                value, i = argv[i], i + 1
            req.fmt = value
        elif name in ("-n", "--last") and (eq or i < len(argv)):
            if not eq:
                value, i = argv[i], i + 1
            if not (value.isascii() and value.isdigit()):
                return None
            req.last = int(value)
        elif arg[:1] == "-" and arg[1:2] in _SHORT and all(ch in _SHORT for ch in arg[1:]):
            for ch in arg[1:]:
                setattr(req, _SHORT[ch], True)
        else:
            return None
    return req


def state_root(flag: str) -> str | None:
    """The state root as :mod:`.config` resolves it (flag, then ``DOCKYARD_ROOT``, then the
    default); None when a config file exists or a checked variable is bad (the full path
    reads and reports those)."""
    if os.path.exists(defaults.SYSTEM_CONFIG) or os.path.exists(defaults.user_config()):
        return None
    if not defaults.checked_env_valid():
        return None
    root = flag or os.environ.get("DOCKYARD_ROOT") or defaults.DEFAULT_ROOT
    return root if os.path.isabs(root) else os.path.join(os.getcwd(), root)


def run(argv: Sequence[str]) -> int | None:
    """Answer a plain ``ps``: the exit code, or None when the full command line must."""
    req = parse(argv)
    root = None if req is None else state_root(req.root)
    if req is None or root is None:
        return None
    from dockyard.engine import quickps

    chosen = quickps.select(
        os.path.join(root, "containers"), all_=req.all, last=req.last, latest=req.latest
    )
    if chosen is None:
        return None
    if req.quiet:
        text = "".join(f"{c.id if req.no_trunc else c.id[:12]}\n" for c in chosen)
    else:
        layout = _layout(req.fmt or PS_DEFAULT)
        if layout is None:
            return None
        table, parts = layout
        now, rows = time.time(), []
        for c in chosen:
            try:
                fields = quickps.row_fields(c, now=now, no_trunc=req.no_trunc)
            except (ValueError, KeyError, TypeError, AttributeError):
                return None
            if fields is None:
                return None
            values = [fields[p[3:-2]] if p in _PLACEHOLDERS else p for p in parts]
            rows.append(("\t" if table else "").join(values))
        text = _table(parts, rows) if table else "".join(f"{row}\n" for row in rows)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        return EXIT_FAILED
    return 0


def _layout(fmt: str) -> tuple[bool, list[str]] | None:
    """A ``--format`` the quick path prints itself: (a table?, its parts: ``{{.Field}}``
    placeholders and plain text, as :func:`dockyard.cli.template.split_table` reads it); None
    for any other template (functions, pipelines, other fields, braces in the text)."""
    if fmt == "json" or (fmt.startswith("table") and not fmt.startswith("table ")):
        return None  # {{json .}}, and tables the full path's template engine lays out
    table = fmt.startswith("table ")
    body = fmt[len("table ") :] if table else fmt
    body = body.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    if table:  # the full path's plain tables: placeholders between tabs, nothing else
        cells = body.split("\t")
        return (True, cells) if all(cell in _PLACEHOLDERS for cell in cells) else None
    parts: list[str] = []
    rest = body
    while rest:
        start = rest.find("{{")
        text, rest = (rest, "") if start < 0 else (rest[:start], rest[start:])
        if text:
            if "}}" in text or "{" in text or "}" in text:
                return None
            parts.append(text)
        if rest:
            end = rest.find("}}") + 2
            if end < 2 or rest[:end] not in _PLACEHOLDERS:
                return None
            parts.append(rest[:end])
            rest = rest[end:]
    return (False, parts) if parts else None


def _table(cells: list[str], rows: list[str]) -> str:
    """Header and aligned rows (docker's tabwriter) of a table of placeholders."""
    from dockyard._util.gotext import tabwrite

    header = "\t".join(PS_HEADERS.get(cell[3:-2], cell[3:-2].upper()) for cell in cells)
    return tabwrite("".join(f"{line}\n" for line in [header, *rows]))
