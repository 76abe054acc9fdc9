"""Image config: golden parses of Docker and BuildKit configs, strict types, round trips."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest
from dockyard.oci.image import (
    ContainerConfig,
    HealthConfig,
    History,
    ImageConfig,
    RootFS,
    chain_ids,
)
from dockyard.oci.platform import Platform

Golden = Callable[[str, bytes], None]


def _pretty(value: object) -> bytes:
    return json.dumps(value, indent=4).encode() + b"\n"


def test_docker_classic_config(testdata: Path, golden: Golden) -> None:
    config = ImageConfig.from_bytes((testdata / "docker_config_classic.json").read_bytes())
    assert config.platform == Platform("linux", "amd64")
    assert config.created == "2023-05-19T20:19:24.05234587Z"
    c = config.config
    assert c.exposed_ports == ("443/tcp", "8080/tcp")  # sorted, as Go writes map keys
    assert c.cmd == ("sh",)
    assert c.entrypoint is None
    assert c.volumes == ("/data",)
    assert c.labels == {"maintainer": "nobody", "org.opencontainers.image.title": "demo"}
    assert c.stop_signal == "SIGQUIT"
    assert c.args_escaped is True
    assert c.healthcheck == HealthConfig(
        test=("CMD-SHELL", "wget -q -O- localhost:8080 || exit 1"),
        interval=30_000_000_000,
        timeout=5_000_000_000,
        retries=3,
    )
    assert c.env_value("GREETING") == "a<b&c>d"
    assert c.env_value("MISSING") is None
    assert [h.empty_layer for h in config.history] == [False, True]
    assert set(config.extra) == {"container", "container_config", "docker_version"}
    assert len(config.rootfs.diff_ids) == 1
    golden("docker_config_classic.out.json", config.to_bytes())
    golden("docker_config_classic.inspect.json", _pretty(c.to_docker_inspect()))
    assert ImageConfig.from_bytes(config.to_bytes()) == config


def test_buildkit_config(testdata: Path, golden: Golden) -> None:
    config = ImageConfig.from_bytes((testdata / "oci_config_buildkit.json").read_bytes())
    assert config.platform == Platform("linux", "arm64", "v8")
    assert config.author == "someone"
    assert config.config.cmd == ()  # explicitly empty, unlike unset
    assert config.config.shell == ("/bin/bash", "-c")
    assert config.config.on_build == ("RUN echo child",)
    assert config.history[1] == History(
        created_by="RUN apt-get update", comment="buildkit.dockerfile.v0"
    )
    assert config.extra == {
        "moby.buildkit.buildinfo.v1": "eyJmcm9udGVuZCI6ImRvY2tlcmZpbGUudjAifQ=="
    }
    golden("oci_config_buildkit.out.json", config.to_bytes())
    golden("oci_config_buildkit.inspect.json", _pretty(config.config.to_docker_inspect()))
    again = ImageConfig.from_bytes(config.to_bytes())
    assert again == config
    assert again.to_bytes() == config.to_bytes()


def test_docker_inspect_of_empty_config() -> None:
    assert ContainerConfig().to_docker_inspect(image="sha256:x") == {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,
        "Cmd": None,
        "Image": "sha256:x",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }
    assert ContainerConfig().to_json() == {}


def test_minimal_config_and_defaults() -> None:
    data = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    config = ImageConfig.from_bytes(data)
    assert config == ImageConfig("amd64", "linux")
    assert config.to_bytes() == (
        b'{"architecture":"amd64","os":"linux","config":{},'
        b'"rootfs":{"type":"layers","diff_ids":[]}}'
    )
    with_null = b'{"architecture":"amd64","os":"linux","config":null,"rootfs":{"type":"layers"}}'
    assert ImageConfig.from_bytes(with_null) == config


def test_port_and_volume_sets_are_normalised() -> None:
    config = ContainerConfig(exposed_ports=("80/tcp", "443/tcp", "80/tcp"), volumes=("/b", "/a"))
    assert config.exposed_ports == ("443/tcp", "80/tcp")
    assert config.volumes == ("/a", "/b")


def test_with_changes_by_replace() -> None:
    base = ImageConfig("amd64", "linux")
    changed = dataclasses.replace(
        base, config=dataclasses.replace(base.config, env=("A=1",), cmd=("sh",))
    )
    assert json.loads(changed.to_bytes())["config"] == {"Env": ["A=1"], "Cmd": ["sh"]}


def _config(**fields: object) -> bytes:
    doc: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    doc.update(fields)
    return json.dumps({k: v for k, v in doc.items() if v != "DELETE"}).encode()


BAD_CONFIGS = [
    (b"not json", "malformed JSON"),
    (b"null", "expected a JSON object"),
    (_config(architecture="DELETE"), 'missing field "architecture"'),
    (_config(os=1), 'field "os": expected string'),
    (_config(rootfs="DELETE"), 'missing field "rootfs"'),
    (_config(rootfs={"type": "layer"}), 'type "layer" is not "layers"'),
    (_config(rootfs={"type": "layers", "diff_ids": ["sha256:x"]}), "diff_ids[0]: invalid digest"),
    (_config(rootfs={"type": "layers", "diff_ids": "x"}), '"diff_ids": expected array'),
    (_config(config=[]), "config: expected a JSON object"),
    (_config(config={"Env": "A=1"}), 'field "Env": expected array'),
    (_config(config={"Env": ["A=1", 2]}), 'field "Env": expected an array of strings'),
    (_config(config={"Cmd": "sh"}), 'field "Cmd"'),
    (_config(config={"Entrypoint": [None]}), 'field "Entrypoint"'),
    (_config(config={"User": 0}), 'field "User"'),
    (_config(config={"ExposedPorts": ["80/tcp"]}), 'field "ExposedPorts"'),
    (_config(config={"ExposedPorts": {"80/tcp": 1}}), 'field "ExposedPorts"'),
    (_config(config={"Volumes": {"/d": "x"}}), 'field "Volumes"'),
    (_config(config={"Labels": {"a": 1}}), 'field "Labels"'),
    (_config(config={"ArgsEscaped": "true"}), 'field "ArgsEscaped"'),
    (_config(config={"Healthcheck": {"Interval": "30s"}}), 'field "Interval"'),
    (_config(config={"Healthcheck": {"Retries": -1}}), 'field "Retries" must not be negative'),
    (_config(config={"Healthcheck": []}), "expected a JSON object"),
    (_config(config={"Shell": "sh"}), 'field "Shell"'),
    (_config(config={"OnBuild": [1]}), 'field "OnBuild"'),
    (_config(history={}), 'field "history": expected array'),
    (_config(history=[{"empty_layer": "yes"}]), 'history[0]: field "empty_layer"'),
    (_config(history=[{"created_by": 1}]), 'field "created_by"'),
    (_config(created=0), 'field "created"'),
]


@pytest.mark.parametrize(("data", "message"), BAD_CONFIGS)
def test_bad_configs(data: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^image config") as info:
        ImageConfig.from_bytes(data)
    assert message in str(info.value)


def test_chain_ids() -> None:
    a, b, c = (Digest.from_hex(ch * 64) for ch in "abc")
    ab = Digest.from_hex(hashlib.sha256(f"{a} {b}".encode()).hexdigest())
    abc = Digest.from_hex(hashlib.sha256(f"{ab} {c}".encode()).hexdigest())
    assert chain_ids([]) == ()
    assert chain_ids([a]) == (a,)
    assert RootFS(diff_ids=(a, b, c)).chain_ids() == (a, ab, abc)


# Hypothesis: configs built from the model survive to_bytes/from_bytes.
_s = st.text(max_size=10)
_strs = st.lists(_s, max_size=3).map(tuple)
_health = st.none() | st.builds(
    HealthConfig,
    _strs,
    *(st.integers(min_value=0, max_value=10**12) for _ in range(4)),
    st.integers(min_value=0, max_value=10),
)
_container = st.builds(
    ContainerConfig,
    user=_s,
    exposed_ports=st.lists(st.sampled_from(["80/tcp", "53/udp", "443"])).map(tuple),
    env=_strs,
    entrypoint=st.none() | _strs,
    cmd=st.none() | _strs,
    volumes=st.lists(_s, max_size=3).map(tuple),
    working_dir=_s,
    labels=st.dictionaries(_s, _s, max_size=3),
    stop_signal=_s,
    args_escaped=st.none() | st.booleans(),
    healthcheck=_health,
    shell=st.none() | _strs,
    on_build=_strs,
)
_history = st.builds(
    History, st.none() | _s, st.none() | _s, st.none() | _s, st.none() | _s, st.booleans()
)
_digests = st.binary(max_size=4).map(Digest.from_bytes)
_extra = st.dictionaries(
    st.sampled_from(["container", "docker_version", "x.y"]),
    st.recursive(st.none() | st.integers() | _s, lambda inner: st.lists(inner, max_size=2)),
    max_size=2,
)
_configs = st.builds(
    ImageConfig,
    architecture=st.sampled_from(["amd64", "arm64"]),
    os=st.just("linux"),
    variant=st.none() | st.just("v8"),
    created=st.none() | _s,
    author=st.none() | _s,
    config=_container,
    rootfs=st.builds(RootFS, st.just("layers"), st.lists(_digests, max_size=3).map(tuple)),
    history=st.lists(_history, max_size=3).map(tuple),
    extra=_extra,
)


@given(_configs)
def test_config_round_trip(config: ImageConfig) -> None:
    data = config.to_bytes()
    assert ImageConfig.from_bytes(data) == config
    assert ImageConfig.from_bytes(data).to_bytes() == data
