"""Generated docs: the CLI reference, the man pages, the compose support matrix; staleness."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from dockyard.cli.docgen import REGENERATE, generate, stale, write
from dockyard.cli.docgen import compose as compose_doc
from dockyard.cli.docgen.markdown import anchor, cell, inline
from dockyard.cli.docgen.roff import escape
from dockyard.cli.docgen.roff import inline as roff_inline
from dockyard.cli.docgen.tree import Block, blocks, collect
from dockyard.cli.main import cli
from dockyard.cli.runtime_commands import cli as runtime_cli
from dockyard.compose import spec
from dockyard.compose.diagnostics import ComposeUnsupported, Where
from dockyard.compose.schema import BOOL, STR, Ctx, NotSupported, Obj, Scalar

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_committed_docs_are_current(tmp_path: Path) -> None:
    """Regenerate into a temporary folder and compare with docs/."""
    written = write(cli, runtime_cli, tmp_path)
    assert "cli.md" in written and "man/dockyard.1" in written
    different = [
        path
        for path in written
        if not (DOCS / path).is_file() or (DOCS / path).read_text() != (tmp_path / path).read_text()
    ]
    left_over = sorted(
        f"man/{page.name}" for page in (DOCS / "man").glob("dockyard*.1") if f"man/{page.name}"
        not in written
    )  # fmt: skip
    assert not different + left_over, (
        f"generated docs are stale: {', '.join(different + left_over)} under docs/; "
        f"run {REGENERATE} and commit the result"
    )


def test_output_is_deterministic() -> None:
    assert generate(cli, runtime_cli) == generate(cli, runtime_cli)


def test_write_then_stale_is_empty_and_removes_left_over_pages(tmp_path: Path) -> None:
    (tmp_path / "man").mkdir()
    (tmp_path / "man" / "dockyard-gone.1").write_text("old")
    (tmp_path / "cli.md").write_text("old")
    assert stale(cli, runtime_cli, tmp_path)[:2] == ["cli.md", "compose-support.md"]
    assert "man/dockyard-gone.1" in write(cli, runtime_cli, tmp_path)
    assert not (tmp_path / "man" / "dockyard-gone.1").exists()
    assert stale(cli, runtime_cli, tmp_path) == []
    assert write(cli, runtime_cli, tmp_path) == []


@click.group()
def _toy() -> None:
    """A toy tool."""


@click.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force <it>.")
@click.option("--signal", default="TERM", help="Signal.")
@click.option("--tag", multiple=True, envvar="TOY_TAG", help="Tags.")
@click.argument("names", nargs=-1)
def _rm(force: bool, signal: str, tag: tuple[str, ...], names: tuple[str, ...]) -> None:
    """Remove things (``toy rm a|b``).

    Second paragraph,
    over two lines.

    \b
    keep   these
    lines  as-is
    \f
    Not for users.
    """


_things = click.Group("thing", help="Manage things.")
_things.add_command(_rm, "rm")
_things.add_command(_rm, "remove")
_toy.add_command(_rm, "rm")
_toy.add_command(_things)


def test_tree_documents_each_command_once_at_its_shortest_path() -> None:
    docs = collect(_toy, prog="toy")
    assert [doc.name for doc in docs] == ["toy", "toy rm", "toy thing"]
    rm = docs[1]
    assert rm.aliases == (("toy", "thing", "remove"), ("toy", "thing", "rm"))
    assert rm.usage == "toy rm [OPTIONS] [NAMES]..."
    assert rm.summary == "Remove things (``toy rm a|b``)."
    assert rm.help == (
        Block(text="Remove things (``toy rm a|b``)."),
        Block(text="Second paragraph, over two lines."),
        Block(text="keep   these\nlines  as-is", preformatted=True),
    )
    force, signal, tag = rm.options
    assert (force.names, force.default) == ("-f, --force", None)
    assert (signal.names, signal.default) == ("--signal TEXT", "TERM")
    assert (tag.repeatable, tag.envvar, tag.default) == (True, "TOY_TAG", None)
    thing = docs[2]
    assert [(e.name, e.target) for e in thing.commands] == [
        ("remove", ("toy", "rm")),
        ("rm", ("toy", "rm")),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Size (<n>k)", "Size (\\<n\\>k)"),
        ("a *b* c_d", "a \\*b\\* c\\_d"),
        ("run ``ps -a|grep x`` now", "run `ps -a|grep x` now"),
        ("unpaired `` mark", "unpaired \\`\\` mark"),
    ],
)
def test_markdown_inline(text: str, expected: str) -> None:
    assert inline(text) == expected


def test_markdown_cell_escapes_pipes_in_code_and_anchor() -> None:
    assert cell("a|b ``c|d``") == "a\\|b `c\\|d`"
    assert anchor(("dockyard", "registry", "set-visibility")) == "dockyard-registry-set-visibility"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (".starts with a dot", "\\&.starts with a dot"),
        ("'quote first", "\\&'quote first"),
        ("a\\b --opt", "a\\eb \\-\\-opt"),
        ("format 'table …'", "format 'table \\[u2026]'"),
    ],
)
def test_roff_escape(text: str, expected: str) -> None:
    assert escape(text) == expected


def test_roff_inline_code_is_bold() -> None:
    assert roff_inline("see ``ps``") == "see \\fBps\\fR"


def test_blocks_drop_empty_paragraphs() -> None:
    assert blocks("\n\nOne.\n\n\n\nTwo.\n") == (Block(text="One."), Block(text="Two."))


def _groff() -> str:
    path = shutil.which("groff")
    if path is None:
        pytest.skip("needs groff (apt-get install groff-base)")
    return path


def test_man_pages_render_without_warnings() -> None:
    groff = _groff()
    pages = {
        path: text for path, text in generate(cli, runtime_cli).items() if path.startswith("man/")
    }
    assert "man/dockyard.1" in pages and "man/dockyard-run.1" in pages
    for path, text in sorted(pages.items()):
        proc = subprocess.run(
            [groff, "-man", "-Tutf8", "-ww", "-z"], input=text.encode(), capture_output=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0 and not proc.stderr, f"{path}: {proc.stderr.decode()}"


def test_man_page_shows_options_and_see_also() -> None:
    groff = _groff()
    page = generate(cli, runtime_cli)["man/dockyard-network.1"]
    proc = subprocess.run(
        [groff, "-man", "-Tutf8", "-P", "-cbou"], input=page.encode(), capture_output=True,
        timeout=60, check=True,
    )  # fmt: skip
    text = proc.stdout.decode()
    expected = ("dockyard-network - Manage networks.", "DOCKYARD NETWORK CREATE",
                "-d, --driver TEXT", "Default: bridge.", "SEE ALSO", "dockyard(1)")  # fmt: skip
    for piece in expected:
        assert piece in text, piece


def test_the_runtime_has_one_man_page_and_a_part_of_the_reference() -> None:
    generated = generate(cli, runtime_cli)
    proc = subprocess.run(
        [_groff(), "-man", "-Tutf8", "-P", "-cbou"], capture_output=True, timeout=60, check=True,
        input=generated["man/dockyard-runtime.1"].encode(),
    )  # fmt: skip
    text = proc.stdout.decode()
    verbs = sorted(runtime_cli.list_commands(click.Context(runtime_cli)))
    assert {"create", "delete", "exec", "run", "state"} <= set(verbs)
    expected = ["dockyard-runtime - A runc-compatible OCI runtime.", "--root TEXT",
                "Default: /run/dockyard-runtime.", "dockyard(1)",
                *(f"DOCKYARD-RUNTIME {verb.upper()}" for verb in verbs)]  # fmt: skip
    for piece in expected:
        assert piece in text, piece
    assert not [path for path in generated if path.startswith("man/dockyard-runtime-")]
    reference = generated["cli.md"]
    headings = re.findall(r"^## (.+)$", reference, re.MULTILINE)
    assert [h for h in headings if h.startswith("dockyard-runtime")] == [
        "dockyard-runtime",
        *(f"dockyard-runtime {verb}" for verb in verbs),
    ]
    assert len(headings) == len(set(headings))  # no anchor named twice
    assert "[`dockyard-runtime`](#dockyard-runtime)" in reference


def test_compose_keys_walk_objects_and_mark_refused_keys() -> None:
    node = Obj({
        "mode": Scalar("str", choices=("a", "b")),
        "opts": Obj({"x": BOOL, "gpu": NotSupported("GPUs", None, "use the CPU")}),
        "name": STR,
    })  # fmt: skip
    rows = [(k.path, k.supported, k.detail) for k in compose_doc.keys(node)]
    assert rows == [
        ("mode", True, "A string. One of: ``a``, ``b``."),
        ("name", True, "A string."),
        ("opts", True, "A mapping."),
        ("opts.gpu", False, "Not supported: GPUs. Hint: use the CPU."),
        ("opts.x", True, "A boolean."),
    ]


def _service_keys(supported: bool) -> list[str]:
    prefix = "services.<name>."
    return [
        key.path.removeprefix(prefix)
        for key in compose_doc.keys(spec.TOP)
        if key.path.startswith(prefix)
        and key.supported is supported
        and "." not in key.path.removeprefix(prefix)
    ]


@pytest.mark.parametrize("key", _service_keys(supported=False))
def test_service_keys_the_matrix_refuses_are_refused_by_the_loader(key: str) -> None:
    doc = {"services": {"web": {"image": "busybox", key: "something"}}}
    with pytest.raises(ComposeUnsupported, match=re.escape(f"services.web.{key}: ")):
        spec.validate(doc, Where("compose.yaml"), Ctx(base_dir=Path("/")))


def test_matrix_lists_known_keys() -> None:
    text = compose_doc.render()
    assert "| `image` | yes | A string. |" in text
    assert "| `devices` | **no** | Not supported. |" in text
    assert "| `ports[].protocol` | yes | A string. One of: `tcp`, `udp`. |" in text
    assert len(_service_keys(supported=True)) > 40
