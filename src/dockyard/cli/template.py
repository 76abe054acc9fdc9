"""docker's ``--format``: one Go ``text/template`` engine shared by every command.

Owns executing templates parsed by :mod:`dockyard.cli.template_parse`, docker's template
functions (``json split join title lower upper pad truncate`` on top of Go's ``index slice len
print printf println eq ne lt le gt ge and or not``), Go's default value formatting, and
docker's ``table`` formats (header row, tabwriter alignment).

Data model: ``data`` is a dataclass instance (or any object), a Mapping, a list/tuple, or a
str/int/float/bool/None. ``.Field`` on a Mapping looks up the key (a missing key gives Go's
``<no value>``); on an object it reads attribute ``Field``, else its snake_case form
(``RepoTags`` -> ``repo_tags``), calling it when it is a method. ``None`` plays Go's nil
pointer: it prints ``<nil>`` and reading a field of it is an error. Mappings print like Go maps
(``map[a:1 b:2]``, sorted keys); ``json`` keeps a Mapping's insertion order (producers that
stand in for Go structs choose docker's field order).

The module is pure and imports only the standard library: it is on the path of every ``ls``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from dockyard.cli.template_parse import (
    HINT,
    Action,
    Chain,
    Command,
    Control,
    ControlKind,
    Dot,
    Field,
    Func,
    Literal,
    Nil,
    Node,
    Operand,
    Parser,
    Pipe,
    TemplateError,
    Text,
    Var,
)

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


class _Missing:
    """Go's invalid value: what a missing map key evaluates to."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()
_NOFINAL = _Missing()  # "no value piped in from the previous command"


