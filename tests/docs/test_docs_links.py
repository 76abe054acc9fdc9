"""Every relative link in the documentation resolves: the file or directory it names exists in
the repository, and a ``#anchor`` names a heading of the target page (GitHub's slug rules) or
an explicit ``<a id=…>``/``<a name=…>``. External ``http(s)``/``mailto`` links are not fetched.

Checked: ``README.md``, every ``docs/**/*.md`` and every ``examples/**/*.md``. Links inside
code (fenced blocks, inline code spans) are text, not links, and are skipped.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
_LINK_TEXT = r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]"  # [text], one level of nested brackets
_LINK_DEST = r"(<[^>]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)"  # <dest> or dest with (balanced)
_LINK_TITLE = r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?"
_INLINE_LINK = re.compile(_LINK_TEXT + r"\(\s*" + _LINK_DEST + _LINK_TITLE + r"\s*\)")
_REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.MULTILINE)
_HTML_LINK = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']*)["']""", re.I)
_HTML_ANCHOR = re.compile(r"""<a\b[^>]*?\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.I)
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True, slots=True)
class Link:
    """One link as written: the page holding it, its line, and its target."""

    page: Path
    line: int
    target: str


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1, with inline code spans blanked
    (kept as ``code`` so a link whose text is code still parses)."""
    out: list[tuple[int, str]] = []
    fence = ""
    for number, line in enumerate(text.splitlines(), 1):
        match = _FENCE.match(line)
        if fence:
            closes = match is not None and match.group(1)[0] == fence[0]
            if closes and len(line.strip()) >= len(fence) and not line.strip().lstrip(fence[0]):
                fence = ""
            continue
        if match:
            fence = match.group(1)
            continue
        out.append((number, line))
    return out


def _blank_code_spans(line: str) -> str:
    return _CODE_SPAN.sub("code", line)


def links(page: Path) -> list[Link]:
    """The link targets of a Markdown page (inline links and images, reference definitions,
    HTML ``href``/``src``), outside code."""
    found: list[Link] = []
    for number, raw in _prose_lines(page.read_text()):
        line = _blank_code_spans(raw)
        targets = [m.group(1) for m in _INLINE_LINK.finditer(line)]
        targets += [m.group(1) for m in _REFERENCE_DEF.finditer(line)]
        targets += [m.group(1) for m in _HTML_LINK.finditer(line)]
        for target in targets:
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            found.append(Link(page=page, line=number, target=target))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (github-slugger): the rendered text (code, links,
    emphasis and HTML reduced to their words), lower-cased, every character that is not a
    letter, digit, ``_``, ``-`` or space removed, spaces turned into ``-``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in "_- ")
    return text.replace(" ", "-")


@functools.cache
def anchors(page: Path) -> frozenset[str]:
    """Every anchor a page defines: its headings' slugs (repeats numbered ``-1``, ``-2`` … as
    GitHub does) and explicit ``<a id|name=…>`` anchors."""
    seen: Counter[str] = Counter()
    out: set[str] = set()
    previous = ""
    for _, line in _prose_lines(page.read_text()):
        out.update(_HTML_ANCHOR.findall(line))
        text: str | None = None
        atx = _ATX.match(line)
        if atx:
            text = atx.group(2) or ""
        elif previous.strip() and _SETEXT.match(line) and not _ATX.match(previous):
            text = previous
        previous = "" if atx else line
        if text is None:
            continue
        base = slug(text)
        name = base if not seen[base] else f"{base}-{seen[base]}"
        seen[base] += 1
        out.add(name)
    return frozenset(out)


