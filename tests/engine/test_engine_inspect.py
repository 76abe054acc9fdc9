"""``container inspect`` JSON: docker's shape, State per status, HostConfig from the run
options, Mounts, Path/Args and Config merged with the image's defaults."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from dockyard.engine.container import ContainerConfig, VolumeMount
from dockyard.engine.inspect import ZERO_TIME, config_env, go_time, inspect_container
from dockyard.engine.options import (
    BindMount,
    DeviceMapping,
    IpcMode,
    NetworkMode,
    RunOptions,
    Ulimit,
)
from dockyard.engine.specdefaults import MASKED_PATHS
from dockyard.engine.store import Container
from dockyard.monitor.state import RunState
from dockyard.oci.containerconfig import ContainerConfig as ImageDefaults
from dockyard.oci.containerconfig import HealthConfig
from dockyard.oci.image import ImageConfig
from dockyard.oci.runtime_resources import DeviceType

CID = "0123456789ab" + "c" * 52
IMAGE_ID = "sha256:" + "ab" * 32
CREATED = "2026-11-28T18:39:45.120000000Z"
IMAGE = ImageConfig(
    "amd64",
    "linux",
    config=ImageDefaults(
        env=("PATH=/usr/bin:/bin", "LANG=C"),
        cmd=("nginx", "-g", "daemon off;"),
        entrypoint=("/docker-entrypoint.sh",),
        working_dir="/srv",
        user="101",
        exposed_ports=("80/tcp",),
        volumes=("/cache",),
    ),
)


def container(tmp_path: Path, state: RunState | None = None, **fields: object) -> Container:
    config = ContainerConfig(
        id=CID,
        name="web",
        created=CREATED,
        image="nginx:1.25",
        image_id=IMAGE_ID,
        snapshot=f"container-{CID}",
        options=RunOptions(),
    )
    config = dataclasses.replace(config, **fields)  # type: ignore[arg-type]
    return Container(config=config, state=state or RunState(), dir=tmp_path / CID)


def inspect(c: Container, image: ImageConfig | None = IMAGE, **kwargs: object) -> dict[str, object]:
    doc = inspect_container(
        c,
        image_config=image,
        runtime_name="runc",
        driver="overlay",
        volume_path=lambda name: f"/var/lib/dockyard/volumes/{name}/_data",
        **kwargs,  # type: ignore[arg-type]
    )
    json.dumps(doc)  # what the CLI prints must be JSON
    return doc


def sub(doc: dict[str, object], key: str) -> dict[str, object]:
    value = doc[key]
    assert isinstance(value, dict)
    return value


TOP_KEYS = [
    "Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath",
    "HostsPath", "LogPath", "Name", "RestartCount", "Driver", "Platform", "MountLabel",
    "ProcessLabel", "AppArmorProfile", "ExecIDs", "HostConfig", "GraphDriver", "Mounts",
    "Config", "NetworkSettings",
]  # fmt: skip


def test_top_level_shape(tmp_path: Path) -> None:
    doc = inspect(container(tmp_path))
    assert list(doc) == TOP_KEYS
    assert doc["Id"] == CID
    assert doc["Created"] == "2026-11-28T18:39:45.12Z"
    assert doc["Image"] == IMAGE_ID
    assert doc["Name"] == "/web"
    assert doc["ResolvConfPath"] == str(tmp_path / CID / "resolv.conf")
    assert doc["HostnamePath"] == str(tmp_path / CID / "hostname")
    assert doc["HostsPath"] == str(tmp_path / CID / "hosts")
    assert doc["LogPath"] == str(tmp_path / CID / f"{CID}-json.log")
    assert (doc["Driver"], doc["Platform"], doc["ExecIDs"]) == ("overlay", "linux", None)
    assert doc["GraphDriver"] == {"Data": {}, "Name": "overlay"}


def test_sizes_only_when_asked(tmp_path: Path) -> None:
    doc = inspect(container(tmp_path), size=(4096, 5_000_000), graph_data={"UpperDir": "/u"})
    keys = list(doc)
    assert keys[keys.index("GraphDriver") + 1 : keys.index("Mounts")] == ["SizeRw", "SizeRootFs"]
    assert (doc["SizeRw"], doc["SizeRootFs"]) == (4096, 5_000_000)
    assert doc["GraphDriver"] == {"Data": {"UpperDir": "/u"}, "Name": "overlay"}


# State ---------------------------------------------------------------------------------------

STARTED = "2026-11-28T18:40:00.000000000Z"
FINISHED = "2026-11-28T18:41:00.500000000Z"

STATE_CASES = [
    # status, started, finished, (Running, Paused, Restarting, Dead), Pid
    ("created", "", "", (False, False, False, False), 0),
    ("running", STARTED, "", (True, False, False, False), 4242),
    ("paused", STARTED, "", (True, True, False, False), 4242),
    ("restarting", STARTED, FINISHED, (True, False, True, False), 4242),
    ("exited", STARTED, FINISHED, (False, False, False, False), 0),
    ("dead", STARTED, FINISHED, (False, False, False, True), 0),
    ("removing", STARTED, FINISHED, (False, False, False, False), 0),
]


@pytest.mark.parametrize(("status", "started", "finished", "flags", "pid"), STATE_CASES)
def test_state(
    tmp_path: Path,
    status: str,
    started: str,
    finished: str,
    flags: tuple[bool, bool, bool, bool],
    pid: int,
) -> None:
    state = RunState()
    state.status, state.pid, state.exit_code = status, 4242, 137
    state.started_at, state.finished_at = started, finished
    state.error, state.oom_killed = "boom", True
    got = sub(inspect(container(tmp_path, state)), "State")
    assert list(got) == [
        "Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode",
        "Error", "StartedAt", "FinishedAt",
    ]  # fmt: skip
    assert got["Status"] == status
    assert (got["Running"], got["Paused"], got["Restarting"], got["Dead"]) == flags
    assert (got["Pid"], got["ExitCode"], got["Error"], got["OOMKilled"]) == (pid, 137, "boom", True)
    assert got["StartedAt"] == ("2026-11-28T18:40:00Z" if started else ZERO_TIME)
    assert got["FinishedAt"] == ("2026-11-28T18:41:00.5Z" if finished else ZERO_TIME)


def test_state_health_and_restarts(tmp_path: Path) -> None:
    state = RunState()
    state.status, state.restart_count = "running", 3
    state.health = {"Status": "healthy", "FailingStreak": 0, "Log": []}
    doc = inspect(container(tmp_path, state))
    assert sub(doc, "State")["Health"] == {"Status": "healthy", "FailingStreak": 0, "Log": []}
    assert doc["RestartCount"] == 3


@pytest.mark.parametrize(
    ("text", "want"),
    [("", ZERO_TIME), ("2026-01-02T03:04:05.000000000Z", "2026-01-02T03:04:05Z"),
     ("2026-01-02T03:04:05.123000000Z", "2026-01-02T03:04:05.123Z"),
     ("2026-01-02T03:04:05.123456789Z", "2026-01-02T03:04:05.123456789Z"),
     ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05Z")],
)  # fmt: skip
def test_go_time(text: str, want: str) -> None:
    assert go_time(text) == want


# HostConfig ----------------------------------------------------------------------------------


def test_host_config_defaults(tmp_path: Path) -> None:
    hc = sub(inspect(container(tmp_path)), "HostConfig")
    assert hc["Binds"] is None
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert (hc["NetworkMode"], hc["IpcMode"], hc["Runtime"]) == ("bridge", "private", "runc")
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert (hc["CapAdd"], hc["CapDrop"], hc["SecurityOpt"], hc["ExtraHosts"]) == (None,) * 4
    assert (hc["Dns"], hc["DnsOptions"], hc["DnsSearch"], hc["Devices"]) == ([], [], [], [])
    assert (hc["PidsLimit"], hc["Ulimits"], hc["Init"]) == (None, None, None)
    assert (hc["Memory"], hc["MemorySwap"], hc["NanoCpus"], hc["ShmSize"]) == (0, 0, 0, 1 << 26)
    assert hc["MaskedPaths"] == list(MASKED_PATHS)
    assert "Tmpfs" not in hc and "Sysctls" not in hc and hc["PortBindings"] == {}


OPTION_CASES = [
    # (RunOptions fields, ContainerConfig fields, expected HostConfig subset)
    ({"memory": 256 << 20}, {}, {"Memory": 256 << 20, "MemorySwap": 512 << 20}),
    ({"memory": 256 << 20, "memory_swap": -1}, {}, {"MemorySwap": -1}),
    ({"cpus": 1.5, "cpu_shares": 512, "cpuset_cpus": "0-1"}, {},
     {"NanoCpus": 1_500_000_000, "CpuShares": 512, "CpusetCpus": "0-1"}),
    ({"pids_limit": 100}, {}, {"PidsLimit": 100}),
    ({"privileged": True}, {}, {"Privileged": True, "MaskedPaths": None, "ReadonlyPaths": None}),
    ({"read_only": True, "shm_size": 1 << 20}, {}, {"ReadonlyRootfs": True, "ShmSize": 1 << 20}),
    ({"cap_add": ("NET_ADMIN",), "cap_drop": ("ALL",)}, {},
     {"CapAdd": ["NET_ADMIN"], "CapDrop": ["ALL"]}),
    ({"security_opt": ("seccomp=unconfined",)}, {}, {"SecurityOpt": ["seccomp=unconfined"]}),
    ({"network": NetworkMode.NONE, "ipc": IpcMode.NONE}, {},
     {"NetworkMode": "none", "IpcMode": "none"}),
    ({"tmpfs": {"/run": "size=64m", "/a": ""}}, {}, {"Tmpfs": {"/a": "", "/run": "size=64m"}}),
    ({"sysctls": {"net.ipv4.ip_forward": "1"}}, {}, {"Sysctls": {"net.ipv4.ip_forward": "1"}}),
    ({"ulimits": (Ulimit(name="nofile", soft=10, hard=20),)}, {},
     {"Ulimits": [{"Name": "nofile", "Hard": 20, "Soft": 10}]}),
    ({"devices": (DeviceMapping(container_path="/dev/fuse", type=DeviceType.CHAR, major=10,
                                minor=229, permissions="rw"),)}, {},
     {"Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse",
                   "CgroupPermissions": "rw"}]}),
    ({"binds": (BindMount(source="/srv", destination="/data", readonly=True),)},
     {"volumes": (VolumeMount(name="v1", destination="/v"),
                  VolumeMount(name="a" * 64, destination="/anon", anonymous=True))},
     {"Binds": ["/srv:/data:ro", "v1:/v"]}),
    ({}, {"restart_policy": "on-failure", "restart_max": 5, "auto_remove": False},
     {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5}}),
    ({}, {"auto_remove": True, "init": True, "runtime": "/usr/bin/crun"},
     {"AutoRemove": True, "Init": True}),
    ({}, {"log_max_size": 10 << 20, "log_max_file": 3},
     {"LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}}),
    ({}, {"log_max_size": 1500},
     {"LogConfig": {"Type": "json-file", "Config": {"max-size": "1500"}}}),
    ({}, {"dns": ("1.1.1.1",), "dns_search": ("example.com",), "dns_options": ("ndots:2",),
          "add_hosts": ("db:10.0.0.5",)},
     {"Dns": ["1.1.1.1"], "DnsSearch": ["example.com"], "DnsOptions": ["ndots:2"],
      "ExtraHosts": ["db:10.0.0.5"]}),
]  # fmt: skip


@pytest.mark.parametrize(("options", "fields", "want"), OPTION_CASES)
def test_host_config_from_options(
    tmp_path: Path, options: dict[str, object], fields: dict[str, object], want: dict[str, object]
) -> None:
    c = container(tmp_path, options=RunOptions(**options), **fields)  # type: ignore[arg-type]
    hc = sub(inspect(c), "HostConfig")
    assert {key: hc[key] for key in want} == want


# Mounts --------------------------------------------------------------------------------------


def test_mounts(tmp_path: Path) -> None:
    c = container(
        tmp_path,
        options=RunOptions(
            binds=(BindMount(source="/srv/www", destination="/var/www", readonly=True),),
            tmpfs={"/run": ""},
        ),
        volumes=(
            VolumeMount(name="data", destination="/data"),
            VolumeMount(name="logs", destination="/logs", readonly=True),
            VolumeMount(name="f" * 64, destination="/cache", anonymous=True),
        ),
    )
    assert inspect(c)["Mounts"] == [
        {"Type": "volume", "Name": "f" * 64,
         "Source": f"/var/lib/dockyard/volumes/{'f' * 64}/_data", "Destination": "/cache",
         "Driver": "local", "Mode": "", "RW": True, "Propagation": ""},
        {"Type": "volume", "Name": "data", "Source": "/var/lib/dockyard/volumes/data/_data",
         "Destination": "/data", "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""},
        {"Type": "volume", "Name": "logs", "Source": "/var/lib/dockyard/volumes/logs/_data",
         "Destination": "/logs", "Driver": "local", "Mode": "ro", "RW": False,
         "Propagation": ""},
        {"Type": "bind", "Source": "/srv/www", "Destination": "/var/www", "Mode": "ro",
         "RW": False, "Propagation": "rprivate"},
    ]  # fmt: skip


# Path, Args and Config -----------------------------------------------------------------------

ARGS_CASES = [
    # (options, Path, Args, Config.Entrypoint, Config.Cmd)
    (RunOptions(), "/docker-entrypoint.sh", ["nginx", "-g", "daemon off;"],
     ["/docker-entrypoint.sh"], ["nginx", "-g", "daemon off;"]),
    (RunOptions(cmd=("sh",)), "/docker-entrypoint.sh", ["sh"], ["/docker-entrypoint.sh"], ["sh"]),
    (RunOptions(entrypoint=("top", "-b")), "top", ["-b"], ["top", "-b"], None),
    (RunOptions(entrypoint=("env",), cmd=("-i",)), "env", ["-i"], ["env"], ["-i"]),
    (RunOptions(entrypoint=(), cmd=("ls", "/")), "ls", ["/"], None, ["ls", "/"]),
    (RunOptions(entrypoint=()), "", [], None, None),
]  # fmt: skip


@pytest.mark.parametrize(("options", "path", "args", "entrypoint", "cmd"), ARGS_CASES)
def test_path_args_and_config_command(
    tmp_path: Path,
    options: RunOptions,
    path: str,
    args: list[str],
    entrypoint: list[str] | None,
    cmd: list[str] | None,
) -> None:
    doc = inspect(container(tmp_path, options=options))
    assert (doc["Path"], doc["Args"]) == (path, args)
    config = sub(doc, "Config")
    assert (config["Entrypoint"], config["Cmd"]) == (entrypoint, cmd)


def test_path_args_without_image(tmp_path: Path) -> None:
    doc = inspect(container(tmp_path, options=RunOptions(cmd=("sh", "-c", "true"))), image=None)
    assert (doc["Path"], doc["Args"]) == ("sh", ["-c", "true"])
    assert sub(doc, "Config")["Env"] is None


ENV_CASES = [
    # (image env, -e, Config.Env)
    ((), (), None),
    (("PATH=/bin", "LANG=C"), (), ["PATH=/bin", "LANG=C"]),
    ((), ("A=1",), ["A=1"]),
    (("PATH=/bin", "LANG=C"), ("LANG=fr", "A=1"), ["LANG=fr", "A=1", "PATH=/bin"]),
    (("A=1",), ("A=",), ["A="]),
]


@pytest.mark.parametrize(("image_env", "user_env", "want"), ENV_CASES)
def test_config_env(
    image_env: tuple[str, ...], user_env: tuple[str, ...], want: list[str] | None
) -> None:
    assert config_env(RunOptions(env=user_env), ImageDefaults(env=image_env)) == want


def test_config_block(tmp_path: Path) -> None:
    c = container(
        tmp_path,
        options=RunOptions(env=("LANG=fr",), workdir="/app"),
        tty=True,
        open_stdin=True,
        labels={"z": "1", "a": "2"},
        stop_signal="SIGQUIT",
        stop_timeout=30,
        healthcheck=HealthConfig(test=("CMD", "true"), retries=3),
        volumes=(VolumeMount(name="e" * 64, destination="/anon", anonymous=True),),
    )
    config = sub(inspect(c), "Config")
    assert list(config) == [
        "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
        "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "Image",
        "Volumes", "WorkingDir", "Entrypoint", "OnBuild", "Labels", "StopSignal", "StopTimeout",
    ]  # fmt: skip
    assert config["Hostname"] == CID[:12]
    assert (config["User"], config["WorkingDir"], config["Image"]) == ("101", "/app", "nginx:1.25")
    assert (config["Tty"], config["OpenStdin"], config["AttachStdin"]) == (True, True, True)
    assert config["Env"] == ["LANG=fr", "PATH=/usr/bin:/bin"]
    assert config["ExposedPorts"] == {"80/tcp": {}}
    assert config["Volumes"] == {"/anon": {}, "/cache": {}}
    assert config["Labels"] == {"a": "2", "z": "1"}
    assert config["Healthcheck"] == {"Test": ["CMD", "true"], "Retries": 3}
    assert (config["StopSignal"], config["StopTimeout"]) == ("SIGQUIT", 30)


@pytest.mark.parametrize(
    ("options", "want"),
    [(RunOptions(hostname="box"), "box"),
     (RunOptions(hostname="box", network=NetworkMode.HOST), "box"),
     (RunOptions(network=NetworkMode.HOST), os.uname().nodename),
     (RunOptions(), CID[:12])],
)  # fmt: skip
def test_config_hostname(tmp_path: Path, options: RunOptions, want: str) -> None:
    assert sub(inspect(container(tmp_path, options=options)), "Config")["Hostname"] == want


@pytest.mark.parametrize("mode", list(NetworkMode))
def test_network_settings(tmp_path: Path, mode: NetworkMode) -> None:
    settings = sub(
        inspect(container(tmp_path, options=RunOptions(network=mode))), "NetworkSettings"
    )
    networks = settings["Networks"]
    assert isinstance(networks, dict)
    # docker lists no network for --network container:X (it has the other's)
    want = [] if mode is NetworkMode.CONTAINER else [str(mode)]
    assert list(networks) == want
    assert all(networks[name]["IPAddress"] == "" for name in want)
    assert (settings["Ports"], settings["SandboxKey"], settings["Bridge"]) == ({}, "", "")