class _ArgError(Exception):
    """A function got an argument of the wrong type (reported without "error calling")."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


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
        return _Exec(self.text, _FUNCS, data).run(self.nodes)

    def header(self, headers: Mapping[str, str]) -> str:
        """The table header: each ``.Field`` becomes ``headers[Field]`` (else ``FIELD``).

        Like docker, string functions (``json upper truncate`` ...) pass headers through, and an
        execution error ends the header where it happened instead of failing.
        """
        run = _Exec(self.text, _HEADER_FUNCS, _HeaderRow(headers))
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
        return Template(text=text, nodes=Parser(text, _FUNCS).parse())
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


@dataclass(frozen=True, slots=True)
class _Fn:
    call: Callable[..., object]
    min_args: int
    max_args: int | None


class _Exec:
    """One execution: the variable stack and the output, like Go's ``state``."""

    def __init__(self, text: str, functions: Mapping[str, _Fn], data: object) -> None:
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
            if isinstance(node, Text):
                self.out.append(node.text)
            elif isinstance(node, Action):
                value = self.pipe(dot, node.pipe)
                if not node.pipe.decl:
                    self.out.append(show(value))
            elif isinstance(node, Control):
                mark = len(self.vars)
                try:
                    self.control(dot, node)
                finally:
                    del self.vars[mark:]
            else:
                raise _Break if node.is_break else _Continue

    def control(self, dot: object, node: Control) -> None:
        value = self.pipe(dot, node.pipe)
        if node.kind is ControlKind.RANGE:
            self.range(dot, value, node)
        elif truth(value):
            self.walk(value if node.kind is ControlKind.WITH else dot, node.body)
        else:
            self.walk(dot, node.orelse)

    def range(self, dot: object, value: object, node: Control) -> None:
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
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[mark:]

    def items(self, value: object, pipe: Pipe) -> list[tuple[object, object]]:
        if value is MISSING or value is None:
            return []
        if isinstance(value, Mapping):
            return [(key, value[key]) for key in _sorted_keys(value)]
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

    def pipe(self, dot: object, pipe: Pipe) -> object:
        value: object = _NOFINAL
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(name, value)
            else:
                self.vars.append((name, value))
        return value

    def command(self, dot: object, cmd: Command, final: object) -> object:
        first, rest = cmd.args[0], cmd.args[1:]
        if isinstance(first, Func):
            return self.call(dot, first.name, cmd, final)
        if isinstance(first, Field | Var | Chain):
            return self.chain(dot, first, rest, final)
        if rest or final is not _NOFINAL:
            raise self.error(cmd.pos, cmd.src, f"can't give argument to non-function {cmd.src}")
        if isinstance(first, Nil):
            raise self.error(cmd.pos, cmd.src, "nil is not a command")
        return self.arg(dot, first)

    def arg(self, dot: object, node: Operand) -> object:
        """Evaluate an argument of a function or method."""
        if isinstance(node, Dot):
            return dot
        if isinstance(node, Nil):
            return None
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Field | Var | Chain):
            return self.chain(dot, node, (), _NOFINAL)
        if isinstance(node, Pipe):
            return self.pipe(dot, node)
        cmd = Command(pos=node.pos, src=node.name, args=(node,))
        return self.call(dot, node.name, cmd, _NOFINAL)

    def chain(
        self, dot: object, node: Field | Var | Chain, args: tuple[Operand, ...], final: object
    ) -> object:
        """Evaluate ``.A.B``, ``$x.A.B`` or ``(pipe).A.B``; the last name gets the arguments."""
        if isinstance(node, Field):
            receiver = dot
        elif isinstance(node, Var):
            receiver = self.var(node.name)
        else:
            receiver = self.pipe(dot, node.pipe)
        if not node.names:
            if args or final is not _NOFINAL:
                raise self.error(
                    node.pos, node.src, f"can't give argument to non-function {node.src}"
                )
            return receiver
        last = len(node.names) - 1
        for i, name in enumerate(node.names):
            receiver = self.field(
                dot,
                receiver,
                name,
                node,
                args if i == last else (),
                final if i == last else _NOFINAL,
            )
        return receiver

    def field(
        self,
        dot: object,
        receiver: object,
        name: str,
        node: Field | Var | Chain,
        args: tuple[Operand, ...],
        final: object,
    ) -> object:
        has_args = bool(args) or final is not _NOFINAL
        if receiver is MISSING:
            return MISSING
        if receiver is None:
            raise self.error(node.pos, node.src, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, _HeaderRow | _HeaderCell):
            return _HeaderCell.of(receiver.headers, name)
        if isinstance(receiver, Mapping):
            if has_args:
                raise self.error(node.pos, node.src, f"{name} is not a method but has arguments")
            return receiver[name] if name in receiver else MISSING
        value = _attribute(receiver, name)
        if value is MISSING:
            message = f"can't evaluate field {name} in type {_go_type(receiver)}"
            raise self.error(node.pos, node.src, message)
        if callable(value) and not isinstance(value, type):
            argv = [self.arg(dot, a) for a in args]
            if final is not _NOFINAL:
                argv.append(final)
            return self.invoke(node.pos, node.src, name, value, argv)
        if has_args:
            message = f"{name} has arguments but cannot be invoked as function"
            raise self.error(node.pos, node.src, message)
        return value

    def call(self, dot: object, name: str, cmd: Command, final: object) -> object:
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
        return self.invoke(cmd.pos, cmd.src, name, fn.call, [_nil(a) for a in argv])

    def logic(self, dot: object, name: str, cmd: Command, final: object) -> object:
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
        except _ArgError as err:
            raise self.error(pos, src, str(err)) from err
        except Exception as err:  # a failing method or function, like Go's "error calling"
            raise self.error(pos, src, f"error calling {name}: {err}") from err


_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_PLAIN = (str, bytes, int, float, bool, list, tuple, set, frozenset)


def _attribute(obj: object, name: str) -> object:
    """Attribute *name* of *obj*, else its snake_case form; MISSING when neither exists."""
    if name.startswith("_") or isinstance(obj, _PLAIN):
        return MISSING
    value = getattr(obj, name, MISSING)
    if value is MISSING:
        value = getattr(obj, _SNAKE.sub("_", name).lower(), MISSING)
    return value


