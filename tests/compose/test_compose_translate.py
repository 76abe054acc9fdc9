"""A service replica -> the engine's CreateRequest: names, docker compose's labels, the service
name as a DNS alias, mounts, secrets, resources and the network modes."""

from __future__ import annotations

import dataclasses
import os
import stat
import textwrap
from pathlib import Path

import pytest

from dockyard.compose import translate
from dockyard.compose.files import Options
from dockyard.compose.loader import load
from dockyard.compose.model import Project
from dockyard.engine.options import BindMount, BlkioDevice, IpcMode, NetworkRequest
from dockyard.errors import DockyardError, InvalidArgument


def project(tmp_path: Path, text: str) -> Project:
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(text))
    (tmp_path / "token").write_text("s3cret")
    return load(Options(), cwd=tmp_path, environ={}).project


FILE = """
    name: demo
    services:
      web:
        image: busybox
        command: ["httpd", "-f"]
        environment: {A: "1"}
        networks:
          front: {aliases: [www]}
          back: {ipv4_address: 10.5.0.9}
        volumes: [data:/data, ./site:/site:ro, /cache]
        tmpfs: ["/run:size=1m"]
        secrets: [token]
        labels: {mine: "yes"}
        mem_limit: 32m
        cpus: 1.5
        init: true
        stop_signal: SIGINT
        stop_grace_period: 3s
        healthcheck: {test: ["CMD", "true"], interval: 2s}
        ports: ["8080:80"]
      db:
        image: busybox
        network_mode: service:web
      off:
        image: busybox
        healthcheck: {disable: true}
        network_mode: host
    networks: {front: {}, back: {}}
    volumes: {data: {}}
    secrets: {token: {file: ./token}}
"""


def test_request_of_a_replica(tmp_path: Path) -> None:
    p = project(tmp_path, FILE)
    req = translate.create_request(p, p.services["web"], translate.Replica(number=2),
                                   image_id="sha256:abc")  # fmt: skip
    assert req.name == "demo-web-2"
    assert req.image == "busybox"
    assert req.options.cmd == ("httpd", "-f") and req.options.entrypoint is None
    assert req.options.env == ("A=1",)
    assert req.network == NetworkRequest(modes=("demo_front",), aliases=("web", "www"))
    assert [(v.name, v.destination) for v in req.volumes] == [
        ("demo_data", "/data"),
        ("", "/cache"),
    ]
    assert req.options.binds == (
        BindMount(source=str(tmp_path / "site"), destination="/site", readonly=True),
        BindMount(source=str(tmp_path / "token"), destination="/run/secrets/token", readonly=True),
    )
    assert dict(req.options.tmpfs) == {"/run": "size=1m"}
    assert req.options.memory == 32 << 20 and req.options.cpus == 1.5
    assert req.init and req.stop_signal == "SIGINT" and req.stop_timeout == 3
    assert req.health is not None and req.health.test == ("CMD", "true")
    assert req.ports[0].host_port == 8080
    assert req.options.ipc is IpcMode.PRIVATE
    labels = dict(req.labels)
    assert labels["mine"] == "yes"
    assert {k: labels[k] for k in (translate.PROJECT, translate.SERVICE, translate.NUMBER,
                                   translate.ONEOFF, translate.IMAGE)} == {
        translate.PROJECT: "demo", translate.SERVICE: "web", translate.NUMBER: "2",
        translate.ONEOFF: "False", translate.IMAGE: "sha256:abc",
    }  # fmt: skip
    assert labels[translate.CONFIG_HASH] == p.services["web"].config_hash
    assert labels[translate.WORKING_DIR] == str(tmp_path)
    extra = translate.extra_networks(p, p.services["web"])
    assert [(name, a.ipv4_address) for name, a in extra] == [("demo_back", "10.5.0.9")]
    assert translate.aliases(p.services["web"], extra[0][1]) == ("web",)


def test_network_modes_and_disabled_healthcheck(tmp_path: Path) -> None:
    p = project(tmp_path, FILE)
    db = translate.create_request(p, p.services["db"], translate.Replica(number=1), image_id="",
                                  namespace="container:0123")  # fmt: skip
    assert db.network == NetworkRequest(modes=("container:0123",))
    off = translate.create_request(p, p.services["off"], translate.Replica(number=1), image_id="")
    assert off.network == NetworkRequest(modes=("host",))
    assert off.no_healthcheck and off.health is None


def test_one_off_replica(tmp_path: Path) -> None:
    p = project(tmp_path, FILE)
    replica = translate.Replica(number=1, name="demo-web-run-1", oneoff=True, command=("sh",),
                                environment={"B": "2"}, ports=False, auto_remove=True)  # fmt: skip
    req = translate.create_request(p, p.services["web"], replica, image_id="")
    assert req.name == "demo-web-run-1" and req.options.cmd == ("sh",)
    assert req.options.env == ("A=1", "B=2")
    assert req.ports == () and req.auto_remove and req.restart == "no"
    assert req.labels[translate.ONEOFF] == "True"


def test_blkio_config(tmp_path: Path) -> None:
    node = tmp_path / "disk"
    os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(8, 16))
    p = project(tmp_path, f"""
        services:
          io:
            image: busybox
            blkio_config:
              weight: 300
              weight_device: [{{path: {node}, weight: 400}}]
              device_read_bps: [{{path: {node}, rate: 12mb}}]
              device_write_iops: [{{path: {node}, rate: 120}}]
          bad:
            image: busybox
            blkio_config:
              device_write_bps: [{{path: {tmp_path / "token"}, rate: 1}}]
    """)  # fmt: skip
    o = translate.create_request(p, p.services["io"], translate.Replica(number=1),
                                 image_id="").options  # fmt: skip
    dev = BlkioDevice(path=str(node), major=8, minor=16, value=400)
    assert (o.blkio_weight, o.blkio_weight_device) == (300, (dev,))
    assert o.device_read_bps == (dataclasses.replace(dev, value=12 << 20),)
    assert o.device_write_iops == (dataclasses.replace(dev, value=120),)
    assert o.device_write_bps == () and o.device_read_iops == ()
    with pytest.raises(
        InvalidArgument, match=r"service bad: blkio_config\.device_write_bps: .* is"
    ):
        translate.create_request(p, p.services["bad"], translate.Replica(number=1), image_id="")


def test_domainname_and_oom_score_adj(tmp_path: Path) -> None:
    p = project(tmp_path, """
        services:
          web: {image: busybox, domainname: example.test, oom_score_adj: -200}
    """)  # fmt: skip
    o = translate.create_request(p, p.services["web"], translate.Replica(number=1),
                                 image_id="").options  # fmt: skip
    assert (o.domainname, o.oom_score_adj) == ("example.test", -200)
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web: {image: busybox, oom_score_adj: 1001}\n"
    )
    with pytest.raises(DockyardError, match=r"services\.web\.oom_score_adj.*-1000 to 1000"):
        load(Options(), cwd=tmp_path, environ={})
