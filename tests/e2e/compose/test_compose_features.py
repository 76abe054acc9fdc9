"""``dockyard compose`` end to end through the real CLI, one fixture folder per feature
(``tests/e2e/compose/<feature>/compose.yaml``), copied into the test's own directory (binds
and build contexts stay there) with a ``.env`` for its ports and subnets.

Traffic goes only to loopback and to the containers made here. Each test ends with
``compose down -v`` and checks nothing of the project is left: containers, networks, volumes.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner
from tests.engine.containers_harness import Box, boxed, wait_until

from dockyard.oci.platform import host_platform

pytestmark = [pytest.mark.root, pytest.mark.overlay, pytest.mark.netns]

FIXTURES = Path(__file__).parent
PLATFORM = str(host_platform())


@pytest.fixture
def box(dockyard: DockyardRunner, busybox_tar: Path) -> Iterator[Box]:
    yield from boxed(dockyard, busybox_tar)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Project:
    """A fixture folder copied to ``tmp_path`` and the ``compose`` command on it."""

    def __init__(self, box: Box, tmp_path: Path, feature: str, **env: str) -> None:
        self.box = box
        self.name = feature.replace("_", "-")
        self.dir = tmp_path / feature
        shutil.copytree(FIXTURES / feature, self.dir)
        (self.dir / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return self.box("compose", "--project-directory", str(self.dir), "-p", self.name, *args,
                        check=check)  # fmt: skip

    def out(self, *args: str) -> str:
        return self(*args).stdout.decode()

    def sh(self, service: str, script: str, check: bool = True) -> str:
        done = self("exec", "-T", service, "sh", "-c", script, check=check)
        return done.stdout.decode()

    def names(self, *flags: str) -> list[str]:
        return self.out("ps", *flags, "--format", "{{.Name}}").split()

    def down_clean(self) -> None:
        """``down -v`` and nothing of the project left."""
        self("down", "-v", "-t", "1")
        assert self.names("-a") == []
        networks = self.box.out("network", "ls", "--format", "{{.Name}}").split()
        assert not [n for n in networks if n.startswith(f"{self.name}_")]
        volumes = self.box.out("volume", "ls", "--format", "{{.Name}}").split()
        assert not [v for v in volumes if v.startswith(f"{self.name}_")]


def http(port: int, path: str = "/") -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    parts = re.split(r"\r?\n\r?\n", data.decode(), maxsplit=1)  # CGI headers end in \n\n
    return parts[1] if len(parts) == 2 else ""


def test_basic_up_is_idempotent_and_recreates_only_what_changed(box: Box, tmp_path: Path) -> None:
    port = free_port()
    p = Project(box, tmp_path, "basic", WEB_PORT=str(port), PLATFORM=PLATFORM)
    p("up", "-d")
    assert p.names() == ["basic-web-1", "basic-client-1"]
    assert http(port).strip() == "served by compose"
    assert p.sh("client", "wget -q -O- http://web/").strip() == "served by compose"
    labels = json.loads(box.out("inspect", "basic-web-1"))[0]["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == "basic"
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "1"
    ids = {n: box.inspect(n, "{{.Id}}") for n in p.names()}
    second = p("up", "-d").stderr.decode()
    assert "Created" not in second and "Recreate" not in second
    assert {n: box.inspect(n, "{{.Id}}") for n in p.names()} == ids
    (p.dir / ".env").write_text(f"WEB_PORT={port}\nPLATFORM={PLATFORM}\nGREETING=changed\n")
    p("up", "-d")
    assert box.inspect("basic-web-1", "{{.Id}}") != ids["basic-web-1"]
    assert box.inspect("basic-client-1", "{{.Id}}") == ids["basic-client-1"]
    assert "GREETING=changed" in p.sh("web", "env")
    p.down_clean()


def test_conditions_order_the_start(box: Box, tmp_path: Path) -> None:
    p = Project(box, tmp_path, "healthcheck")
    p("up", "-d", "--wait")
    started = {n: box.inspect(n, "{{.State.StartedAt}}") for n in
               ("healthcheck-setup-1", "healthcheck-db-1", "healthcheck-web-1")}  # fmt: skip
    finished = box.inspect("healthcheck-setup-1", "{{.State.FinishedAt}}")
    assert finished <= started["healthcheck-db-1"] < started["healthcheck-web-1"]
    assert box.inspect("healthcheck-db-1", "{{.State.Health.Status}}") == "healthy"
    assert box.inspect("healthcheck-setup-1", "{{.State.ExitCode}}") == "0"
    assert "setup done" in p.out("logs", "setup")
    followed = p.out("logs", "-f", "--no-log-prefix", "setup")  # ends: setup has exited
    assert followed == "setup done\n"
    p.down_clean()


def test_volumes_binds_tmpfs_secrets_configs(box: Box, tmp_path: Path) -> None:
    p = Project(box, tmp_path, "volumes")
    p("up", "-d")
    p.sh("app", "echo kept > /data/file && echo out > /shared/from-container")
    assert (p.dir / "shared" / "from-container").read_text() == "out\n"
    assert p.sh("app", "cat /run/secrets/token").strip() == "s3cret"
    assert "mode = test" in p.sh("app", "cat /conf/settings.ini")
    assert "tmpfs" in p.sh("app", "grep ' /scratch ' /proc/mounts")
    assert p.sh("app", "ls -A /usr/bin").strip() == ""  # nocopy: not filled from the image
    p("down")
    assert "volumes_data" in box.out("volume", "ls", "--format", "{{.Name}}").split()
    p("up", "-d")
    assert p.sh("app", "cat /data/file").strip() == "kept"
    p.down_clean()


def test_networks_aliases_addresses_and_isolation(box: Box, tmp_path: Path) -> None:
    prefix = box.runner.pools.split(":")[0].rsplit(".", 1)[0]  # 10.231.N: the test's own
    p = Project(box, tmp_path, "networks", BACK_SUBNET=f"{prefix}.224/27", BACK_IP=f"{prefix}.240")
    p("up", "-d")
    api = json.loads(box.out("inspect", "networks-api-1"))[0]["NetworkSettings"]["Networks"]
    assert set(api) == {"networks_front", "networks_back"}
    assert api["networks_back"]["IPAddress"] == f"{prefix}.240"
    assert p.sh("web", "wget -q -O- http://backend-api/hostname").strip()
    assert p.sh("web", "wget -q -O- http://api/hostname").strip()
    resolver = f"nameserver {api['networks_front']['Gateway']}"  # front's DNS answers for db
    assert resolver in p.sh("api", "cat /etc/resolv.conf")
    assert p.sh("api", "wget -q -O- http://db/hostname").strip()
    blocked = p("exec", "-T", "web", "wget", "-q", "-T", "2", "-O-", "http://db/", check=False)
    assert blocked.returncode != 0
    p.down_clean()


def test_scale_up_and_down(box: Box, tmp_path: Path) -> None:
    p = Project(box, tmp_path, "scale")
    up = p("up", "-d", "--scale", "worker=3").stderr.decode().splitlines()
    events = [line for line in up if line.lstrip().startswith("Container ")]
    created = [i for i, line in enumerate(events) if line.endswith(" Created")]
    starting = [i for i, line in enumerate(events) if line.endswith(" Starting")]
    assert len(created) == 4 and max(created) < min(starting)  # services waiting for nothing
    assert sorted(p.names()) == [
        "scale-probe-1",
        "scale-worker-1",
        "scale-worker-2",
        "scale-worker-3",
    ]
    ips = {box.inspect(f"scale-worker-{i}", "{{.NetworkSettings.Networks.scale_default.IPAddress}}")
           for i in (1, 2, 3)}  # fmt: skip
    looked = p.sh("probe", "nslookup -type=a worker")
    assert ips <= {line.split()[-1] for line in looked.splitlines() if line.startswith("Address")}
    p("up", "-d", "--scale", "worker=1")
    assert sorted(p.names()) == ["scale-probe-1", "scale-worker-1"]
    p.down_clean()


def test_profiles(box: Box, tmp_path: Path) -> None:
    p = Project(box, tmp_path, "profiles")
    assert p.out("config", "--services").split() == ["app"]
    assert p.out("--profile", "debug", "config", "--services").split() == ["app", "debug"]
    p("up", "-d")
    assert p.names() == ["profiles-app-1"]
    p("up", "-d", "debug")
    assert sorted(p.names()) == ["profiles-app-1", "profiles-debug-1"]
    p("--profile", "debug", "down", "-v", "-t", "1")
    assert p.names("-a") == []


def test_everyday_commands(box: Box, tmp_path: Path) -> None:
    port = free_port()
    p = Project(box, tmp_path, "basic", WEB_PORT=str(port), PLATFORM=PLATFORM)
    p("up", "-d")
    assert p.out("port", "web", "80").strip() == f"127.0.0.1:{port}"
    rows = json.loads(p.out("ps", "--format", "json"))
    assert {(r["Service"], r["State"]) for r in rows} == {("web", "running"), ("client", "running")}
    assert p.out("ps", "--services").split() == ["web", "client"]
    assert len(p.out("ps", "-q").split()) == 2
    assert "hello-from-run" in p.out("run", "--rm", "-T", "client", "echo", "hello-from-run")
    p.sh("client", "echo to-the-log > /proc/1/fd/1")
    p.sh("client", "echo second > /proc/1/fd/1")
    logs = p.out("logs", "--no-color", "client")
    assert "basic-client-1  | to-the-log" in logs
    assert p.out("logs", "--tail", "1", "--no-log-prefix", "client") == "second\n"
    ran = p("exec", "-T", "-e", "X=1", "-w", "/tmp", "-u", "1000", "--index", "1", "client",
            "sh", "-c", "echo $X $(pwd) $(id -u)").stdout.decode()  # fmt: skip
    assert ran.strip() == "1 /tmp 1000"
    assert "httpd" in p.out("top", "web")
    assert "busybox" in p.out("images")
    assert "basic" in p.out("ls")
    p("pause", "client")
    assert box.status("basic-client-1") == "paused"
    p("unpause", "client")
    p("stop", "-t", "1", "client")
    assert box.status("basic-client-1") == "exited"
    p("start", "client")
    assert box.status("basic-client-1") == "running"
    p("restart", "-t", "1", "web")
    wait_until(lambda: http(port).strip() == "served by compose", "web to serve again")
    p("kill", "client")
    box.wait_status("basic-client-1", "exited")
    p("rm", "-f", "client")
    assert p.names("-a") == ["basic-web-1"]
    assert "Dockyard Compose version" in p.out("version")
    p.down_clean()


def test_seed_style_file_builds_and_runs(box: Box, tmp_path: Path) -> None:
    port = free_port()
    p = Project(box, tmp_path, "seed", APP_PORT=str(port))
    up = p("up", "-d")
    assert b"`version` is obsolete" in up.stderr
    assert "seed-app" in box.out("images", "--format", "{{.Repository}}")
    body = wait_until(lambda: _try_http(port, "/cgi-bin/status"), "the app to answer")
    assert "app talks to db" in body and "db-ok" in body
    p.down_clean()


def _try_http(port: int, path: str) -> str:
    try:
        return http(port, path)
    except OSError:
        return ""


def test_attached_up_with_exit_code_from(box: Box, tmp_path: Path) -> None:
    p = Project(box, tmp_path, "healthcheck")
    done = p("up", "--abort-on-container-exit", "--exit-code-from", "setup", "setup", check=False)
    assert done.returncode == 0, done.stderr
    assert b"setup done" in done.stdout
    p.down_clean()


def test_build_push_pull(box: Box, tmp_path: Path) -> None:
    from tests.support.registries import REGISTRY, start_registry

    if REGISTRY is None:
        pytest.skip("needs docker-registry (apt-get install docker-registry)")
    registry = start_registry(tmp_path / "registry-data")
    try:
        p = Project(box, tmp_path, "registry", REGISTRY=registry.host)
        image = f"{registry.host}/compose-test/app:1"
        p("build", "app")
        p("push", "app")
        box("rmi", image)
        p("pull", "web")
        assert box.out("images", "-q", image)
        box("rmi", image)
        p("--profile", "run", "up", "-d", "--no-build", "web")
        assert p.sh("web", "cat /built").strip() == "built-by-compose"
        p("--profile", "run", "down", "--rmi", "all")
        assert box("image", "inspect", image, check=False).returncode != 0
    finally:
        registry.stop()