def _nil(value: object) -> object:
    return None if value is MISSING else value


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


# ---------------------------------------------------------------------------------------------
# Values as Go prints them


def truth(value: object) -> bool:
    """Go's truth: zero values, empty collections, nil and missing are false; structs true."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, str | bytes | int | float | Mapping | list | tuple | set | frozenset):
        return bool(value)
    return True


def show(value: object) -> str:
    """Go's ``%v``: ``[a b]``, ``map[k:v]`` (sorted keys), ``{f1 f2}``, ``<nil>``."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _go_float(value, "g")
    if value is None:
        return "<nil>"
    if isinstance(value, _Missing):
        return "<no value>"
    if isinstance(value, Mapping):
        pairs = (f"{show(k)}:{show(value[k])}" for k in _sorted_keys(value))
        return f"map[{' '.join(pairs)}]"
    if isinstance(value, list | tuple):
        return f"[{' '.join(map(show, value))}]"
    if isinstance(value, bytes):
        return f"[{' '.join(map(str, value))}]"
    if isinstance(value, Enum):
        return show(value.value)
    if dataclasses.is_dataclass(value) and type(value).__str__ is object.__str__:
        fields = (show(getattr(value, f.name)) for f in dataclasses.fields(value))
        return f"{{{' '.join(fields)}}}"
    return str(value)


def _sorted_keys(mapping: Mapping[object, object]) -> list[object]:
    try:
        return sorted(mapping)  # type: ignore[type-var]
    except TypeError:
        return sorted(mapping, key=lambda k: (type(k).__name__, show(k)))


def _go_type(value: object) -> str:
    names = {str: "string", bool: "bool", int: "int", float: "float64", type(None): "<nil>"}
    if type(value) in names:
        return names[type(value)]
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    return type(value).__name__


def _digits(value: float) -> tuple[str, int]:
    """Shortest round-trip digits of abs(*value*) and the exponent: 0.DIGITS x 10**exp."""
    mantissa, _, exp = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + int(exp or 0) - (len(whole + frac) - len(digits))
    return digits.rstrip("0") or "0", point


def _go_float(value: float, style: str) -> str:
    """strconv.FormatFloat(v, 'g', -1) for ``%v``, or encoding/json's choice for ``json``."""
    if value != value or value in (float("inf"), float("-inf")):
        return "NaN" if value != value else ("+Inf" if value > 0 else "-Inf")
    digits, point = _digits(value)
    sign = "-" if str(value).startswith("-") else ""
    if value == 0:
        return sign + "0"
    exp = point - 1
    if style == "json":
        exponent = not 1e-6 <= abs(value) < 1e21
    else:
        exponent = exp < -4 or exp >= 6
    if exponent:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        tail = f"e{'-' if exp < 0 else '+'}{abs(exp):02d}"
        if style == "json" and exp < 0:
            tail = f"e-{abs(exp)}"
        return sign + mant + tail
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _json(value: object) -> str:
    """docker's ``json``: Go's encoder, compact, without HTML escaping ("" if unencodable)."""
    try:
        return _encode(value)
    except ValueError:
        return ""


