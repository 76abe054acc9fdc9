"""``dockyard network …`` end to end, through the real ``dockyard`` console script."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from ipaddress import IPv4Network
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

from dockyard.cli.config import Settings, load_settings
from dockyard.errors import InvalidArgument
from dockyard.metadata import ContainerRef, Database
from dockyard.network.store import NetworkStore

CONTAINER = "c" * 64


def _store(root: Path) -> NetworkStore:
    return NetworkStore(Database(root / "metadata.db"))


def _attach(root: Path, network: str, name: str = "web") -> str:
    """A running container on ``network``, recorded as ``run`` records it; returns its IP."""
    store = _store(root)
    store.db.add_container(ContainerRef(id=CONTAINER, name=name, image_id="sha256:a", running=True))
    ip = store.allocate(store.get(network), CONTAINER, names=(name,)).ip
    store.db.close()
    return ip


def _detach(root: Path, network: str) -> None:
    store = _store(root)
    store.release(store.get(network).id, CONTAINER)
    store.db.close()


def _fails(dockyard: DockyardRunner, *args: str) -> str:
    proc = dockyard(*args, check=False)
    assert proc.returncode == 1, proc
    return proc.stderr.decode()


def test_create_ls_inspect_rm(dockyard: DockyardRunner, state_root: Path) -> None:
    lines = dockyard.out("network", "ls").splitlines()
    assert lines[0] == "NETWORK ID     NAME      DRIVER    SCOPE"
    assert [line.split()[1:] for line in lines[1:]] == [
        ["bridge", "bridge", "local"], ["host", "host", "local"], ["none", "null", "local"],
    ]  # fmt: skip
    assert all(re.fullmatch(r"[0-9a-f]{12}", line.split()[0]) for line in lines[1:])
    n1 = dockyard.out("network", "create", "--label", "env=prod", "n1").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", n1)
    bridge = "dyb" + n1[:8]
    dockyard(
        "network", "create", "--subnet", "10.240.0.0/24", "--gateway", "10.240.0.254",
        "--ip-range", "10.240.0.128/25", "--internal", "-o",
        f"com.docker.network.bridge.name={bridge}", "n10",
    )  # fmt: skip
    assert dockyard.out("network", "ls", "-q", "-f", "label=env=prod") == n1[:12] + "\n"
    fmt = '{{.Name}}|{{.Driver}}|{{.Label "env"}}|{{.Internal}}'
    assert dockyard.out("network", "list", "--format", fmt, "--filter", "type=custom") == (
        "n1|bridge|prod|false\nn10|bridge||true\n"
    )
    assert dockyard.out("network", "ls", "-q", "--no-trunc", "-f", f"id={n1[:5]}") == n1 + "\n"
    row = json.loads(dockyard.out("network", "ls", "--format", "json", "-f", "name=^n10$"))
    assert (row["Name"], row["Driver"], row["Scope"], row["Internal"]) == (
        "n10", "bridge", "local", "true",
    )  # fmt: skip
    assert dockyard.out("network", "ls", "--format", "{{.Name}}", "-f", "driver=null") == "none\n"
    # The default network took the test's pool's first /27, n1 the next one.
    pool = IPv4Network(dockyard.pools.partition(":")[0])
    [bridge_info, info1] = json.loads(dockyard.out("network", "inspect", "bridge", "n1"))
    subnets = list(pool.subnets(new_prefix=27))
    assert bridge_info["IPAM"]["Config"] == [
        {"Subnet": str(subnets[0]), "Gateway": str(subnets[0].network_address + 1)}
    ]
    assert bridge_info["Options"] == {"com.docker.network.bridge.name": dockyard.bridge}
    assert info1["IPAM"]["Config"][0]["Subnet"] == str(subnets[1])
    assert (info1["Id"], info1["Labels"], info1["Options"]) == (
        n1, {"env": "prod"}, {"com.docker.network.bridge.name": "dy-" + n1[:12]},
    )  # fmt: skip
    ip = _attach(state_root, "n10")
    [info] = json.loads(dockyard.out("network", "inspect", "n10"))
    assert list(info) == [
        "Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM", "Internal",
        "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels",
    ]  # fmt: skip
    assert ip == "10.240.0.128"
    assert info["IPAM"] == {
        "Driver": "default", "Options": {},
        "Config": [{"Subnet": "10.240.0.0/24", "IPRange": "10.240.0.128/25",
                    "Gateway": "10.240.0.254"}],
    }  # fmt: skip
    assert info["Internal"] is True and info["EnableIPv6"] is False
    assert info["Containers"] == {
        CONTAINER: {
            "Name": "web",
            "EndpointID": hashlib.sha256((info["Id"] + CONTAINER).encode()).hexdigest(),
            "MacAddress": "02:42:0a:f0:00:80",
            "IPv4Address": "10.240.0.128/24",
            "IPv6Address": "",
        }
    }
    assert dockyard.out("network", "inspect", "-f", "{{.Name}} {{.Driver}}", "n10", "host") == (
        "n10 bridge\nhost host\n"
    )
    assert f"network n10 id {info['Id']} has active endpoints" in _fails(
        dockyard, "network", "rm", "n10"
    )
    _detach(state_root, "n10")
    assert dockyard.out("network", "rm", "n1", info["Id"][:10]) == f"n1\n{info['Id'][:10]}\n"
    assert len(dockyard.out("network", "ls", "-q").split()) == 3


def test_missing_and_predefined(dockyard: DockyardRunner) -> None:
    dockyard("network", "create", "data")
    inspect = dockyard("network", "inspect", "data", "nope", check=False)
    assert inspect.returncode == 1
    assert [n["Name"] for n in json.loads(inspect.stdout)] == ["data"]
    assert inspect.stderr.decode() == "Error: network nope not found\n"
    rm = dockyard("network", "rm", "nope", "data", check=False)
    assert (rm.returncode, rm.stdout) == (1, b"data\n")
    assert dockyard.out("network", "rm", "-f", "nope") == ""  # like docker: skipped silently
    for name in ("bridge", "host", "none"):
        message = f"Error: {name} is a pre-defined network and cannot be removed\n"
        assert _fails(dockyard, "network", "rm", name) == message
    [none] = json.loads(dockyard.out("network", "inspect", "none"))
    assert (none["Driver"], none["IPAM"]["Config"], none["Containers"]) == ("null", [], {})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bridge",), "operation is not permitted on predefined bridge network"),
        (("host",), "operation is not permitted on predefined host network"),
        (("-d", "overlay", "x"), 'network driver "overlay" is not supported'),
        (("--ipv6", "x"), "IPv6 networks are not supported"),
        (("--subnet", "fd00::/64", "x"), "IPv6 networks are not supported"),
        (("--subnet", "10.9.0.0/24", "--subnet", "10.8.0.0/24", "x"), "several --subnet"),
        (("--gateway", "10.0.0.1", "x"), "every ip-range or gateway must have a corresponding"),
        (
            ("--subnet", "10.9.0.0/24", "--gateway", "10.9.1.1", "x"),
            "invalid gateway 10.9.1.1: parent subnet 10.9.0.0/24 doesn't contain this address",
        ),
        (
            ("--subnet", "10.9.0.0/24", "--ip-range", "10.9.0.0/16", "x"),
            "invalid ip-range 10.9.0.0/16: CIDR block is bigger than its parent subnet",
        ),
        (("--subnet", "10.9.0.1/24", "x"), "invalid subnet 10.9.0.1/24: it should be 10.9.0.0/24"),
        (("-o", "com.docker.network.driver.mtu=9000", "x"), "is not supported"),
        (("-o", "com.docker.network.bridge.name=abcdefghijklmnop", "x"), "1-15 characters"),
        (("--label", "=x", "x"), "invalid --label '=x': empty key"),
        (("x/y",), "invalid network name 'x/y'"),
    ],
)
def test_create_errors(dockyard: DockyardRunner, args: tuple[str, ...], message: str) -> None:
    stderr = _fails(dockyard, "network", "create", *args)
    assert stderr.startswith("Error: ") and message in stderr


def test_duplicates_and_overlaps(dockyard: DockyardRunner) -> None:
    dockyard("network", "create", "--subnet", "10.241.0.0/16", "one")
    assert "network with name one already exists" in _fails(dockyard, "network", "create", "one")
    assert "Pool overlaps with other one on this address space" in _fails(
        dockyard, "network", "create", "--subnet", "10.241.7.0/24", "two"
    )
    assert "invalid filter 'color'" in _fails(dockyard, "network", "ls", "-f", "color=red")


def test_prune(dockyard: DockyardRunner, state_root: Path) -> None:
    for name, extra in (("keep", ("--label", "keep=1")), ("unused", ()), ("busy", ())):
        dockyard("network", "create", *extra, name)
    _attach(state_root, "busy")
    assert dockyard.out("network", "prune", input=b"n\n").endswith("[y/N]: ")
    assert dockyard.out("network", "prune", "-f", "--filter", "label!=keep") == (
        "Deleted Networks:\nunused\n"
    )
    assert dockyard.out("network", "prune", "-f") == "Deleted Networks:\nkeep\n"
    assert dockyard.out("network", "prune", "-f") == ""
    names = dockyard.out("network", "ls", "--format", "{{.Name}}").split()
    assert names == ["bridge", "busy", "host", "none"]
    _detach(state_root, "busy")
    assert dockyard.out("network", "prune", "-f", "--filter", "until=1h") == ""
    assert "invalid filter 'name=x'" in _fails(
        dockyard, "network", "prune", "-f", "--filter", "name=x"
    )


def test_settings_from_environment(dockyard: DockyardRunner) -> None:
    env = {**dockyard.env(), "DOCKYARD_ADDRESS_POOLS": "10.242.0.0/16:30"}
    proc = subprocess.run(
        dockyard.argv("network", "inspect", "-f", "{{json .IPAM.Config}}", "bridge"),
        env=env, capture_output=True, check=True,
    )  # fmt: skip
    assert json.loads(proc.stdout) == [{"Subnet": "10.242.0.0/30", "Gateway": "10.242.0.1"}]
    env = {**dockyard.env(), "DOCKYARD_ADDRESS_POOLS": "10.0.0.0/16"}
    proc = subprocess.run(dockyard.argv("network", "create", "x"), env=env, capture_output=True)
    assert proc.returncode == 1 and b'address pool "10.0.0.0/16"' in proc.stderr
    env = {**dockyard.env(), "DOCKYARD_BRIDGE": "much-too-long-bridge"}
    proc = subprocess.run(dockyard.argv("network", "ls"), env=env, capture_output=True)
    assert proc.returncode == 1 and b"must be 1-15 characters" in proc.stderr


def test_settings_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DOCKYARD_BRIDGE", "DOCKYARD_ADDRESS_POOLS", "DOCKYARD_DNS_UPSTREAM"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings(()) == Settings()
    path = tmp_path / "config.toml"
    path.write_text(
        'bridge_name = "dy0"\naddress_pools = "10.1.0.0/16:24"\ndns_upstream = "127.0.0.1:5353"\n'
    )
    settings = load_settings((path,))
    assert (settings.bridge_name, settings.address_pools, settings.dns_upstream) == (
        "dy0", "10.1.0.0/16:24", "127.0.0.1:5353",
    )  # fmt: skip
    monkeypatch.setenv("DOCKYARD_BRIDGE", "dy1")
    assert load_settings((path,)).bridge_name == "dy1"
    path.write_text('bridge_name = "no/slashes"\n')
    with pytest.raises(InvalidArgument, match="bridge name"):
        load_settings((path,))
