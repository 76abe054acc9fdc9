"""Generated documentation: the CLI reference, the man pages and the compose support matrix.

``./scripts/gen-docs`` (``python -m dockyard.cli.docgen``) writes, under ``docs/``:

- ``cli.md``: every command and subcommand of ``dockyard``, then of ``dockyard-runtime``
  (:mod:`.markdown`, from the click trees, :mod:`.tree`);
- ``man/dockyard.1`` and ``man/dockyard-<command>.1``, and ``man/dockyard-runtime.1`` (one page
  for all of its verbs) (:mod:`.roff`, the same source);
- ``compose-support.md`` (:mod:`.compose`, from the compose loader's schema).

The output depends only on the code: no dates, names sorted, so the committed files can be
checked for staleness (:func:`stale`, run by ``tests/cli/test_docgen.py``).
"""

from __future__ import annotations

from pathlib import Path

import click

from dockyard.cli.docgen import compose, markdown, roff
from dockyard.cli.docgen.tree import collect

MAN_DIR = "man"
REGENERATE = "./scripts/gen-docs"
RUNTIME = "dockyard-runtime"  # the OCI runtime's command


def generate(root: click.Command, runtime: click.Command) -> dict[str, str]:
    """Relative path under ``docs/`` -> content, for the command trees under ``root`` (the
    ``dockyard`` command) and ``runtime`` (the ``dockyard-runtime`` command)."""
    docs = collect(root)
    runtime_docs = collect(runtime, prog=RUNTIME)
    out = {
        "cli.md": markdown.render(docs, runtime_docs),
        "compose-support.md": compose.render(),
        f"{MAN_DIR}/{RUNTIME}.1": roff.tool_page(runtime_docs, see_also=[docs[0].path[0]]),
    }
    out.update({f"{MAN_DIR}/{name}": page for name, page in roff.pages(docs).items()})
    return dict(sorted(out.items()))


def stale(root: click.Command, runtime: click.Command, docs_dir: Path) -> list[str]:
    """The generated files under ``docs_dir`` that are missing, differ, or are left over
    (a man page of a command that is gone), as relative paths, sorted."""
    return _differing(generate(root, runtime), docs_dir)


def write(root: click.Command, runtime: click.Command, docs_dir: Path) -> list[str]:
    """Bring ``docs_dir`` up to date: write what differs, remove left-over man pages; return
    the relative paths changed, sorted.

    Raises:
        OSError: a file cannot be written or removed.
    """
    wanted = generate(root, runtime)
    changed = _differing(wanted, docs_dir)
    for path in changed:
        target = docs_dir / path
        if path in wanted:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(wanted[path])
        else:
            target.unlink()
    return changed


def _differing(wanted: dict[str, str], docs_dir: Path) -> list[str]:
    out = [
        path
        for path, text in wanted.items()
        if not (docs_dir / path).is_file() or (docs_dir / path).read_text() != text
    ]
    out += [path for path in _man_pages(docs_dir) if path not in wanted]
    return sorted(out)


def _man_pages(docs_dir: Path) -> list[str]:
    folder = docs_dir / MAN_DIR
    if not folder.is_dir():
        return []
    return [f"{MAN_DIR}/{page.name}" for page in folder.glob("dockyard*.1")]