def _encode(value: object) -> str:
    if value is None or value is MISSING:
        return "null"
    if isinstance(value, str):
        text = json.dumps(str(value), ensure_ascii=False)
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"json: unsupported value: {_go_float(value, 'g')}")
        return _go_float(value, "json")
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_encode(show(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ",".join(map(_encode, value)) + "]"
    if isinstance(value, Enum):
        return _encode(value.value)
    for method in ("to_docker", "to_json"):
        convert = getattr(value, method, None)
        if callable(convert):
            return _encode(convert())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    return _encode(str(value))


# ---------------------------------------------------------------------------------------------
# Functions


def _str(value: object, what: str = "string") -> str:
    if isinstance(value, str):
        return value
    if value is None:
        raise _ArgError(f"invalid value; expected {what}")
    raise _ArgError(f"wrong type for value; expected {what}; got {_go_type(value)}")


def _int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _ArgError(f"wrong type for value; expected int; got {_go_type(value)}")


def _index(item: object, *indices: object) -> object:
    """Go's ``index``: ``index .Labels "k"``, ``index .List 0 1``."""
    for key in indices:
        if item is None or item is MISSING:
            raise ValueError("index of untyped nil")
        if isinstance(item, Mapping):
            if key in item:
                item = item[key]
            else:  # Go returns the map's zero value: "" for map[string]string
                item = "" if all(isinstance(v, str) for v in item.values()) else MISSING
        elif isinstance(item, list | tuple | str | bytes):
            seq = item.encode() if isinstance(item, str) else item
            if not isinstance(key, int) or isinstance(key, bool):
                raise ValueError(f"cannot index slice/array with type {_go_type(key)}")
            if not 0 <= key < len(seq):
                raise ValueError(f"index out of range: {key}")
            item = seq[key]
        else:
            raise ValueError(f"can't index item of type {_go_type(item)}")
    return item


def _slice(item: object, *indices: object) -> object:
    """Go's ``slice``: ``slice x 1 2`` is ``x[1:2]`` (strings by bytes, as in Go)."""
    if isinstance(item, str):
        if len(indices) > 2:
            raise ValueError("cannot 3-index slice a string")
        seq: bytes | Sequence[object] = item.encode()
    elif isinstance(item, list | tuple):
        seq = item
    else:
        raise ValueError(f"can't slice item of type {_go_type(item)}")
    bounds = [_int(i) for i in indices]
    start, stop = (bounds + [0, len(seq)][len(bounds) :])[:2] if bounds else (0, len(seq))
    cap = bounds[2] if len(bounds) > 2 else len(seq)
    if not 0 <= start <= stop <= cap <= len(seq):
        raise ValueError(f"invalid slice indices: {' '.join(map(str, bounds))}")
    part = seq[start:stop]
    return part.decode(errors="replace") if isinstance(part, bytes) else list(part)


def _len(item: object) -> int:
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, bytes | list | tuple | Mapping | set | frozenset):
        return len(item)
    raise ValueError(f"len of type {_go_type(item)}")


def _split(text: object, sep: object) -> list[str]:
    text, sep = _str(text), _str(sep)
    return list(text) if sep == "" else text.split(sep)


def _join(items: object, sep: object) -> str:
    if not isinstance(items, list | tuple):
        raise _ArgError(f"wrong type for value; expected []string; got {_go_type(items)}")
    return _str(sep).join(map(show, items))


def _title(text: object) -> str:
    """Go's deprecated ``strings.Title``: upper-case letters that start words; keep the rest."""
    out, prev = [], " "
    for ch in _str(text):
        boundary = not (prev.isalnum() or prev == "_") if prev.isascii() else prev.isspace()
        upper = ch.upper()
        out.append(upper if boundary and len(upper) == 1 else ch)
        prev = ch
    return "".join(out)


def _pad(text: object, left: object, right: object) -> str:
    text = _str(text)
    return f"{' ' * _int(left)}{text}{' ' * _int(right)}" if text else text


def _truncate(text: object, length: object) -> str:
    """docker's ``truncate``: the first *length* characters."""
    return _str(text)[: max(_int(length), 0)]


def _sprint(*args: object) -> str:
    """Go's ``fmt.Sprint``: a space between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(show(arg))
    return "".join(out)


def _sprintln(*args: object) -> str:
    return " ".join(map(show, args)) + "\n"


_KINDS = {bool: "bool", int: "int", float: "float", str: "string", type(None): "nil"}


def _kind(value: object) -> str:
    for cls, kind in _KINDS.items():
        if isinstance(value, cls):
            return kind
    return "other"


def _equal(a: object, b: object) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        return a == b
    if a is None or b is None:
        return False
    raise ValueError("incompatible types for comparison")


def _eq(a: object, *others: object) -> bool:
    """Go's ``eq``: true when *a* equals any of *others*."""
    return any(_equal(a, b) for b in others)


def _less(a: object, b: object) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka not in ("int", "float", "string") or kb not in ("int", "float", "string"):
        raise ValueError("invalid type for comparison")
    if ka != kb:
        raise ValueError("incompatible types for comparison")
    return a < b  # type: ignore[operator]


def _fn(call: Callable[..., object], min_args: int, max_args: int | None = None) -> _Fn:
    return _Fn(call, min_args, min_args if max_args is None else max_args)


_FUNCS: dict[str, _Fn] = {
    "json": _fn(_json, 1),
    "split": _fn(_split, 2),
    "join": _fn(_join, 2),
    "title": _fn(_title, 1),
    "lower": _fn(lambda s: _str(s).lower(), 1),
    "upper": _fn(lambda s: _str(s).upper(), 1),
    "pad": _fn(_pad, 3),
    "truncate": _fn(_truncate, 2),
    "index": _Fn(_index, 1, None),
    "slice": _fn(_slice, 1, 4),
    "len": _fn(_len, 1),
    "print": _Fn(_sprint, 0, None),
    "println": _Fn(_sprintln, 0, None),
    "printf": _Fn(lambda f, *a: sprintf(_str(f), *a), 1, None),
    "not": _fn(lambda v: not truth(v), 1),
    "and": _Fn(lambda *a: a[-1], 1, None),  # evaluated lazily by _Exec.logic
    "or": _Fn(lambda *a: a[-1], 1, None),
    "eq": _Fn(_eq, 2, None),
    "ne": _fn(lambda a, b: not _equal(a, b), 2),
    "lt": _fn(_less, 2),
    "le": _fn(lambda a, b: _less(a, b) or _equal(a, b), 2),
    "gt": _fn(lambda a, b: not (_less(a, b) or _equal(a, b)), 2),
    "ge": _fn(lambda a, b: not _less(a, b), 2),
}
# docker's HeaderFunctions: keep the header text intact (pad still pads, to stay aligned).
_HEADER_FUNCS: dict[str, _Fn] = {
    **_FUNCS,
    **{name: _fn(lambda v: v, 1) for name in ("json", "title", "lower", "upper")},
    **{name: _fn(lambda v, _: v, 2) for name in ("split", "join", "truncate")},
}


# ---------------------------------------------------------------------------------------------
# printf

_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(.?)", re.S)
_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
_QUOTE_ESCAPES |= {"\t": "\\t", "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(
                f"\\x{code:02x}"
                if code < 0x80
                else f"\\u{code:04x}"
                if code < 0x10000
                else f"\\U{code:08x}"
            )
    return '"' + "".join(out) + '"'


def sprintf(template: str, *args: object) -> str:
    """Go's ``fmt.Sprintf`` for verbs ``v s d q t x X o b c e f g %`` with flags, width, prec."""
    out: list[str] = []
    pending = list(args)
    pos = 0
    while (start := template.find("%", pos)) >= 0:
        out.append(template[pos:start])
        m = _VERB.match(template, start)
        assert m is not None  # the pattern matches any "%"
        flags, width, prec, verb = m.groups()
        pos = m.end()
        if verb == "%":
            out.append("%")
            continue
        if not verb:
            out.append("%!(NOVERB)")
            break
        sizes = [width, prec]
        for i, size in enumerate(sizes):
            if size == "*":
                star = pending.pop(0) if pending else None
                sizes[i] = (
                    str(star) if isinstance(star, int) and not isinstance(star, bool) else None
                )
        if not pending:
            out.append(f"%!{verb}(MISSING)")
            continue
        text = _format_verb(verb, flags, sizes[1], pending.pop(0))
        out.append(_fill(text, flags, int(sizes[0]) if sizes[0] else 0, verb in "dbBoxXeEfFgG"))
    out.append(template[pos:])
    if pending:
        out.append(f"%!(EXTRA {', '.join(f'{_go_type(a)}={show(a)}' for a in pending)})")
    return "".join(out)


def _fill(text: str, flags: str, width: int, numeric: bool) -> str:
    if len(text) >= width:
        return text
    if "-" in flags:
        return text + " " * (width - len(text))
    if "0" in flags and numeric:
        sign = text[:1] if text[:1] in "+-" else ""
        return sign + text[len(sign) :].rjust(width - len(sign), "0")
    return text.rjust(width)


def _format_verb(verb: str, flags: str, prec: str | None, arg: object) -> str:
    p = int(prec) if prec else (0 if prec == "" else None)
    plus = "+" if "+" in flags else (" " if " " in flags else "")
    if isinstance(arg, bool) and verb in "vt":
        return "true" if arg else "false"
    if isinstance(arg, int) and not isinstance(arg, bool) and verb in "vdbBoxXcq":
        if verb == "c":
            return chr(arg)
        if verb == "q":
            return "'" + go_quote(chr(arg))[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"
        base = {"v": "d", "d": "d", "b": "b", "B": "b", "o": "o", "x": "x", "X": "X"}[verb]
        digits = format(abs(arg), base).zfill(p or 0)
        prefix = ("0x" if verb == "x" else "0X") if "#" in flags and verb in "xX" else ""
        return ("-" if arg < 0 else plus) + prefix + digits
    if isinstance(arg, float) and verb in "veEfFgG":
        if verb in "vgG" and p is None:
            text = _go_float(arg, "g")
        else:
            text = format(arg, f".{6 if p is None else p}{'f' if verb == 'F' else verb}")
        return plus + text if plus and not text.startswith("-") else text
    if isinstance(arg, str) and verb in "vsqxX":
        if verb == "q":
            return go_quote(arg)
        if verb in "xX":
            hexed = arg.encode().hex()
            return hexed.upper() if verb == "X" else hexed
        return arg if p is None else arg[:p]
    if arg is None and verb in "vs" and verb == "v":
        return "<nil>"
    if not isinstance(arg, str | int | float | bool | type(None)) and verb in "vs":
        return show(arg)
    shown = "<nil>" if arg is None else f"{_go_type(arg)}={show(arg)}"
    return f"%!{verb}({shown})"


# ---------------------------------------------------------------------------------------------
# Tables


def _cell_width(text: str) -> int:
    """Terminal columns of *text* (wide East Asian characters count 2, combining marks 0)."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def tabwrite(text: str, *, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-terminated cells like docker's ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)``.

    A column is a run of consecutive lines that have a tab-terminated cell at that index; its
    width is the widest cell plus *padding*, at least *minwidth*. The text after a line's last
    tab is not part of any column and is not padded.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    out = [""] * len(lines)
    _format_columns(lines, [], 0, len(lines), out, (minwidth, padding))
    return "\n".join(out)


def _format_columns(
    lines: list[list[str]],
    widths: list[int],
    line0: int,
    line1: int,
    out: list[str],
    sizes: tuple[int, int],
) -> None:
    """Go's ``Writer.format``: lay out column ``len(widths)`` block by block, recursively."""
    column, this = len(widths), line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write_lines(lines, widths, line0, this, out)
        line0, width = this, sizes[0]
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, _cell_width(lines[this][column]) + sizes[1])
            this += 1
        _format_columns(lines, [*widths, width], line0, this, out, sizes)
        line0 = this
    _write_lines(lines, widths, line0, line1, out)


def _write_lines(
    lines: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str]
) -> None:
    for i in range(line0, line1):
        cells = lines[i]
        out[i] = "".join(
            cell + " " * (widths[j] - _cell_width(cell)) if j < len(widths) else cell
            for j, cell in enumerate(cells)
        )
