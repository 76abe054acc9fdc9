"""Go's text forms that docker's output is made of, without the template engine: the quoting
of ``strconv.Quote`` (:func:`go_quote`) and the column alignment of ``text/tabwriter``
(:func:`tabwrite`), which every default table uses.

Kept apart from :mod:`dockyard.cli.template_text` so that commands printing a plain table
(``ps``'s quick path) import nothing heavier than :mod:`unicodedata`.
"""

from __future__ import annotations

import unicodedata

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
            letter, width = ("x", 2) if code < 0x80 else ("u", 4) if code <= 0xFFFF else ("U", 8)
            out.append(f"\\{letter}{code:0{width}x}")
    return '"' + "".join(out) + '"'


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
