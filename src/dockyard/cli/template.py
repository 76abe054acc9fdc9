"""docker's ``--format``: one Go ``text/template`` engine shared by every command.

Owns the public API (:func:`parse`, :func:`render`, docker's ``table`` formats) and executing
templates: the variable stack, ``if``/``with``/``range``, pipelines, field and method lookup.
The pieces it runs on: :mod:`~dockyard.cli.template_lex` (tokens, :class:`TemplateError`),
:mod:`~dockyard.cli.template_parse` (syntax tree), :mod:`~dockyard.cli.template_funcs` (the
functions, ``printf``, ``json``) and :mod:`~dockyard.cli.template_text` (Go's value formatting,
tabwriter).

Data model: ``data`` is a dataclass instance (or any object), a Mapping, a list/tuple, or a
str/int/float/bool/None. ``.Field`` on a Mapping looks up the key (a missing key gives Go's
``<no value>``); on an object it reads attribute ``Field``, else its snake_case form
(``RepoTags`` -> ``repo_tags``), calling it when it is a method. ``None`` plays Go's nil
pointer: it prints ``<nil>`` and reading a field of it is an error. Mappings print like Go maps
(``map[a:1 b:2]``, sorted keys); ``json`` keeps a Mapping's insertion order (producers that
stand in for Go structs choose docker's field order) and encodes an object through its
``to_docker()`` or ``to_json()`` (which return JSON-able data, not text), else its dataclass
fields.

The template modules are pure and import only the standard library (and
:mod:`dockyard.errors`): they are on the path of every ``ls``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from dockyard._util.gotext import tabwrite
from dockyard.cli import template_parse as tp
from dockyard.cli.template_funcs import FUNCS, HEADER_FUNCS, ArgError, Fn
from dockyard.cli.template_lex import HINT, TemplateError
from dockyard.cli.template_parse import Node
from dockyard.cli.template_text import MISSING, Missing, go_type, show, sorted_keys, truth

__all__ = [
    "Template",
    "TemplateError",
    "parse",
    "render",
    "render_table",
    "split_table",
    "table_header",
    "tabwrite",
]


_NOFINAL = Missing()  # "no value piped in from the previous command"


class _Loop(Exception):
    """``{{break}}`` (args: True) or ``{{continue}}`` (args: False) unwinding to its range."""


# ---------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True, slots=True, kw_only=True)
class Template:
    """A parsed template; execute it as often as needed."""

    text: str
    nodes: tuple[Node, ...]

    def execute(self, data: object) -> str:
        """Render *data* (``.`` and ``$``); docker's trailing newline is the caller's.

        Raises:
            TemplateError: a field, function or value failed (message like Go's).
        """
        return _Exec(self.text, FUNCS, data).run(self.nodes)

    def header(self, headers: Mapping[str, str]) -> str:
        """The table header: each ``.Field`` becomes ``headers[Field]`` (else ``FIELD``).

        Like docker, string functions (``json upper truncate`` ...) pass headers through, and an
        execution error ends the header where it happened instead of failing.
        """
        run = _Exec(self.text, HEADER_FUNCS, _HeaderRow(headers))
        return run.run(self.nodes, partial=True)

    def render_table(self, rows: Iterable[object], headers: Mapping[str, str]) -> str:
        """The header and one line per row, columns aligned like docker; each line ends in \\n."""
        lines = [self.header(headers)]
        lines.extend(self.execute(row) for row in rows)
        return tabwrite("".join(f"{line}\n" for line in lines))


def parse(text: str) -> Template:
    """Parse *text* once for :meth:`Template.execute`.

    Raises:
        TemplateError: ``template parsing error: template: :1: function "foo" not defined``.
    """
    try:
        return Template(text=text, nodes=tp.Parser(text, FUNCS).parse())
    except RecursionError as err:
        raise TemplateError("template parsing error: template: nested too deeply") from err


def render(text: str, data: object) -> str:
    """``parse(text).execute(data)``."""
    return parse(text).execute(data)


def split_table(text: str) -> tuple[bool, str]:
    """Return ``(is_table, template)`` for a list command's ``--format``, as docker reads it.

    Like docker's formatter: a ``table`` prefix makes a table; ``json`` means ``{{json .}}``;
    spaces around the template are trimmed and the two-character sequences ``\\t`` and ``\\n``
    become a tab and a newline (``inspect`` does none of this).
    """
    is_table = text.startswith("table")
    rest = text[len("table") :] if is_table else text
    if rest == "json":
        rest = "{{json .}}"
    return is_table, rest.strip(" ").replace("\\t", "\t").replace("\\n", "\n")


def table_header(text: str, headers: Mapping[str, str]) -> str:
    """The header row docker prints for the table template *text* (without ``table``)."""
    return parse(text).header(headers)


def render_table(text: str, rows: Sequence[object], headers: Mapping[str, str]) -> str:
    """Header plus rows of the table template *text* (without ``table``), aligned like docker."""
    return parse(text).render_table(rows, headers)


# ---------------------------------------------------------------------------------------------
# Execution


class _Exec:
    """One execution: the variable stack and the output, like Go's ``state``."""

    def __init__(self, text: str, functions: Mapping[str, Fn], data: object) -> None:
        self.text = text
        self.functions = functions
        self.vars: list[tuple[str, object]] = [("$", data)]
        self.out: list[str] = []

    def run(self, nodes: tuple[Node, ...], *, partial: bool = False) -> str:
        try:
            self.walk(self.vars[0][1], nodes)
        except TemplateError:
            if not partial:
                raise
        return "".join(self.out)

    def error(self, pos: int, src: str, message: str) -> TemplateError:
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1)
        where = f'template: :{line}:{col}: executing "" at <{src}>'
        return TemplateError(f"{where}: {message}", hint=HINT)

    def walk(self, dot: object, nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            if isinstance(node, tp.Text):
                self.out.append(node.text)
            elif isinstance(node, tp.Action):
                value = self.pipe(dot, node.pipe)
                if not node.pipe.decl:
                    self.out.append(show(value))
            elif isinstance(node, tp.Control):
                mark = len(self.vars)
                try:
                    self.control(dot, node)
                finally:
                    del self.vars[mark:]
            else:
                raise _Loop(node.is_break)

    def control(self, dot: object, node: tp.Control) -> None:
        value = self.pipe(dot, node.pipe)
        if node.kind is tp.ControlKind.RANGE:
            self.range(dot, value, node)
        elif truth(value):
            self.walk(value if node.kind is tp.ControlKind.WITH else dot, node.body)
        else:
            self.walk(dot, node.orelse)

    def range(self, dot: object, value: object, node: tp.Control) -> None:
        items = self.items(value, node.pipe)
        if not items:
            self.walk(dot, node.orelse)
            return
        decl, mark = node.pipe.decl, len(self.vars)
        for key, elem in items:
            if decl:
                self.set_var(decl[-1], elem)
            if len(decl) > 1:
                self.set_var(decl[0], key)
            try:
                self.walk(elem, node.body)
            except _Loop as loop:
                if loop.args[0]:
                    break
            finally:
                del self.vars[mark:]

    def items(self, value: object, pipe: tp.Pipe) -> list[tuple[object, object]]:
        if value is MISSING or value is None:
            return []
        if isinstance(value, Mapping):
            return [(key, value[key]) for key in sorted_keys(value)]
        if isinstance(value, list | tuple):
            return list(enumerate(value))
        if isinstance(value, int) and not isinstance(value, bool):
            return [(i, i) for i in range(value)]
        raise self.error(pipe.pos, pipe.src, f"range can't iterate over {show(value)}")

    def set_var(self, name: str, value: object) -> None:
        """Set the innermost variable called *name*."""
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return

    def var(self, name: str) -> object:
        return next(value for key, value in reversed(self.vars) if key == name)

    def pipe(self, dot: object, pipe: tp.Pipe) -> object:
        value: object = _NOFINAL
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(name, value)
            else:
                self.vars.append((name, value))
        return value

    def command(self, dot: object, cmd: tp.Command, final: object) -> object:
        first, rest = cmd.args[0], cmd.args[1:]
        if isinstance(first, tp.Func):
            return self.call(dot, first.name, cmd, final)
        if isinstance(first, tp.Field | tp.Var | tp.Chain):
            return self.chain(dot, first, rest, final)
        if rest or final is not _NOFINAL:
            raise self.error(cmd.pos, cmd.src, f"can't give argument to non-function {cmd.src}")
        if isinstance(first, tp.Nil):
            raise self.error(cmd.pos, cmd.src, "nil is not a command")
        return self.arg(dot, first)

    def arg(self, dot: object, node: tp.Operand) -> object:
        """Evaluate an argument of a function or method."""
        if isinstance(node, tp.Dot):
            return dot
        if isinstance(node, tp.Nil):
            return None
        if isinstance(node, tp.Literal):
            return node.value
        if isinstance(node, tp.Field | tp.Var | tp.Chain):
            return self.chain(dot, node, (), _NOFINAL)
        if isinstance(node, tp.Pipe):
            return self.pipe(dot, node)
        cmd = tp.Command(pos=node.pos, src=node.name, args=(node,))
        return self.call(dot, node.name, cmd, _NOFINAL)

    def chain(
        self,
        dot: object,
        node: tp.Field | tp.Var | tp.Chain,
        args: tuple[tp.Operand, ...],
        final: object,
    ) -> object:
        """Evaluate ``.A.B``, ``$x.A.B`` or ``(pipe).A.B``; the last name gets the arguments."""
        if isinstance(node, tp.Field):
            value = dot
        else:
            value = self.var(node.name) if isinstance(node, tp.Var) else self.pipe(dot, node.pipe)
        has_args = bool(args) or final is not _NOFINAL
        for i, name in enumerate(node.names):
            value, last = self.field(value, name, node), i == len(node.names) - 1
            if callable(value) and not isinstance(value, type):  # a method
                argv = [self.arg(dot, a) for a in args] if last else []
                if last and final is not _NOFINAL:
                    argv.append(final)
                value = self.invoke(node.pos, node.src, name, value, argv)
            elif last and has_args:
                message = f"{name} has arguments but cannot be invoked as function"
                raise self.error(node.pos, node.src, message)
        if has_args and not node.names:
            message = f"can't give argument to non-function {node.src}"
            raise self.error(node.pos, node.src, message)
        return value

    def field(self, receiver: object, name: str, node: tp.Field | tp.Var | tp.Chain) -> object:
        """Field, key or method *name* of *receiver* (MISSING for a missing key)."""
        if receiver is MISSING:
            return MISSING
        if receiver is None:
            raise self.error(node.pos, node.src, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, _HeaderRow | _HeaderCell):
            return _HeaderCell.of(receiver.headers, name)
        if isinstance(receiver, Mapping):
            return receiver.get(name, MISSING)
        try:
            value = _attribute(receiver, name)
        except Exception as err:  # a property that failed
            raise self.error(node.pos, node.src, f"error calling {name}: {err}") from err
        if value is MISSING:
            message = f"can't evaluate field {name} in type {go_type(receiver)}"
            raise self.error(node.pos, node.src, message)
        return value

    def call(self, dot: object, name: str, cmd: tp.Command, final: object) -> object:
        if name in ("and", "or"):
            return self.logic(dot, name, cmd, final)
        fn = self.functions[name]
        argv = [self.arg(dot, a) for a in cmd.args[1:]]
        if final is not _NOFINAL:
            argv.append(final)
        if len(argv) < fn.min_args or (fn.max_args is not None and len(argv) > fn.max_args):
            want = str(fn.min_args) if fn.min_args == fn.max_args else f"at least {fn.min_args}"
            message = f"wrong number of args for {name}: want {want} got {len(argv)}"
            raise self.error(cmd.pos, cmd.src, message)
        argv = [None if a is MISSING else a for a in argv]  # Go passes nil for a missing value
        return self.invoke(cmd.pos, cmd.src, name, fn.call, argv)

    def logic(self, dot: object, name: str, cmd: tp.Command, final: object) -> object:
        """``and``/``or``: evaluate arguments left to right, stopping at the deciding one."""
        nodes = cmd.args[1:]
        if not nodes and final is _NOFINAL:
            message = f"wrong number of args for {name}: want at least 1 got 0"
            raise self.error(cmd.pos, cmd.src, message)
        value: object = None
        for node in nodes:
            value = self.arg(dot, node)
            if truth(value) == (name == "or"):
                return value
        return value if final is _NOFINAL else final

    def invoke(
        self, pos: int, src: str, name: str, fn: Callable[..., object], argv: list[object]
    ) -> object:
        try:
            return fn(*argv)
        except TemplateError:
            raise
        except ArgError as err:
            raise self.error(pos, src, str(err)) from err
        except Exception as err:  # a failing method or function, like Go's "error calling"
            raise self.error(pos, src, f"error calling {name}: {err}") from err


_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_PLAIN = (str, bytes, int, float, bool, list, tuple)


def _attribute(obj: object, name: str) -> object:
    """Attribute *name* of *obj*, else its snake_case form; MISSING when neither exists."""
    if name.startswith("_") or isinstance(obj, _PLAIN):
        return MISSING
    value = getattr(obj, name, MISSING)
    if value is MISSING:
        value = getattr(obj, _SNAKE.sub("_", name).lower(), MISSING)
    return value


class _HeaderRow:
    """The dot of a table header: each field is its column's header."""

    __slots__ = ("headers",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers

    def __str__(self) -> str:
        return ""


class _HeaderCell(str):
    """A column header; its own fields are headers too (``.State.Status`` -> ``STATUS``)."""

    headers: Mapping[str, str]

    @classmethod
    def of(cls, headers: Mapping[str, str], name: str) -> _HeaderCell:
        cell = cls(headers.get(name, name.upper()))
        cell.headers = headers
        return cell
