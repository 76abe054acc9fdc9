"""Reading one compose file's YAML: PyYAML's C parser (``CSafeLoader``), anchors and ``<<``
merge keys, duplicate keys refused (YAML says they are an error; PyYAML keeps the last), and
the compose tags ``!reset`` (drop the value inherited from an earlier file) and ``!override``
(replace it instead of merging).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.compose.diagnostics import ComposeError


@dataclass(frozen=True, slots=True)
class Reset:
    """``!reset``: the key's value from earlier files is removed."""


@dataclass(frozen=True, slots=True)
class Override:
    """``!override VALUE``: VALUE replaces the earlier files' value instead of merging."""

    value: object


def load_yaml(text: str, name: str) -> dict[str, Any]:
    """Parse ``text`` (the file ``name``) into a mapping.

    Raises:
        ComposeError: not YAML, a duplicate key, or not a mapping at the top.
    """
    import yaml

    loader = _loader_class(yaml)(text)
    try:
        doc = loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ComposeError(
            f"{name}: invalid YAML{at}: {err.problem or err.context}",
            hint="check the indentation and the quoting around that line",
        ) from None
    except yaml.YAMLError as err:
        raise ComposeError(f"{name}: invalid YAML: {err}") from None
    finally:
        loader.dispose()
    if doc is None:
        raise ComposeError(f"{name}: empty compose file", hint="define at least `services:`")
    if not isinstance(doc, dict):
        raise ComposeError(
            f"{name}: Top-level object must be a mapping", hint="start with `services:`"
        )
    _check_aliases(doc, name)
    return doc


# Values the document holds once every alias is expanded. PyYAML shares one object per anchor,
# but everything after loading (interpolation, merging, the model) copies per path, so nine
# aliases of nine aliases of ... ("billion laughs") would take exponential time and memory.
# go-yaml, which docker compose uses, refuses such documents too ("excessive aliasing").
MAX_EXPANDED = 200_000
# Nested mappings and lists: the code after loading walks them recursively, two Python frames
# a level, and libyaml's own bound (1,000) is past Python's recursion limit.
MAX_DEPTH = 100


def _check_aliases(doc: object, name: str) -> None:
    """Refuse a document whose aliases expand past MAX_EXPANDED values or refer to themselves,
    or that nests deeper than MAX_DEPTH.

    Raises:
        ComposeError: any of those.
    """
    sizes: dict[int, int] = {}  # id -> expanded values, for each container finished
    heights: dict[int, int] = {}  # id -> levels of containers in it, itself included
    open_: set[int] = set()  # containers on the current path (a cycle comes back to one)
    stack: list[tuple[object, bool, int]] = [(doc, False, 1)]
    while stack:
        node, done, depth = stack.pop()
        children = _children(node)
        # an alias of a finished value reaches as deep below here as it did where it was defined
        if depth + heights.get(id(node), 1) - 1 > MAX_DEPTH:
            raise ComposeError(
                f"{name}: values nested more than {MAX_DEPTH} levels deep",
                hint="flatten the nested mappings and lists",
            )
        if done:
            open_.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for child in children)
            heights[id(node)] = 1 + max((heights.get(id(c), 0) for c in children), default=0)
            if sizes[id(node)] > MAX_EXPANDED:
                raise ComposeError(
                    f"{name}: YAML aliases expand to more than {MAX_EXPANDED} values",
                    hint="the file looks like an alias bomb; use fewer nested anchors",
                )
            continue
        if id(node) in sizes:
            continue
        open_.add(id(node))
        stack.append((node, True, depth))
        for child in children:
            if id(child) in open_:
                raise ComposeError(f"{name}: a YAML alias refers to a value that contains it")
            if _children(child):
                stack.append((child, False, depth + 1))


def _children(node: object) -> list[object]:
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return node
    if isinstance(node, Override):
        return [node.value]
    return []


_CACHE: dict[str, type] = {}


def _loader_class(yaml: Any) -> type:
    """A CSafeLoader subclass with the compose tags and the duplicate-key check (made once)."""
    if "loader" in _CACHE:
        return _CACHE["loader"]
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[object, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = key_node.value
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"mapping key {key!r} already defined at line {seen[key] + 1}",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep=deep)

    def reset(loader: Any, node: Any) -> Reset:
        return Reset()

    def override(loader: Any, node: Any) -> Override:
        if isinstance(node, yaml.MappingNode):
            return Override(loader.construct_mapping(node, deep=True))
        if isinstance(node, yaml.SequenceNode):
            return Override(loader.construct_sequence(node, deep=True))
        return Override(loader.construct_scalar(node))

    _core_schema(Loader)
    Loader.add_constructor("!reset", reset)
    Loader.add_constructor("!override", override)
    _CACHE["loader"] = Loader
    return Loader


def _core_schema(loader: Any) -> None:
    """Plain scalars resolved as YAML 1.2's core schema, as docker compose reads them: ``80:80``
    is a string (YAML 1.1 made it the sexagesimal 4880) and ``yes``/``on`` are strings (the
    fields that want booleans accept them)."""
    import re

    loader.yaml_implicit_resolvers = {}
    rules = (
        ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
        (
            "tag:yaml.org,2002:int",
            r"[-+]?(?:0|[1-9][0-9_]*)|[-+]?0[0-7_]+|[-+]?0x[0-9a-fA-F_]+|0o[0-7]+",
            "-+0123456789",
        ),
        (
            "tag:yaml.org,2002:float",
            r"[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
            "-+0123456789.",
        ),
        ("tag:yaml.org,2002:null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:merge", r"<<", "<"),
    )
    for tag, pattern, first in rules:
        loader.add_implicit_resolver(tag, re.compile(f"^(?:{pattern})$"), list(first))


def dump_yaml(doc: object) -> str:
    """``config``'s output: block style, keys in the order given."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return str(
        yaml.dump(
            doc,
            Dumper=dumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=1000,
        )
    )
