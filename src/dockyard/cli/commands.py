"""Which module defines each command, so ``dockyard run`` imports the run path only.

Importing every command module costs ~100 ms (the image importer, archives, volumes ...);
:class:`LazyGroup` imports a command's module when the command is called (or listed by
``--help``). Names follow docker: top-level verbs and the management groups.
"""

from __future__ import annotations

import importlib

import click

_C = "dockyard.cli.container_cmds"
_O = "dockyard.cli.container_ops"
_Q = "dockyard.cli.container_query"
_I = "dockyard.cli.image_cmds"
_S = "dockyard.cli.system_cmds"
_V = "dockyard.cli.volume_cmds"
_N = "dockyard.cli.network_cmds"
_T = "dockyard.cli.transfer_cmds"

CONTAINER = {
    "create": f"{_C}:create_cmd", "run": f"{_C}:run_cmd", "start": f"{_C}:start_cmd",
    "attach": f"{_C}:attach_cmd", "exec": f"{_C}:exec_cmd", "stop": f"{_O}:stop_cmd",
    "kill": f"{_O}:kill_cmd", "restart": f"{_O}:restart_cmd", "rm": f"{_O}:rm_cmd",
    "remove": f"{_O}:rm_cmd", "wait": f"{_O}:wait_cmd", "pause": f"{_O}:pause_cmd",
    "unpause": f"{_O}:unpause_cmd", "rename": f"{_O}:rename_cmd", "logs": f"{_O}:logs_cmd",
    "prune": f"{_O}:prune_cmd", "ls": f"{_Q}:ps_cmd", "list": f"{_Q}:ps_cmd",
    "ps": f"{_Q}:ps_cmd", "inspect": f"{_Q}:inspect_cmd", "top": f"{_Q}:top_cmd",
    "stats": f"{_Q}:stats_cmd", "port": f"{_Q}:port_cmd", "cp": "dockyard.cli.fs_cmds:cp_cmd",
    "diff": "dockyard.cli.fs_cmds:diff_cmd", "export": "dockyard.cli.fs_cmds:export_cmd",
    "commit": "dockyard.cli.commit_cmd:commit_cmd", "update": f"{_Q}:update_cmd",
}  # fmt: skip

IMAGE = {
    "ls": f"{_I}:images_cmd", "list": f"{_I}:images_cmd", "inspect": f"{_I}:inspect_cmd",
    "history": f"{_I}:history_cmd", "tag": f"{_I}:tag_cmd", "rm": f"{_I}:rmi_cmd",
    "remove": f"{_I}:rmi_cmd", "prune": f"{_I}:prune_cmd", "import": f"{_I}:import_cmd",
    "save": f"{_I}:save_cmd", "load": f"{_I}:load_cmd",
    "pull": f"{_T}:pull_cmd", "push": f"{_T}:push_cmd",
}  # fmt: skip

VOLUME = {
    "create": f"{_V}:create_cmd", "ls": f"{_V}:ls_cmd", "list": f"{_V}:ls_cmd",
    "inspect": f"{_V}:inspect_cmd", "rm": f"{_V}:rm_cmd", "remove": f"{_V}:rm_cmd",
    "prune": f"{_V}:prune_cmd",
}  # fmt: skip

NETWORK = {
    "create": f"{_N}:create_cmd", "ls": f"{_N}:ls_cmd", "list": f"{_N}:ls_cmd",
    "inspect": f"{_N}:inspect_cmd", "rm": f"{_N}:rm_cmd", "remove": f"{_N}:rm_cmd",
    "prune": f"{_N}:prune_cmd", "connect": "dockyard.cli.network_connect:connect_cmd",
    "disconnect": "dockyard.cli.network_connect:disconnect_cmd",
}  # fmt: skip

_R = "dockyard.cli.registry_cmds"
REGISTRY = {
    "serve": f"{_R}:serve_cmd", "gc": f"{_R}:gc_cmd", "check": f"{_R}:check_cmd",
    "user": f"{_R}:user_group", "team": f"{_R}:team_group", "grant": f"{_R}:grant_cmd",
    "revoke": f"{_R}:revoke_cmd", "grants": f"{_R}:grants_cmd", "repo": f"{_R}:repo_group",
}  # fmt: skip

SYSTEM = {
    "df": f"{_S}:df_cmd", "check": f"{_S}:check_cmd", "info": f"{_S}:info_cmd",
    "prune": f"{_S}:prune_cmd",
}  # fmt: skip

_TOP_FROM_CONTAINER = (
    "create", "run", "start", "attach", "exec", "stop", "kill", "restart", "rm", "wait",
    "pause", "unpause", "rename", "logs", "ps", "top", "stats", "port", "cp", "diff",
    "export", "commit", "update",
)  # fmt: skip

TOP = {
    **{name: CONTAINER[name] for name in _TOP_FROM_CONTAINER},
    "images": f"{_I}:images_cmd", "history": f"{_I}:history_cmd", "tag": f"{_I}:tag_cmd",
    "rmi": f"{_I}:rmi_cmd", "import": f"{_I}:import_cmd", "save": f"{_I}:save_cmd",
    "load": f"{_I}:load_cmd", "inspect": f"{_Q}:any_inspect_cmd",
    "version": f"{_S}:version_cmd", "info": f"{_S}:info_cmd",
    "build": "dockyard.cli.build_cmd:build_cmd",
    "compose": "dockyard.cli.compose_cmds:compose_group",
    "pull": f"{_T}:pull_cmd", "push": f"{_T}:push_cmd", "login": f"{_T}:login_cmd",
    "logout": f"{_T}:logout_cmd", "search": f"{_T}:search_cmd",
    "completion": "dockyard.cli.completion:completion_cmd",
}  # fmt: skip

GROUPS = {
    "container": ("Manage containers.", CONTAINER),
    "image": ("Manage images.", IMAGE),
    "volume": ("Manage volumes.", VOLUME),
    "network": ("Manage networks.", NETWORK),
    "system": ("Manage dockyard.", SYSTEM),
    "registry": ("Run and manage a registry server.", REGISTRY),
}


class LazyGroup(click.Group):
    """A click group whose commands are ``module:attribute`` strings, imported on use."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


def add_groups(cli: click.Group) -> None:
    """Add the management groups (``container``, ``image`` ...) to ``cli``."""
    for name, (help_text, table) in GROUPS.items():
        cli.add_command(LazyGroup(name, help=help_text, lazy=table))
