"""``ps``'s quick path (``cli.fastps`` over ``engine.quickps``) against the full command line.

Wherever the quick path answers, it must print what ``dockyard.cli.main`` prints for the same
argv on the same state root at the same time; wherever it cannot be sure (a dead monitor to
correct, ports, files of another version, options it does not take, a config file) it must
leave the answer to the full path (None).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.engine.test_engine_listing import IMAGE_ID, NOW, make
from tests.engine.test_engine_netview import ATTACHED, BACK_NET, FRONT_NET, PORTS

from dockyard.cli import config, defaults, fastps, launch
from dockyard.cli.main import main as full_main
from dockyard.engine.container import VolumeMount
from dockyard.engine.endpoints import save_endpoints
from dockyard.engine.options import BindMount, NetworkMode, RunOptions
from dockyard.monitor import state as run_state


def write(root: Path, name: str, *, monitor_alive: bool = True, **fields: object) -> str:
    """A container's files under ``root``, as create and the monitor write them (``fields``:
    those of the listing tests' ``make``, the command recorded); its ID."""
    fields.setdefault("command", ("sh", "-c", "echo hi"))
    c = make(root / "containers", name, **fields)  # type: ignore[arg-type]
    state = c.state
    if state.status in run_state.ACTIVE:
        state.boot_id = run_state.boot_id()
        state.monitor_pid = os.getpid() if monitor_alive else 2**22 + 1
        state.monitor_start = run_state.process_start(os.getpid())
    c.dir.mkdir(parents=True)
    (c.dir / "config.json").write_bytes(c.config.to_bytes())
    (c.dir / "state.json").write_text(json.dumps(state.to_json()))
    return c.id


