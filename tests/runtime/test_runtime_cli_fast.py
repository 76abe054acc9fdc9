"""The click-free parser of the hot verbs (``runtime_main.parse_fast``) against click.

Wherever the fast parser answers, click (``runtime_commands.cli``) must parse the same argv to
the same global options and verb parameters; everything else must be left to click (None).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.cli.runtime_commands import cli
from dockyard.cli.runtime_main import Globals, VerbArgs, main, parse_fast
from dockyard.errors import InvalidArgument, Unsupported


def click_parse(argv: Sequence[str]) -> tuple[dict[str, object], str, dict[str, object]]:
    """(group params, verb, verb params) as click parses ``argv``; raises click's errors."""
    ctx = cli.make_context("dockyard-runtime", list(argv))
    # Group.invoke's own split (protected_args is deprecated in click 8.2+).
    tokens = [*ctx._protected_args, *ctx.args]
    if not tokens:
        raise click.UsageError("Missing command.")
    name, cmd, rest = cli.resolve_command(ctx, tokens)
    assert name is not None and cmd is not None
    sub = cmd.make_context(name, rest, parent=ctx)
    return ctx.params, name, sub.params


def assert_agrees(argv: Sequence[str], fast: tuple[Globals, VerbArgs]) -> None:
    group, verb, params = click_parse(argv)
    g, args = fast
    assert g.root == Path(str(group["root"])).absolute()
    assert (g.log, g.log_format, g.debug) == (group["log"], group["log_format"], group["debug"])
    assert args.verb == verb
    defaults = VerbArgs(verb=verb, container_id="")
    for f in fields(VerbArgs):
        if f.name in params:
            assert getattr(args, f.name) == params[f.name], f.name
        elif f.name not in ("verb", "container_id"):
            assert getattr(args, f.name) == getattr(defaults, f.name), f.name


FAST = [
    ["run", "c1"],
    ["--root", "/r", "run", "--bundle", "/b", "c1"],
    ["--root=/r", "--debug", "--log", "/l", "--log-format", "json", "run", "-b", "/b", "c1"],
    ["--rootless", "auto", "create", "c1", "--pid-file", "/p", "--no-pivot"],
    ["run", "-d", "--keep", "--bundle=", "c1", "--console-socket", "/s", "--preserve-fds", "3"],
    ["run", "--preserve-fds=007", "--no-new-keyring", "--detach", "c1", "-b", "x", "-b", "y"],
    ["start", "c1"],
    ["state", ""],
    ["delete", "-f", "c1"],
    ["delete", "c1", "--force"],
    ["kill", "c1"],
    ["kill", "-a", "c1", "KILL"],
    ["kill", "c1", "9", "--all"],
]

TO_CLICK = [
    [],
    ["--help"],
    ["-v"],
    ["list"],
    ["exec", "c1", "true"],
    ["run", "-h", "c1"],
    ["run", "--", "c1"],
    ["run", "-"],
    ["run", "-bX", "c1"],
    ["run", "-b=x", "c1"],
    ["run", "--keep=1", "c1"],
    ["run", "--bundle", "-x", "c1"],
    ["run", "--bundle"],
    ["run", "--preserve-fds", "x", "c1"],
    ["run", "--preserve-fds", " 2", "c1"],
    ["run", "c1", "c2"],
    ["run"],
    ["--log-format", "xml", "run", "c1"],
    ["--log-format", "JSON", "run", "c1"],
    ["delete", "-fa", "c1"],
    ["kill", "c1", "-9"],
    ["kill", "c1", "TERM", "extra"],
    ["start", "--bundle", "b", "c1"],
    ["run", "--root", "/r", "c1"],
    ["nosuchverb", "c1"],
]


@pytest.mark.parametrize("argv", FAST, ids=" ".join)
def test_fast_parser_matches_click(argv: list[str]) -> None:
    fast = parse_fast(argv)
    assert fast is not None
    assert_agrees(argv, fast)


@pytest.mark.parametrize("argv", TO_CLICK, ids=" ".join)
def test_other_forms_go_to_click(argv: list[str]) -> None:
    assert parse_fast(argv) is None


@pytest.mark.parametrize(
    "flags",
    [["--systemd-cgroup"], ["--rootless", "true"], ["--criu", "/usr/sbin/criu"]],
)
def test_unsupported_globals_refused_on_both_paths(tmp_path: Path, flags: list[str]) -> None:
    with pytest.raises(Unsupported):
        parse_fast([*flags, "state", "c1"])
    assert main(["--root", str(tmp_path), *flags, "list"]) == 1


def test_systemd_cgroup_refused_on_both_paths(tmp_path: Path) -> None:
    with pytest.raises(Unsupported):
        parse_fast(["--systemd-cgroup", "state", "c1"])
    assert main(["--root", str(tmp_path), "--systemd-cgroup", "state", "c1"]) == 1
    assert main(["--root", str(tmp_path), "--systemd-cgroup", "list"]) == 1


_TOKENS = [
    *("--root", "--root=/r", "/r", "--debug", "--log", "--log-format", "json", "text", "xml"),
    *("--rootless", "--criu", "run", "create", "start", "state", "kill", "delete", "list"),
    *("-b", "--bundle", "--bundle=", "--bundle=b", "b", "--pid-file", "--console-socket"),
    *("--preserve-fds", "--preserve-fds=1", "0", "2", "007", "-1", "--no-pivot", "-d"),
    *("--no-new-keyring", "--detach", "--keep", "-f", "--force", "-a", "--all", "KILL"),
    *("9", "c1", "--", "-", "-h", "-bX", "-fa", "--keep=1", "", "--help", "-x"),
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=9))
def test_fast_parser_never_disagrees_with_click(argv: list[str]) -> None:
    try:
        fast = parse_fast(argv)
    except (Unsupported, InvalidArgument):  # --rootless/--criu values: refused on both paths
        return
    if fast is not None:
        assert_agrees(argv, fast)
    else:  # click decides (and may refuse)
        with contextlib.suppress(click.UsageError, click.exceptions.Exit):
            click_parse(argv)


def test_fast_path_does_not_load_click(tmp_path: Path) -> None:
    code = (
        "import sys; from dockyard.cli.runtime_main import main; "
        f"rc = main(['--root', {str(tmp_path)!r}, 'delete', '--force', 'ghost']); "
        "print(rc, 'click' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False"]


def test_click_path_runs_the_same_verbs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # "--" sends delete to click; the verb and its result are the same.
    assert main(["--root", str(tmp_path), "delete", "-f", "--", "ghost"]) == 0
    assert main(["--root", str(tmp_path), "state", "--", "ghost"]) == 1
    assert "container ghost: does not exist" in capsys.readouterr().err
