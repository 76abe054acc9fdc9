"""Shell completion: the scripts, the ``_DOCKYARD_COMPLETE`` protocol, names from the state root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from dockyard.cli.completion import NAME_KINDS, SHELLS, Kind, kinds_of
from dockyard.cli.main import cli, main
from dockyard.metadata.db import Database
from dockyard.metadata.records import ContainerRef, ImageRecord, NetworkRecord, VolumeRecord

BIN = str(Path(sys.executable).parent)  # where the venv's dockyard console script is
IMAGE_ID = "sha256:" + "b" * 64


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DOCKYARD_ROOT", "_DOCKYARD_COMPLETE", "COMP_WORDS", "COMP_CWORD"):
        monkeypatch.delenv(name, raising=False)
    # no config file of this machine's can point the names at another root
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _complete(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], line: str
) -> list[str]:
    """What bash's script gets back for ``line`` (the last word is the one being completed)."""
    words = line.split(" ")
    monkeypatch.setenv("_DOCKYARD_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", line)
    monkeypatch.setenv("COMP_CWORD", str(len(words) - 1))
    capsys.readouterr()
    assert main([]) == 0
    out = [item for item in capsys.readouterr().out.splitlines() if item]
    assert all(item.startswith("plain,") for item in out), out
    return [item.removeprefix("plain,") for item in out]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("dockyard ne", ["network"]),
        ("dockyard vol", ["volume"]),
        ("dockyard completion ", ["bash", "fish", "zsh"]),
        ("dockyard --storage-driver ", ["overlayfs", "native"]),
        ("dockyard network c", ["connect", "create"]),
        ("dockyard registry user ", ["add", "ls", "passwd", "rm"]),
    ],
)
def test_completes_commands_and_choices(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    line: str,
    expected: list[str],
) -> None:
    assert _complete(monkeypatch, capsys, line) == expected


def test_completes_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    got = _complete(monkeypatch, capsys, "dockyard run --ne")
    assert {"--network", "--network-alias"} <= set(got)
    assert all(option.startswith("--ne") for option in got)


@pytest.fixture
def populated(state_root: Path) -> Path:
    """A state root whose database knows two containers, an image, a volume and a network."""
    db = Database(state_root / "metadata.db")
    for name, char in (("web", "a"), ("worker", "c")):
        db.add_container(ContainerRef(id=char * 64, name=name, image_id=IMAGE_ID, running=False))
    image = ImageRecord(
        id=IMAGE_ID, manifest_digest="sha256:" + "d" * 64,
        manifest_media_type="application/vnd.oci.image.manifest.v1+json",
        created=0.0, added=0.0, size=0,
    )  # fmt: skip
    db.put_image(image, [])
    db.set_ref("docker.io/library/busybox:latest", IMAGE_ID)
    db.set_ref("localhost:5000/team/app:2.0", IMAGE_ID)
    db.put_volume(VolumeRecord(name="data", driver="local", created=0.0))
    network = NetworkRecord(
        id="e" * 64, name="backend", driver="bridge", subnet="10.9.0.0/24", gateway="10.9.0.1",
        bridge="dyt-complete",
    )  # fmt: skip
    db.add_network(lambda _existing: network)
    db.close()
    return state_root


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("stop w", ["web", "worker"]),
        ("container logs we", ["web"]),
        ("exec ", ["web", "worker"]),
        ("run ", ["busybox:latest", "localhost:5000/team/app:2.0"]),
        ("rmi b", ["busybox:latest"]),
        ("image tag l", ["localhost:5000/team/app:2.0"]),
        ("volume rm ", ["data"]),
        ("network connect ", ["backend"]),
        ("network inspect b", ["backend"]),
        ("inspect ", ["backend", "busybox:latest", "data", "localhost:5000/team/app:2.0", "web",
                      "worker"]),
        ("pull ", []),  # a remote name: nothing local to offer
    ],
)  # fmt: skip
def test_completes_names_from_the_state_root(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    populated: Path,
    words: str,
    expected: list[str],
) -> None:
    assert _complete(monkeypatch, capsys, f"dockyard --root {populated} {words}") == expected
    monkeypatch.setenv("DOCKYARD_ROOT", str(populated))
    assert _complete(monkeypatch, capsys, f"dockyard {words}") == expected


def test_no_names_and_no_database_made_for_a_missing_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "nothing-here"
    assert _complete(monkeypatch, capsys, f"dockyard --root {root} stop ") == []
    assert not root.exists()


def test_unreadable_database_gives_no_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], state_root: Path
) -> None:
    (state_root / "metadata.db").write_bytes(b"this is not a database" * 100)
    assert _complete(monkeypatch, capsys, f"dockyard --root {state_root} stop ") == []


def _arguments(command: click.Command, ctx: click.Context) -> dict[tuple[str, str, str], object]:
    found: dict[tuple[str, str, str], object] = {}
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            found.update(_arguments(sub, click.Context(sub, info_name=name, parent=ctx)))
        return found
    for param in command.params:
        if isinstance(param, click.Argument) and param.name:
            key = (command.callback.__module__, command.name or "", param.name)  # type: ignore[union-attr]
            found[key] = kinds_of(command, param)
    return found


def test_name_table_matches_the_commands() -> None:
    """Every (module, command, argument) of the table exists, so a renamed one is noticed."""
    arguments = _arguments(cli, click.Context(cli, info_name="dockyard"))
    missing = sorted(set(NAME_KINDS) - set(arguments))
    assert not missing, f"NAME_KINDS names arguments that no longer exist: {missing}"
    assert arguments[("dockyard.cli.container_ops", "stop", "containers")] == {Kind.CONTAINER}
    assert arguments[("dockyard.cli.image_cmds", "import", "source")] == frozenset()


def test_unknown_shell_names_the_supported_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "tcsh"]) == 125
    err = capsys.readouterr().err
    assert "'tcsh' is not one of 'bash', 'fish', 'zsh'" in err


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_script_names_the_program_and_protocol(
    capsys: pytest.CaptureFixture[str], shell: str
) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert f"_DOCKYARD_COMPLETE={shell}_complete" in script.replace('"', "")
    assert "dockyard" in script


def _run_shell(argv: list[str], script: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    env.pop("DOCKYARD_ROOT", None)
    return subprocess.run(
        argv, input=script, capture_output=True, text=True, timeout=60, env=env, check=False
    )


def _bash_candidates(*words: str) -> list[str]:
    quoted = " ".join(f"'{w}'" for w in words)
    script = (
        "source <(dockyard completion bash)\n"
        f"COMP_WORDS=(dockyard {quoted}); COMP_CWORD={len(words)}\n"
        "_dockyard_completion dockyard\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = _run_shell(["bash", "--norc", "-s"], script)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_script_completes_in_bash() -> None:
    assert _bash_candidates("ne") == ["network"]
    network = _bash_candidates("network", "")
    assert {"create", "ls", "connect", "rm", "prune"} <= set(network)
    assert "run" not in network


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_script_parses_in_its_shell(shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"needs {shell} (apt-get install {shell})")
    script = subprocess.run(
        [sys.executable, "-m", "dockyard", "completion", shell],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    proc = _run_shell([shell, "-n"], script)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="needs fish (apt-get install fish)")
def test_fish_script_completes_in_fish() -> None:
    proc = _run_shell(
        ["fish", "--no-config", "-c",
         "dockyard completion fish | source; complete -C 'dockyard network c'"],
        "",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    names = [line.split("\t")[0] for line in proc.stdout.splitlines()]
    assert names == ["connect", "create"]