def fleet(root: Path) -> None:
    """Containers of every status and the column cases: long and quoted commands, wide
    characters, images by registry, digest and ID."""
    write(root, "db", status="running", started=500, age=600, labels={"tier": "data", "a": "x=y"},
          volumes=(VolumeMount(name="pgdata", destination="/var/lib/pg"),
                   VolumeMount(name="f" * 64, destination="/anon", anonymous=True)))  # fmt: skip
    write(
        root,
        "web",
        status="running",
        started=400,
        age=500,
        health="healthy",
        image="registry.example:5000/team/web:2.0",
        command=("nginx", "-g", "daemon off;"),
    )
    write(
        root,
        "job",
        status="exited",
        started=300,
        finished=200,
        exit_code=3,
        age=400,
        image="docker.io/library/busybox:latest",
        command=("sh", "-c", "exit 3"),
    )
    write(
        root,
        "cron",
        status="paused",
        started=250,
        age=300,
        health="unhealthy",
        image="busybox@sha256:" + "ef" * 32,
        command=("crond", "-f", "-d", "8"),
        options=RunOptions(cmd=("sh",), network=NetworkMode.HOST,
                           binds=(BindMount(source="/etc", destination="/host-etc"),)),
    )  # fmt: skip
    write(
        root,
        "fresh",
        status="created",
        age=200,
        image=IMAGE_ID,
        command=("/bin/echo", "日本語のテキストがとても長い", "\x1b[31m"),
    )
    write(
        root,
        "web-2",
        status="exited",
        started=150,
        finished=120,
        age=100,
        health="starting",
        image="abababababab",
    )
    write(
        root,
        "flaky",
        status="restarting",
        started=90,
        finished=2,
        exit_code=1,
        age=95,
        image="Not_A_Ref",
        command=("false",),
    )
    write(
        root,
        "gone",
        status="dead",
        started=80,
        finished=70,
        age=85,
        options=RunOptions(cmd=("sh",), network=NetworkMode.NONE),
    )
    write(root, "rm-me", status="removing", started=80, finished=70, age=84,
          options=RunOptions(cmd=("sh",), network=NetworkMode.CONTAINER),
          network_container="1" * 64)  # fmt: skip
    write(root, "same-time", status="created", age=100)  # ties in created: the ID order
    (root / "containers" / ("f" * 64)).mkdir()  # half-created: no config.json, skipped


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state root with the fleet; time frozen at NOW; no config file, no settings env."""
    for var in ("DOCKYARD_ROOT", "DOCKYARD_STORAGE_DRIVER", "DOCKYARD_BRIDGE",
                "DOCKYARD_USERLAND_PROXY", launch.COMPLETE_VAR):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(defaults, "SYSTEM_CONFIG", str(tmp_path / "etc.toml"))
    monkeypatch.setattr(config, "SYSTEM_CONFIG", tmp_path / "etc.toml")
    monkeypatch.setattr(time, "time", lambda: NOW)
    state = tmp_path / "state"
    fleet(state)
    return state


def outputs(
    argv: Sequence[str], capsys: pytest.CaptureFixture[str]
) -> tuple[tuple[int | None, str], tuple[int, str]]:
    """(quick path's code and stdout, full path's code and stdout) for ``argv``."""
    quick = fastps.run(argv)
    quick_out = capsys.readouterr().out
    code = full_main(list(argv))
    return (quick, quick_out), (code, capsys.readouterr().out)


FORMATS = [
    "{{.ID}}", "{{.Names}}", "{{.Names}}: {{.Status}} ({{.Image}})", "{{.ID}}\\t{{.Ports}}",
    "table {{.ID}}\\t{{.Names}}\\t{{.Networks}}", "table {{.Names}}\t{{.Mounts}}",
    " {{.CreatedAt}} / {{.RunningFor}}\\n{{.Labels}} ", "{{.State}} {{.Size}} {{.LocalVolumes}}",
    "table {{.Command}}\\t{{.HealthStatus}}\\t{{.Size}}", "Up: {{.Status}}",
]  # fmt: skip

PLAIN = [
    *(["ps", "-a", "--format", fmt] for fmt in FORMATS),
    ["ps", "--format", ""],
    ["ps", "--no-trunc", "--format=table {{.ID}}\\t{{.Mounts}}\\t{{.Command}}"],
    ["ps"], ["ps", "-a"], ["ps", "--all"], ["ps", "-q"], ["ps", "-aq"], ["ps", "-qa"],
    ["ps", "--no-trunc"], ["ps", "-a", "--no-trunc"], ["ps", "-aq", "--no-trunc"],
    ["ps", "-n", "3"], ["ps", "--last=2"], ["ps", "-n", "0"], ["ps", "--last", "30"],
    ["ps", "-l"], ["ps", "--latest", "-q"], ["ps", "-al", "--no-trunc"], ["container", "ls"],
    ["container", "ps", "-a"], ["container", "list", "-q", "-a"],
    ["--storage-driver", "native", "ps", "-a"], ["--storage-driver=overlayfs", "ps"],
]  # fmt: skip


@pytest.mark.parametrize("args", PLAIN, ids=" ".join)
def test_quick_path_prints_what_the_full_path_prints(
    root: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    (quick, quick_out), (code, full_out) = outputs(["--root", str(root), *args], capsys)
    assert quick == code == 0
    assert quick_out == full_out
    assert quick_out.strip()


def test_root_from_the_environment_and_relative(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_ROOT", str(root))
    (quick, quick_out), (_code, full_out) = outputs(["ps", "-a"], capsys)
    assert quick == 0 and quick_out == full_out and "db" in quick_out
    monkeypatch.chdir(root.parent)
    (quick, quick_out), (_code, full_out) = outputs(["--root", root.name, "ps", "-a"], capsys)
    assert quick == 0 and quick_out == full_out and "db" in quick_out


def test_an_empty_root_prints_the_header(tmp_path: Path, root: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    (quick, quick_out), (_code, full_out) = outputs(["--root", str(tmp_path / "new"), "ps"], capsys)
    assert quick == 0 and quick_out == full_out
    assert quick_out.split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                 "PORTS", "NAMES"]  # fmt: skip
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "args",
    [["ps", "--format", "{{.ID | printf}}"], ["ps", "--format", "json"],
     ["ps", "--format", "{{json .}}"], ["ps", "--format", "{{.Label \"tier\"}}"],
     ["ps", "--format", "table{{.ID}}"], ["ps", "--format", "table {{.ID}} {{.Names}}"],
     ["ps", "--format", "{{.Nope}}"], ["ps", "--format", "{ {{.ID}}"],
     ["ps", "--format"], ["ps", "-s"], ["ps", "--filter", "status=exited"],
     ["ps", "-f", "name=db"], ["ps", "--help"], ["ps", "extra"], ["ps", "-n"], ["ps", "-n", "x"],
     ["ps", "-n", "-1"], ["ps", "-an", "2"], ["ps", "--all=1"], ["ps", "--"], ["-D", "ps"],
     ["--log-level", "debug", "ps"], ["--storage-driver", "zfs", "ps"], ["--root", "ps"],
     ["--root", "", "ps"], ["images"], ["container", "inspect", "x"], ["ps", "--root", "/x"],
     ["container"], [], ["--root"]],
    ids=" ".join,
)  # fmt: skip
def test_other_forms_go_to_the_full_path(root: Path, args: list[str]) -> None:
    assert fastps.parse(args) is None or fastps.run(["--root", str(root), *args]) is None


def test_a_dead_monitor_is_corrected_by_the_full_path(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = write(root, "orphan", status="running", started=10, age=20, monitor_alive=False)
    argv = ["--root", str(root), "ps", "-a"]
    assert fastps.run(argv) is None
    assert full_main(argv) == 0
    assert run_state.load(str(root / "containers" / cid)).status == run_state.EXITED
    capsys.readouterr()
    (quick, quick_out), (_code, full_out) = outputs(argv, capsys)
    assert quick == 0 and quick_out == full_out and "Exited (255)" in quick_out


def _bridged(root: Path, name: str, status: str = "running", **fields: object) -> Path:
    """A container on two bridge networks publishing netview's test ports, with the
    endpoints its last start saved; its directory."""
    recorded: dict[str, object] = {
        "ports": PORTS, "exposed": ("80/tcp", "443/tcp", "7000/tcp", "7001/tcp", "53/udp"),
        "options": RunOptions(cmd=("sh",), network=NetworkMode.BRIDGE),
        "networks": (FRONT_NET, BACK_NET), **fields,
    }  # fmt: skip
    finished = 1 if status == "exited" else None
    cid = write(root, name, status=status, started=5, finished=finished, age=6, **recorded)
    directory = root / "containers" / cid
    save_endpoints(directory, ATTACHED)
    return directory


@pytest.mark.parametrize(
    "fields",
    [{}, {"exposed": ()}, {"ports": (), "exposed": ("8080/tcp",)}, {"ports": (), "exposed": ()}],
    ids=["published-and-exposed", "published", "exposed-only", "none-recorded"],
)
def test_ports_of_running_bridged_containers(
    root: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, object]
) -> None:
    _bridged(root, "served", **fields)
    _bridged(root, "stopped", status="exited")  # a stopped container shows no ports
    for args in (["ps"], ["ps", "-a", "--no-trunc"]):
        (quick, quick_out), (_code, full_out) = outputs(["--root", str(root), *args], capsys)
        assert quick == 0 and quick_out == full_out
    assert "0.0.0.0:9003->8000/tcp" in quick_out or not fields.get("ports", PORTS)


@pytest.mark.parametrize("odd", ["no-endpoints", "range-recorded", "not-json", "no-ports-key"])
def test_ports_it_cannot_read_go_to_the_full_path(root: Path, odd: str) -> None:
    exposed = ("7000-7001/tcp",) if odd == "range-recorded" else ("80/tcp",)
    directory = _bridged(root, "served", exposed=exposed)
    endpoints = directory / "endpoints.json"
    if odd == "no-endpoints":
        endpoints.unlink()
    elif odd == "not-json":
        endpoints.write_text("[")
    elif odd == "no-ports-key":
        endpoints.write_text('[{"endpoint": {}, "network": "front"}]')
    assert fastps.run(["--root", str(root), "ps", "-q"]) == 0  # no PORTS column
    expected = 0 if odd == "no-ports-key" else None  # no ports recorded: shown as none
    assert fastps.run(["--root", str(root), "ps"]) == expected


@pytest.mark.parametrize(
    "damage",
    [
        "version",
        "no-command",
        "not-json",
        "bad-created",
        "bad-state",
        "name-type",
        "monitor-pid-type",
    ],
)
def test_files_it_cannot_read_go_to_the_full_path(root: Path, damage: str) -> None:
    cid = write(root, "odd", status="exited", started=5, finished=1, age=6)
    path = root / "containers" / cid / "config.json"
    doc = json.loads(path.read_bytes())
    if damage == "version":
        doc["version"] = 2
    elif damage == "no-command":
        doc["command"] = []
    elif damage == "bad-created":
        doc["created"] = "yesterday"
    elif damage == "name-type":
        doc["name"] = 7
    path.write_text("{" if damage == "not-json" else json.dumps(doc))
    if damage == "bad-state":
        (path.parent / "state.json").write_text('{"version": 9}')
    if damage == "monitor-pid-type":
        state = json.loads((path.parent / "state.json").read_bytes())
        state.update(status="running", monitor_pid="x", boot_id=run_state.boot_id())
        (path.parent / "state.json").write_text(json.dumps(state))
    assert fastps.run(["--root", str(root), "ps", "-a"]) is None


@pytest.mark.parametrize(
    ("var", "value", "quick"),
    [("DOCKYARD_BRIDGE", "br-test0", True), ("DOCKYARD_BRIDGE", "bad/name", False),
     ("DOCKYARD_BRIDGE", "a" * 16, False), ("DOCKYARD_STORAGE_DRIVER", "native", True),
     ("DOCKYARD_STORAGE_DRIVER", "zfs", False), ("DOCKYARD_USERLAND_PROXY", "TRUE", True),
     ("DOCKYARD_USERLAND_PROXY", "yes", False), ("DOCKYARD_BRIDGE", "", True)],
)  # fmt: skip
def test_settings_the_full_path_rejects_go_to_it(
    root: Path, monkeypatch: pytest.MonkeyPatch, var: str, value: str, quick: bool
) -> None:
    monkeypatch.setenv(var, value)
    assert defaults.checked_env_valid() is quick
    loads = True
    try:
        config.load_settings()
    except Exception:  # any refusal of the full path
        loads = False
    assert loads is quick
    assert (fastps.run(["--root", str(root), "ps"]) is not None) is quick


@pytest.mark.parametrize("where", ["system", "user"])
def test_a_config_file_goes_to_the_full_path(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    path = tmp_path / "etc.toml" if where == "system" else tmp_path / "xdg/dockyard/config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'root = "{root}"\n')
    assert fastps.run(["ps"]) is None


def test_a_closed_stdout_exits_1(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Closed:
        def write(self, text: str) -> int:
            raise BrokenPipeError

        def flush(self) -> None:
            raise BrokenPipeError

    monkeypatch.setattr("sys.stdout", Closed())
    assert fastps.run(["--root", str(root), "ps"]) == 1


def test_the_launcher_takes_the_quick_path_only_for_ps(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[list[str]] = []

    def full(argv: list[str]) -> int:
        calls.append(argv)
        return 0

    monkeypatch.setattr("dockyard.cli.main.main", full)
    assert launch.main(["--root", str(root), "ps", "-q"]) == 0
    assert calls == [] and len(capsys.readouterr().out.split()) == 4
    assert launch.main(["--root", str(root), "ps", "--format", "{{json .}}"]) == 0
    assert launch.main(["--root", str(root), "images"]) == 0
    monkeypatch.setenv(launch.COMPLETE_VAR, "bash_complete")
    assert launch.main(["ps"]) == 0
    assert calls == [
        ["--root", str(root), "ps", "--format", "{{json .}}"],
        ["--root", str(root), "images"],
        ["ps"],
    ]


def test_the_quick_path_stays_light(tmp_path: Path, root: Path) -> None:
    """What made ``ps`` slow must stay out of its quick path (each costs milliseconds; an
    image named with a registry or digest alone needs the reference parser)."""
    light = tmp_path / "light"
    write(light, "db", status="running", started=5, age=6)
    write(light, "job", status="exited", started=5, finished=1, age=6, image="busybox:1.36")
    _bridged(light, "web")  # PORTS from its endpoints
    code = (
        "import sys\n"
        "from dockyard.cli import launch\n"
        f"assert launch.main(['--root', {str(light)!r}, 'ps', '-a']) == 0\n"
        "heavy = {'click', 'dataclasses', 'json', 'pathlib', 'typing', 'datetime', 'sqlite3'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    run = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    assert run.stdout.decode().count("\n") == 4 and "->8000/tcp" in run.stdout.decode()


WORDS = ["ps", "container", "ls", "-a", "-q", "-l", "-aq", "-n", "2", "--last=1", "--no-trunc",
         "--all", "--root", "--format", "{{.Names}}", "-s", "x", "--quiet", "table",
         "table {{.ID}}\\t{{.State}}", "{{.Mounts}}|{{.Labels}}", "json"]  # fmt: skip


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(WORDS), max_size=6))
def test_wherever_the_quick_path_answers_it_agrees(root: Path, words: list[str]) -> None:
    """Random command lines: a quick answer is the full path's answer."""
    argv = ["--root", str(root), *words]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        quick = fastps.run(argv)
    if quick is None:
        return
    with contextlib.redirect_stdout(io.StringIO()) as full:
        code = full_main(argv)
    assert (quick, out.getvalue()) == (code, full.getvalue())


def test_an_unreadable_containers_directory_goes_to_the_full_path(
    tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "containers").write_text("not a directory")
    argv = ["--root", str(broken), "ps"]
    assert fastps.run(argv) is None
    assert full_main(argv) == 125
    assert "containers" in capsys.readouterr().err