def problems(link: Link, root: Path = REPO) -> str | None:
    """Why ``link`` does not resolve, or None when it does (external links always do)."""
    target = link.target.strip()
    if not target or _SCHEME.match(target) or target.startswith("//"):
        return None
    path_part, _, anchor = target.partition("#")
    path_part = unquote(path_part.split("?", 1)[0])
    if path_part.startswith("/"):
        dest = (root / path_part.lstrip("/")).resolve()
    else:
        dest = (link.page.parent / path_part).resolve() if path_part else link.page.resolve()
    where = f"{link.page.relative_to(root)}:{link.line}: {link.target}"
    if not dest.is_relative_to(root.resolve()):
        return f"{where}: points outside the repository ({dest})"
    if not dest.exists():
        return f"{where}: {dest.relative_to(root.resolve())} does not exist"
    if anchor and dest.suffix == ".md":
        defined = anchors(dest)
        if unquote(anchor) not in defined:
            close = sorted(a for a in defined if anchor.split("-")[0] in a)[:5]
            return f"{where}: no heading with anchor #{anchor} (near: {close})"
    return None


def pages(root: Path = REPO) -> list[Path]:
    return [
        root / "README.md",
        *sorted((root / "docs").rglob("*.md")),
        *sorted((root / "examples").rglob("*.md")),
    ]


# --- the check ------------------------------------------------------------------------------


def test_every_relative_link_and_anchor_resolves() -> None:
    checked = [link for page in pages() for link in links(page)]
    assert len(checked) > 50, "the link finder found almost nothing: is it broken?"
    broken = [p for link in checked if (p := problems(link)) is not None]
    assert not broken, "broken links:\n" + "\n".join(broken)


# --- the checker itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Getting started", "getting-started"),
        ("`dockyard-runtime`: the OCI runtime", "dockyard-runtime-the-oci-runtime"),
        ("Exit codes 125, 126 and 127", "exit-codes-125-126-and-127"),
        ("What `system check` proves", "what-system-check-proves"),
        ("Networking, secrets and COPY selection", "networking-secrets-and-copy-selection"),
        ("`images` / `image ls`", "images--image-ls"),
        ("See [the guide](x.md) *now*", "see-the-guide-now"),
        ("RUN --mount=type=cache", "run---mounttypecache"),
        ("snake_case stays", "snake_case-stays"),
    ],
)
def test_slugs_follow_github(heading: str, expected: str) -> None:
    assert slug(heading) == expected


def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_checker_finds_missing_files_and_anchors(tmp_path: Path) -> None:
    _write(tmp_path, "docs/b.md", "# B\n\n## Part one\n\n## Part one\n\nIntro\n=====\n")
    page = _write(
        tmp_path,
        "docs/a.md",
        "# A\n\n[ok](b.md#part-one) [ok2](b.md#part-one-1) [ok3](b.md#intro) [self](#a)\n"
        "[gone](c.md) [bad anchor](b.md#part-two) [out](../../etc/passwd)\n"
        "[web](https://example.com/missing) ![img](b.md)\n[ref]: b.md#b\n"
        "`[in code](nothere.md)`\n```\n[in a fence](nothere.md)\n```\n"
        '<a href="b.md#nope">html</a>\n',
    )
    found = links(page)
    assert [link.target for link in found] == [
        "b.md#part-one", "b.md#part-one-1", "b.md#intro", "#a", "c.md", "b.md#part-two",
        "../../etc/passwd", "https://example.com/missing", "b.md", "b.md#b", "b.md#nope",
    ]  # fmt: skip
    bad = [p for link in found if (p := problems(link, tmp_path)) is not None]
    assert len(bad) == 4, bad
    assert "c.md does not exist" in bad[0]
    assert "#part-two" in bad[1]
    assert "outside the repository" in bad[2]
    assert "#nope" in bad[3]


def test_link_text_with_code_and_titles(tmp_path: Path) -> None:
    page = _write(
        tmp_path,
        "README.md",
        "# T\n\n| [`dockyard run`](#t) | [x](<a b.md> \"title\") [y](#t 't') [z](p_(1).md)\n",
    )
    assert [link.target for link in links(page)] == ["#t", "<a b.md>"[1:-1], "#t", "p_(1).md"]
