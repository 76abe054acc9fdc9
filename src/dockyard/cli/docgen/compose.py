"""``docs/compose-support.md``: which compose keys dockyard reads, from the loader's own schema.

The compose loader validates files against :data:`dockyard.compose.spec.TOP`, a tree of schema
nodes in which every key of the compose specification is either a node that checks and
normalises its value or :class:`~dockyard.compose.schema.NotSupported`, which makes the load
fail. This module walks that tree, so the matrix cannot disagree with the loader.

Paths name nested keys the way the loader's errors do: ``ports[].target`` for a key of a list
item, ``ulimits.<name>.soft`` for a key under a mapping of free names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dockyard.cli.docgen.markdown import cell, generated
from dockyard.compose import spec
from dockyard.compose.schema import ListOf, MapOf, Node, NotSupported, Obj, OneOf, Scalar


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyDoc:
    """One key: its path, whether dockyard implements it, and what it takes or why not."""

    path: str
    supported: bool
    detail: str


def keys(node: Node, prefix: str = "") -> Iterator[KeyDoc]:
    """Every key under ``node``, each followed by its own keys, names sorted."""
    if isinstance(node, Obj):
        for name in sorted(node.fields):
            child = node.fields[name]
            path = f"{prefix}.{name}" if prefix else name
            yield _describe(path, child)
            yield from keys(child, path)
    elif isinstance(node, OneOf):
        seen: set[str] = set()
        for alternative in node.alternatives:
            for key in keys(alternative, prefix):
                if key.path not in seen:
                    seen.add(key.path)
                    yield key
    elif isinstance(node, MapOf):
        yield from keys(node.value, f"{prefix}.<name>")
    elif isinstance(node, ListOf):
        yield from keys(node.item, f"{prefix}[]")


def _describe(path: str, node: Node) -> KeyDoc:
    if isinstance(node, NotSupported):
        detail = "Not supported"
        if not path.endswith(node.what.replace(" ", ".")):
            detail += f": {node.what}"
        detail += "."
        if node.accept is not None:
            detail += " A value that asks for nothing (the default) is accepted and ignored."
        if node.hint:
            detail += f" Hint: {node.hint}."
        return KeyDoc(path=path, supported=False, detail=detail)
    kind = _kind(node)
    detail = f"{kind[0].upper()}{kind[1:]}."
    choices = _choices(node)
    if choices:
        detail += " One of: " + ", ".join(f"``{c}``" for c in choices) + "."
    return KeyDoc(path=path, supported=True, detail=detail)


_PLURALS = {
    "a string": "strings",
    "an integer": "integers",
    "a boolean": "booleans",
    "a number": "numbers",
    "a string or a number": "strings or numbers",
    "a value": "values",
}


def _kind(node: Node) -> str:
    """What a value of ``node`` is, in words: ``a list of strings``."""
    if isinstance(node, ListOf):
        text = f"a list of {_plural(node.item)}"
        return f"{text} (or one alone)" if node.single else text
    if isinstance(node, MapOf):
        return f"a mapping of names to {_plural(node.value)}"
    if isinstance(node, OneOf):
        return " or ".join(dict.fromkeys(_kind(a) for a in node.alternatives))
    return node.label


def _plural(node: Node) -> str:
    if isinstance(node, OneOf):
        return " or ".join(dict.fromkeys(_plural(a) for a in node.alternatives))
    if isinstance(node, ListOf):
        return "lists"
    if node.category == "map":
        return "mappings"
    return _PLURALS.get(node.label, "values")


def _choices(node: Node) -> tuple[str, ...]:
    if isinstance(node, Scalar):
        return node.choices
    if isinstance(node, ListOf):
        return _choices(node.item)
    return ()


# Top-level mappings of named entries, each described in a section of its own.
_SECTIONS = {"services": "Services", "networks": "Networks", "volumes": "Volumes",
             "secrets": "Secrets", "configs": "Configs"}  # fmt: skip


def render() -> str:
    """The support matrix as Markdown."""
    top = spec.TOP
    out = [
        "# Compose file support",
        "",
        generated("the compose loader's schema (src/dockyard/compose/spec.py)"),
        "",
        "Every key of the compose specification, as `dockyard compose` reads it. A key marked "
        "**no** makes the file fail to load with an error naming it (never silently ignored), "
        "unless its value asks for nothing. Unknown keys are errors too, with a did-you-mean; "
        "keys starting with `x-` are extensions, accepted anywhere. What the supported keys "
        "do is described in [compose.md](compose.md).",
        "",
        "## Top-level keys",
        "",
        *_table(_top_level(top)),
    ]
    for key, title in _SECTIONS.items():
        prefix = len(f"{key}.<name>.")
        rows = [
            KeyDoc(path=k.path[prefix:], supported=k.supported, detail=k.detail)
            for k in keys(top.fields[key], key)
        ]
        out += ["", f"## {title}", "", f"The keys of each entry of `{key}`.", "", *_table(rows)]
    every = list(keys(top))
    supported = sum(k.supported for k in every)
    out += ["", f"In all: {supported} keys supported, {len(every) - supported} not supported."]
    return "\n".join(out) + "\n"


def _top_level(top: Obj) -> Iterator[KeyDoc]:
    for key in keys(top):
        section = _SECTIONS.get(key.path)
        if section is not None:
            detail = f"{key.detail} Their keys: [{section}](#{section.lower()})."
            yield KeyDoc(path=key.path, supported=key.supported, detail=detail)
        elif key.path.split(".")[0] not in _SECTIONS:
            yield key


def _table(rows: Iterable[KeyDoc]) -> list[str]:
    out = ["| Key | Supported | Value, or why not |", "| --- | --- | --- |"]
    for row in rows:
        mark = "yes" if row.supported else "**no**"
        out.append(f"| `{row.path}` | {mark} | {cell(row.detail)} |")
    return out
