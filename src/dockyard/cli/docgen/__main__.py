"""``python -m dockyard.cli.docgen [--check] [DOCS_DIR]``: write (or check) the generated docs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dockyard.cli.docgen import REGENERATE, stale, write


@click.command()
@click.option("--check", is_flag=True, help="Write nothing; fail if a generated file is stale.")
@click.argument("docs_dir", default="docs", type=click.Path(file_okay=False, path_type=Path))
def gen_docs(check: bool, docs_dir: Path) -> None:
    """Generate the CLI references, the man pages and the compose support matrix in DOCS_DIR."""
    from dockyard.cli.main import cli
    from dockyard.cli.runtime_commands import cli as runtime_cli

    if check:
        old = stale(cli, runtime_cli, docs_dir)
        for path in old:
            click.echo(f"stale: {docs_dir / path}", err=True)
        if old:
            click.echo(f"Hint: run {REGENERATE} and commit the result", err=True)
            sys.exit(1)
        return
    for path in write(cli, runtime_cli, docs_dir):
        done = "wrote" if (docs_dir / path).exists() else "removed"
        click.echo(f"{done} {docs_dir / path}")


if __name__ == "__main__":
    gen_docs(prog_name="gen-docs")
