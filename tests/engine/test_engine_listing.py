"""``ps``: rows (docker's column texts at a fixed time), filters and -a/-n/-l selection."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dockyard._util.gotext import go_quote
from dockyard._util.rfc3339 import format_nano
from dockyard.cli import template
from dockyard.engine.container import ContainerConfig, VolumeMount
from dockyard.engine.listing import Filters, parse_filters, row, select, size_text
from dockyard.engine.options import BindMount, NetworkMode, RunOptions
from dockyard.engine.pstext import ellipsis, image_text, status_text
from dockyard.engine.store import Container
from dockyard.errors import InvalidArgument, NotFound, Unsupported
from dockyard.monitor.state import RunState
from dockyard.oci.containerconfig import ContainerConfig as ImageDefaults
from dockyard.oci.image import ImageConfig

NOW = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
IMAGE_ID = "sha256:" + "ab" * 32
OTHER_IMAGE_ID = "sha256:" + "cd" * 32
IMAGE = ImageConfig("amd64", "linux", config=ImageDefaults(cmd=("sh",)))


def at(seconds_ago: float) -> str:
    return format_nano(NOW - seconds_ago)


def make(
    tmp_path: Path,
    name: str,
    *,
    status: str = "created",
    age: float = 100.0,
    started: float | None = None,
    finished: float | None = None,
    exit_code: int = 0,
    health: str | None = None,
    cid: str = "",
    **config: object,
) -> Container:
    """A container in memory: created ``age`` seconds before NOW, started/finished
    ``started``/``finished`` seconds before NOW (None: never)."""
    cid = cid or (name.encode().hex() * 64)[:64]
    base = ContainerConfig(
        id=cid,
        name=name,
        created=at(age),
        image="busybox",
        image_id=IMAGE_ID,
        snapshot=f"container-{cid}",
        options=RunOptions(cmd=("sh", "-c", "echo hi")),
    )
    state = RunState()
    state.status = status
    state.started_at = at(started) if started is not None else ""
    state.finished_at = at(finished) if finished is not None else ""
    state.exit_code = exit_code
    if health is not None:
        state.health = {"Status": health, "FailingStreak": 0, "Log": []}
    cfg = dataclasses.replace(base, **config)  # type: ignore[arg-type]
    return Container(config=cfg, state=state, dir=tmp_path / cid)


# Status and State ----------------------------------------------------------------------------

STATUS_CASES = [
    # (status, started s ago, finished s ago, exit code, health, docker's Status)
    ("created", None, None, 0, None, "Created"),
    ("running", 5, None, 0, None, "Up 5 seconds"),
    ("running", 0.2, None, 0, None, "Up Less than a second"),
    ("running", 1, None, 0, None, "Up 1 second"),
    ("running", 90, None, 0, None, "Up About a minute"),
    ("running", 7200, None, 0, None, "Up 2 hours"),
    ("running", 5, None, 0, "healthy", "Up 5 seconds (healthy)"),
    ("running", 5, None, 0, "unhealthy", "Up 5 seconds (unhealthy)"),
    ("running", 5, None, 0, "starting", "Up 5 seconds (health: starting)"),
    ("paused", 150, None, 0, None, "Up 2 minutes (Paused)"),
    ("paused", 150, None, 0, "healthy", "Up 2 minutes (Paused)"),
    ("exited", 60, 3, 0, None, "Exited (0) 3 seconds ago"),
    ("exited", 60, 3, 137, None, "Exited (137) 3 seconds ago"),
    ("exited", 9000, 4 * 86400, 1, None, "Exited (1) 4 days ago"),
    ("exited", None, None, 127, None, "Created"),  # never started (a failed start)
    ("restarting", 60, 2, 1, None, "Restarting (1) 2 seconds ago"),
    ("removing", 60, 2, 0, None, "Removal In Progress"),
    ("dead", 60, 2, 0, None, "Dead"),
]


@pytest.mark.parametrize(("status", "started", "finished", "code", "health", "want"), STATUS_CASES)
def test_status_text(
    tmp_path: Path,
    status: str,
    started: float | None,
    finished: float | None,
    code: int,
    health: str | None,
    want: str,
) -> None:
    c = make(tmp_path, "c1", status=status, started=started, finished=finished,
             exit_code=code, health=health)  # fmt: skip
    assert status_text(c.state, NOW) == want
    r = row(c, image=IMAGE, now=NOW)
    assert (r.Status, r.State) == (want, status)


# row fields ----------------------------------------------------------------------------------


def test_row_defaults(tmp_path: Path) -> None:
    c = make(tmp_path, "web", status="running", started=5, age=3600 * 3)
    r = row(c, image=IMAGE, now=NOW)
    assert c.id[:12] == r.ID
    assert r.Image == "busybox"
    assert r.Command == "\"sh -c 'echo hi'\""
    assert r.CreatedAt == "2027-01-15 05:00:00 +0000 UTC"
    assert r.RunningFor == "3 hours ago"
    assert (r.Ports, r.Names, r.Networks, r.Size) == ("", "web", "bridge", "0B")
    assert (r.Labels, r.Mounts, r.LocalVolumes, r.HealthStatus) == ("", "", "0", "")


def test_row_no_trunc(tmp_path: Path) -> None:
    c = make(tmp_path, "web", options=RunOptions(cmd=("sleep", "1000000000000000000000")))
    assert row(c, image=IMAGE, now=NOW).Command == '"sleep 1000000000000…"'
    full = row(c, image=IMAGE, now=NOW, no_trunc=True)
    assert c.id == full.ID
    assert full.Command == '"sleep 1000000000000000000000"'


COMMAND_CASES = [
    # (image entrypoint, image cmd, options, expected Command)
    (None, ("sh",), RunOptions(), '"sh"'),
    (None, ("sh",), RunOptions(cmd=("echo", "a b")), "\"echo 'a b'\""),
    (("/entry.sh",), ("serve",), RunOptions(), '"/entry.sh serve"'),
    (("/entry.sh",), ("serve",), RunOptions(cmd=("x",)), '"/entry.sh x"'),
    (("/entry.sh",), ("serve",), RunOptions(entrypoint=("top",)), '"top"'),
    (None, None, RunOptions(), '""'),
    (None, ("sh",), RunOptions(cmd=("echo", 'say "hi"\\n')), '"echo \'say \\"hi\\"\\\\n\'"'),
]


@pytest.mark.parametrize(("entrypoint", "cmd", "options", "want"), COMMAND_CASES)
def test_row_command(
    tmp_path: Path,
    entrypoint: tuple[str, ...] | None,
    cmd: tuple[str, ...] | None,
    options: RunOptions,
    want: str,
) -> None:
    image = ImageConfig("amd64", "linux", config=ImageDefaults(entrypoint=entrypoint, cmd=cmd))
    c = make(tmp_path, "c1", options=options)
    assert row(c, image=image, now=NOW, no_trunc=True).Command == want


def test_row_command_without_image_uses_options_only(tmp_path: Path) -> None:
    c = make(tmp_path, "c1", options=RunOptions())
    assert row(c, image=None, now=NOW).Command == '""'


@pytest.mark.parametrize(
    ("text", "width", "want"),
    [
        ("short", 20, "short"),
        ("exactly twenty chars", 20, "exactly twenty chars"),
        ("twenty-one characters", 20, "twenty-one characte…"),
        ("日本語のコマンドを実行する", 20, "日本語のコマンドを…"),
        ("abc", 1, "a"),
        ("abc", 0, ""),
    ],
)
def test_ellipsis(text: str, width: int, want: str) -> None:
    assert ellipsis(text, width) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [("a b", '"a b"'), ('"q"', '"\\"q\\""'), ("t\tn\n", '"t\\tn\\n"'), ("\x01", '"\\x01"'),
     ("é…", '"é…"'), ("\u200b", '"\\u200b"')],
)  # fmt: skip
def test_go_quote(text: str, want: str) -> None:
    assert go_quote(text) == want


@pytest.mark.parametrize(
    ("image", "trunc", "want"),
    [
        ("busybox", True, "busybox"),
        ("busybox:1.36", True, "busybox:1.36"),
        ("docker.io/library/busybox:latest", True, "busybox:latest"),
        ("busybox@sha256:" + "ef" * 32, True, "busybox"),
        ("busybox:1.36@sha256:" + "ef" * 32, True, "busybox:1.36"),
        ("docker.io/library/busybox:latest", False, "docker.io/library/busybox:latest"),
        ("localhost:5000/app:v1", True, "localhost:5000/app:v1"),
        (IMAGE_ID, True, "ab" * 6),
        ("abababababab", True, "ab" * 6),
        ("", True, "<no image>"),
        ("Not_A_Ref", True, "Not_A_Ref"),
    ],
)
def test_image_text(image: str, trunc: bool, want: str) -> None:
    assert image_text(image, IMAGE_ID, trunc) == want


@pytest.mark.parametrize(
    ("size", "want"),
    [(None, "0B"), ((0, 0), "0B"), ((2, 21_500_000), "2B (virtual 21.5MB)"),
     ((0, 4_261_000), "0B (virtual 4.26MB)"), ((123_456, 0), "123kB"),
     ((999_999, 1), "1e+03kB (virtual 1B)")],
)  # fmt: skip
def test_size_text(size: tuple[int, int] | None, want: str) -> None:
    assert size_text(size) == want


def test_row_labels_mounts_networks(tmp_path: Path) -> None:
    c = make(
        tmp_path,
        "c1",
        labels={"z": "1", "a": "x=y"},
        volumes=(
            VolumeMount(name="data", destination="/data"),
            VolumeMount(name="f" * 64, destination="/anon", anonymous=True),
        ),
        options=RunOptions(
            cmd=("sh",),
            binds=(BindMount(source="/srv/www", destination="/var/www"),),
            network=NetworkMode.HOST,
        ),
    )
    r = row(c, image=IMAGE, now=NOW, size=(1000, 5_000_000))
    assert r.Labels == "a=x=y,z=1"
    assert r.Mounts == "ffffffffffffff…,data,/srv/www"  # by destination: /anon, /data, /var/www
    assert row(c, image=IMAGE, now=NOW, no_trunc=True).Mounts == f"{'f' * 64},data,/srv/www"
    assert (r.LocalVolumes, r.Networks, r.Size) == ("2", "host", "1kB (virtual 5MB)")
    assert (r.Label("a"), r.Label("missing")) == ("x=y", "")


def test_row_renders_through_templates(tmp_path: Path) -> None:
    c = make(tmp_path, "c1", labels={"com.example": "v"}, status="running", started=5,
             health="healthy")  # fmt: skip
    r = row(c, image=IMAGE, now=NOW)
    assert template.render('{{.Names}} {{.Label "com.example"}} {{.HealthStatus}}', r) == (
        "c1 v healthy"
    )
    rendered = template.render("{{json .}}", r)
    assert rendered.startswith('{"Command":"\\"sh -c \'echo hi\'\\"","CreatedAt":')
    assert '"State":"running","Status":"Up 5 seconds (healthy)"}' in rendered
    assert "label_map" not in rendered


# filters -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["status"], "bad format of filter (expected name=value): status"),
        (["colour=red"], "invalid filter 'colour'"),
        (["status=sleeping"], "invalid filter 'status=sleeping'"),
        (["health=sick"], "invalid filter 'health=sick'"),
        (["exited=zero"], "invalid filter 'exited=zero'"),
        (["exited=1.5"], "invalid filter 'exited=1.5'"),
    ],
)
def test_parse_filters_rejects(items: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_filters(items)
    assert err.value.message == message


def test_parse_filters_unsupported_and_resolver() -> None:
    with pytest.raises(Unsupported):
        parse_filters(["publish=80"])
    with pytest.raises(ValueError, match="resolve_image"):
        parse_filters(["ancestor=busybox"])


def test_parse_filters_normalises() -> None:
    f = parse_filters([" Status = running", "status=running", "name=a", "name=b", "exited=-1",
                       "before=x", "before=y"])  # fmt: skip
    assert f == Filters(status=frozenset({"running"}), name=("a", "b"),
                        exited=frozenset({-1}), before="y")  # fmt: skip
    resolved = parse_filters(
        ["ancestor=busybox", "ancestor=nope"],
        resolve_image=lambda ref: IMAGE_ID if ref == "busybox" else None,
    )
    assert resolved.ancestor == frozenset({"ab" * 32})


@pytest.fixture
def fleet(tmp_path: Path) -> list[Container]:
    """Six containers, oldest first: ages 600 … 100 seconds."""
    return [
        make(tmp_path, "db", status="running", started=500, age=600, labels={"tier": "data"},
             volumes=(VolumeMount(name="pgdata", destination="/var/lib/pg"),),
             cid="1" * 64),
        make(tmp_path, "web", status="running", started=400, age=500, health="healthy",
             labels={"tier": "front", "env": "prod"}, cid="2" * 64),
        make(tmp_path, "job", status="exited", started=300, finished=200, exit_code=3, age=400,
             labels={"env": "prod"}, cid="3" * 64),
        make(tmp_path, "cron", status="paused", started=250, age=300, health="unhealthy",
             image_id=OTHER_IMAGE_ID, image="alpine", cid="4" * 64,
             options=RunOptions(cmd=("sh",), network=NetworkMode.HOST,
                                binds=(BindMount(source="/etc", destination="/host-etc"),))),
        make(tmp_path, "fresh", status="created", age=200, cid="5" * 64),
        make(tmp_path, "web-2", status="exited", started=150, finished=120, exit_code=0,
             age=100, health="starting", cid="6" * 64),
    ]  # fmt: skip


SELECT_CASES = [
    # (filters, flags, expected names newest first)
    ([], {}, ["cron", "web", "db"]),
    ([], {"all_": True}, ["web-2", "fresh", "cron", "job", "web", "db"]),
    ([], {"last": 2}, ["web-2", "fresh"]),
    ([], {"last": 0}, ["cron", "web", "db"]),
    ([], {"latest": True}, ["web-2"]),
    (["status=exited"], {}, ["web-2", "job"]),
    (["status=exited", "status=created"], {}, ["web-2", "fresh", "job"]),
    (["status=running"], {"latest": True}, ["web"]),
    (["name=web"], {"all_": True}, ["web-2", "web"]),
    (["name=^web$"], {"all_": True}, ["web"]),
    (["name=^/web$"], {"all_": True}, ["web"]),
    (["name=db", "name=cron"], {}, ["cron", "db"]),
    (["name=["], {"all_": True}, []),
    (["id=" + "3" * 5], {"all_": True}, ["job"]),
    (["id=" + "2" * 64], {}, ["web"]),
    (["label=env"], {"all_": True}, ["job", "web"]),
    (["label=env=prod", "label=tier"], {"all_": True}, ["web"]),
    (["label=tier=data"], {}, ["db"]),
    (["exited=0"], {"all_": True}, ["web-2"]),
    (["exited=3", "exited=0"], {"all_": True}, ["web-2", "job"]),
    (["exited=0"], {}, []),
    (["health=healthy"], {}, ["web"]),
    (["health=none"], {"all_": True}, ["fresh", "job", "db"]),
    (["health=starting", "health=unhealthy"], {"all_": True}, ["web-2", "cron"]),
    (["ancestor=alpine"], {"all_": True}, ["cron"]),
    (["ancestor=missing"], {"all_": True}, []),
    (["volume=pgdata"], {}, ["db"]),
    (["volume=/var/lib/pg"], {}, ["db"]),
    (["volume=/etc"], {}, ["cron"]),
    (["network=host"], {"all_": True}, ["cron"]),
    (["network=bridge"], {}, ["web", "db"]),
    (["before=job"], {"all_": True}, ["web", "db"]),
    (["before=job"], {}, ["web", "db"]),
    (["since=job"], {"all_": True}, ["web-2", "fresh", "cron"]),
    (["since=" + "2" * 8, "before=/fresh"], {"all_": True}, ["cron", "job"]),
    (["status=running", "label=env=prod"], {}, ["web"]),
    (["status=running", "name=db", "health=healthy"], {}, []),
]


@pytest.mark.parametrize(("items", "flags", "want"), SELECT_CASES)
def test_select(
    fleet: list[Container], items: list[str], flags: dict[str, object], want: list[str]
) -> None:
    images = {"alpine": OTHER_IMAGE_ID, "busybox": IMAGE_ID}
    filters = parse_filters(items, resolve_image=images.get)
    found = select(reversed(fleet), filters, **flags)  # type: ignore[arg-type]
    assert [c.name for c in found] == want


def test_select_unknown_or_ambiguous_ref(fleet: list[Container], tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="No such container: ghost"):
        select(fleet, parse_filters(["before=ghost"]))
    twins = [*fleet, make(tmp_path, "twin", cid="1" + "f" * 63)]
    with pytest.raises(InvalidArgument, match="multiple containers"):
        select(twins, parse_filters(["since=1"]))
