"""Shell completion: ``dockyard completion bash|zsh|fish`` and the ``_DOCKYARD_COMPLETE`` protocol.

The scripts are click's: the shell calls ``dockyard`` back with ``_DOCKYARD_COMPLETE`` set
(``bash_complete``, ``zsh_complete``, ``fish_complete``) and the words typed so far, and gets
the candidates. Subcommands, options and choices come from the click tree; arguments that
name containers, images, volumes or networks get the names in the state root's database
(:data:`NAME_KINDS`). :func:`complete` answers one call; the CLI's ``main`` hands it the
variable before anything else runs, so the ``run`` path never pays for this module.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import click
from click.shell_completion import (
    BashComplete,
    CompletionItem,
    FishComplete,
    ShellComplete,
    ZshComplete,
)

COMPLETE_VAR = "_DOCKYARD_COMPLETE"
PROG_NAME = "dockyard"


class Kind(StrEnum):
    """What an argument names."""

    CONTAINER = "container"
    IMAGE = "image"
    VOLUME = "volume"
    NETWORK = "network"


_CONTAINER = frozenset({Kind.CONTAINER})
_IMAGE = frozenset({Kind.IMAGE})

# Arguments named like this name objects of that kind wherever they appear.
PARAM_KINDS: dict[str, frozenset[Kind]] = {
    "container": _CONTAINER,
    "containers": _CONTAINER,
    "image": _IMAGE,
    "network": frozenset({Kind.NETWORK}),
}

# Arguments with a generic name ("names", "refs"): (callback's module, command, argument).
NAME_KINDS: dict[tuple[str, str, str], frozenset[Kind]] = {
    ("dockyard.cli.image_cmds", "history", "name"): _IMAGE,
    ("dockyard.cli.image_cmds", "inspect", "names"): _IMAGE,
    ("dockyard.cli.image_cmds", "rmi", "names"): _IMAGE,
    ("dockyard.cli.image_cmds", "save", "names"): _IMAGE,
    ("dockyard.cli.image_cmds", "tag", "source"): _IMAGE,
    ("dockyard.cli.transfer_cmds", "push", "name"): _IMAGE,
    ("dockyard.cli.container_query", "inspect", "names"): frozenset(Kind),
    ("dockyard.cli.volume_cmds", "inspect", "names"): frozenset({Kind.VOLUME}),
    ("dockyard.cli.volume_cmds", "rm", "names"): frozenset({Kind.VOLUME}),
    ("dockyard.cli.network_cmds", "inspect", "refs"): frozenset({Kind.NETWORK}),
    ("dockyard.cli.network_cmds", "rm", "refs"): frozenset({Kind.NETWORK}),
}


def kinds_of(command: click.Command, param: click.Command | click.Parameter) -> frozenset[Kind]:
    """The kinds of objects ``param`` of ``command`` names (empty: not an argument, or none
    whose names we can list)."""
    if not isinstance(param, click.Argument) or param.name is None:
        return frozenset()
    module = getattr(command.callback, "__module__", "")
    found = NAME_KINDS.get((module, command.name or "", param.name))
    return found if found is not None else PARAM_KINDS.get(param.name, frozenset())


def names(ctx: click.Context, kinds: frozenset[Kind]) -> list[str]:
    """The names of the objects of ``kinds`` in the state root the command line selects
    (``--root``, ``DOCKYARD_ROOT``, the config files), sorted; none when it has no database
    or cannot be read."""
    from dockyard.cli.config import load_settings, override

    try:
        settings = override(load_settings(), root=ctx.find_root().params.get("root"))
        path = settings.root / "metadata.db"
        if not path.is_file():  # opening the database would create it
            return []
        return sorted(set(_read_names(path, kinds)))
    # A completion must never break the shell's prompt: a database this user cannot read
    # (sqlite3 errors), a bad config file (DockyardError) or an I/O error give no names.
    except Exception:
        return []


def _read_names(path: Path, kinds: frozenset[Kind]) -> list[str]:
    from dockyard.metadata.db import Database
    from dockyard.oci.reference import parse_reference

    db = Database(path)
    try:
        out: list[str] = []
        if Kind.CONTAINER in kinds:
            out += [ref.name for ref in db.list_containers()]
        if Kind.IMAGE in kinds:
            for image in db.list_images():
                out += [parse_reference(tag).familiar() for tag in db.refs_of(image.id, "tag")]
        if Kind.VOLUME in kinds:
            out += [volume.name for volume in db.list_volumes()]
        if Kind.NETWORK in kinds:
            out += [network.name for network in db.list_networks()]
        return out
    finally:
        db.close()


class _WithNames(ShellComplete):
    """Click's completion, plus object names for the arguments :func:`kinds_of` knows."""

    def get_completions(self, args: list[str], incomplete: str) -> list[CompletionItem[str]]:
        # click's own get_completions is these three steps; its two resolvers are private
        # but have been stable since click 8.0 (tests/cli/test_completion.py covers them).
        from click.shell_completion import _resolve_context, _resolve_incomplete

        ctx = _resolve_context(self.cli, self.ctx_args, self.prog_name, args)
        obj, incomplete = _resolve_incomplete(ctx, args, incomplete)
        items = obj.shell_complete(ctx, incomplete)
        kinds = kinds_of(ctx.command, obj)
        if items or not kinds:
            return items
        return [CompletionItem(name) for name in names(ctx, kinds) if name.startswith(incomplete)]


class _Bash(_WithNames, BashComplete):
    pass


class _Zsh(_WithNames, ZshComplete):
    pass


class _Fish(_WithNames, FishComplete):
    pass


SHELLS: dict[str, type[ShellComplete]] = {"bash": _Bash, "fish": _Fish, "zsh": _Zsh}


def script(cli: click.Command, shell: str) -> str:
    """The completion script for ``shell`` (a key of :data:`SHELLS`)."""
    return SHELLS[shell](cli, {}, PROG_NAME, COMPLETE_VAR).source()


def complete(cli: click.Command, instruction: str) -> int:
    """Answer one call of the shell's script: ``instruction`` is ``_DOCKYARD_COMPLETE``'s
    value, ``SHELL_complete`` (candidates for the words in ``COMP_WORDS``/``COMP_CWORD``) or
    ``SHELL_source`` (the script). Returns the exit code: 1 for an instruction we do not know."""
    shell, _, action = instruction.partition("_")
    cls = SHELLS.get(shell)
    if cls is None or action not in ("complete", "source"):
        return 1
    comp = cls(cli, {}, PROG_NAME, COMPLETE_VAR)
    click.echo(comp.complete() if action == "complete" else comp.source(), nl=action == "complete")
    return 0


_INSTALL = """Print a shell completion script for SHELL (bash, zsh or fish).

\b
bash: source <(dockyard completion bash)          (e.g. in ~/.bashrc)
zsh:  dockyard completion zsh > "${fpath[1]}/_dockyard"
fish: dockyard completion fish > ~/.config/fish/completions/dockyard.fish

Completes commands, options, and the names of containers, images, volumes and networks.
"""


@click.command("completion", help=_INSTALL)
@click.argument("shell", type=click.Choice(sorted(SHELLS)), metavar="SHELL")
@click.pass_context
def completion_cmd(ctx: click.Context, shell: str) -> None:
    click.echo(script(ctx.find_root().command, shell), nl=False)
