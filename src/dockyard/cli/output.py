"""Printing rows the way docker does: default tables, ``--format`` templates, ``-q``, JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import click

# The template engine (a Go text/template interpreter, ~10 ms to import) is imported only for
# a --format or a row that the plain-columns path below cannot print.


def emit_rows(
    rows: Sequence[object],
    *,
    fmt: str | None,
    default: str,
    headers: Mapping[str, str],
) -> None:
    """Print ``rows`` with ``fmt`` (docker's rules), or with the ``default`` table template.

    ``table …`` prints a header and aligned columns; ``json`` prints one JSON object per row;
    any other template is rendered once per row, each followed by a newline.
    """
    text = fmt if fmt else default
    if text == "json":
        text = "{{json .}}"
    plain = _plain_table(text, rows, headers)
    if plain is not None:
        click.echo(plain, nl=False)
        return
    from dockyard.cli import template

    is_table, body = template.split_table(text)
    if is_table:
        click.echo(template.render_table(body, rows, headers), nl=False)
        return
    compiled = template.parse(body)
    for row in rows:
        click.echo(compiled.execute(row))


def _plain_table(text: str, rows: Sequence[object], headers: Mapping[str, str]) -> str | None:
    """The table template ``text`` printed without the template engine when it is ``table``
    and ``{{.Field}}`` cells between tabs (every default table) and each row's fields are str
    attributes: the same text the engine prints. None for anything else."""
    if not text.startswith("table "):
        return None
    cells = text[len("table ") :].strip(" ").replace("\\t", "\t").split("\t")
    names = [cell[3:-2] for cell in cells]
    if not all(
        cell.startswith("{{.") and cell.endswith("}}") and name.isidentifier()
        for cell, name in zip(cells, names, strict=True)
    ):
        return None
    lines = ["\t".join(headers.get(name, name.upper()) for name in names)]
    for row in rows:
        values = [getattr(row, name, None) for name in names]
        if not all(type(value) is str for value in values):
            return None
        lines.append("\t".join(values))  # type: ignore[arg-type]
    from dockyard._util.gotext import tabwrite

    return tabwrite("".join(f"{line}\n" for line in lines))


def emit_json(values: Sequence[object]) -> None:
    """Docker's inspect output: a JSON array indented with four spaces."""
    click.echo(json.dumps(list(values), indent=4, ensure_ascii=False))


def emit_each(values: Sequence[object], fmt: str) -> None:
    """``inspect --format``: the template once per object."""
    from dockyard.cli import template

    compiled = template.parse(fmt)
    for value in values:
        click.echo(compiled.execute(value))


def fail_with(errors: Sequence[str]) -> None:
    """Print each error docker-style; exit 1 when there was any (the other arguments of a
    multi-argument command were still processed)."""
    for message in errors:
        click.echo(f"Error: {message}", err=True)
    if errors:
        raise click.exceptions.Exit(1)


def emit_inspected(found: Sequence[object], errors: Sequence[str], fmt: str | None) -> None:
    """``inspect``'s output: the documents found (JSON, or ``fmt`` applied to each), then
    the errors for the arguments not found."""
    if fmt:
        emit_each(found, fmt)
    else:
        emit_json(found)
    fail_with(errors)
