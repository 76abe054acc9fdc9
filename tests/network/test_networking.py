"""Bridge networking end to end through the real CLI: names and aliases on user networks,
isolation between networks, internal networks, published ports (TCP and UDP, loopback, the
host's address, hairpin), ``--network container:``, many parallel runs on one network, and
that removing everything leaves no bridge, veth, namespace file, nftables table or helper.

Traffic goes only to loopback, the host's own address and the containers made here; the
networks' DNS forwards unknown names to a dead loopback port (tests/conftest.py), or, for a
container run with ``--dns``, to a test resolver on the host's own address.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner
from tests.engine.containers_harness import Box, boxed, wait_until
from tests.support.leaks import take_snapshot

from dockyard.network.client import bridge_lock_path

pytestmark = [pytest.mark.root, pytest.mark.overlay, pytest.mark.netns]


@pytest.fixture
def box(dockyard: DockyardRunner, busybox_tar: Path) -> Iterator[Box]:
    yield from boxed(dockyard, busybox_tar)


def _host_address() -> str:
    """The host's first non-loopback IPv4 address (traffic to it stays on the host)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    for line in out.splitlines():
        addr = line.split()[3].split("/")[0]
        if not addr.startswith("127."):
            return addr
    pytest.skip("the host has no global IPv4 address")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def _network(box: Box, name: str, *flags: str) -> str:
    subnet = box.runner.pools.split(":")[0].rsplit(".", 1)[0]  # 10.231.N
    index = {"a": 0, "b": 32, "c": 64, "d": 96}[name[-1]]
    return box.out("network", "create", "--subnet", f"{subnet}.{index + 128}/27", *flags, name)


def _httpd(box: Box, name: str, *flags: str) -> str:
    return box.run_d("--name", name, *flags, "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")


def _fetch(box: Box, net: str, url: str) -> subprocess.CompletedProcess[bytes]:
    return box("run", "--rm", "--network", net, "busybox", "wget", "-q", "-O-", url, check=False)


def _http(addr: str, port: int) -> str:
    with socket.create_connection((addr, port), timeout=5) as s:
        s.sendall(b"GET /hostname HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data.decode().split("\r\n\r\n", 1)[1]


def test_names_and_aliases_resolve_on_a_user_network(box: Box) -> None:
    _network(box, "neta")
    web = _httpd(box, "web", "--network", "neta", "--network-alias", "www")
    for url in ("http://web/hostname", "http://www/hostname", f"http://{web[:12]}/hostname"):
        got = _fetch(box, "neta", url)
        assert got.returncode == 0, got.stderr
        assert got.stdout.decode().strip() == web[:12]
    resolv = box.out("run", "--rm", "--network", "neta", "busybox", "cat", "/etc/resolv.conf")
    gateway = json.loads(box.out("network", "inspect", "neta"))[0]["IPAM"]["Config"][0]["Gateway"]
    assert f"nameserver {gateway}" in resolv and "ndots:0" in resolv


def test_an_alias_of_several_containers_resolves_to_all(box: Box) -> None:
    _network(box, "neta")
    one = _httpd(box, "one", "--network", "neta", "--network-alias", "pool")
    two = _httpd(box, "two", "--network", "neta", "--network-alias", "pool")
    ips = {box.inspect(c, "{{.NetworkSettings.Networks.neta.IPAddress}}") for c in (one, two)}
    out = box.out("run", "--rm", "--network", "neta", "busybox", "nslookup", "-type=a", "pool")
    assert ips <= {line.split()[-1] for line in out.splitlines() if line.startswith("Address")}


def test_names_go_when_the_container_stops(box: Box) -> None:
    _network(box, "neta")
    _httpd(box, "web", "--network", "neta")
    assert _fetch(box, "neta", "http://web/hostname").returncode == 0
    box("stop", "-t", "0", "web")
    looked = box("run", "--rm", "--network", "neta", "busybox", "nslookup", "web", check=False)
    assert looked.returncode != 0


def test_the_default_bridge_has_no_names_but_addresses(box: Box) -> None:
    web = _httpd(box, "web", "--add-host", "gw:host-gateway")
    ip = box.inspect(web, "{{.NetworkSettings.IPAddress}}")
    assert ip.startswith(box.runner.pools.split(":")[0].rsplit(".", 1)[0])
    assert _fetch(box, "bridge", f"http://{ip}/hostname").stdout.decode().strip() == web[:12]
    assert _fetch(box, "bridge", "http://web/hostname").returncode != 0
    hosts = box.out("exec", web, "cat", "/etc/hosts")
    gateway = box.inspect(web, "{{.NetworkSettings.Gateway}}")
    assert {f"{ip}\t{web[:12]} web", f"{gateway}\tgw"} <= set(hosts.splitlines())


def test_containers_on_different_networks_cannot_talk(box: Box) -> None:
    _network(box, "neta")
    _network(box, "netb")
    web = _httpd(box, "web", "--network", "neta")
    ip = box.inspect(web, "{{.NetworkSettings.Networks.neta.IPAddress}}")
    probe = box("run", "--rm", "--network", "netb", "busybox",
                "nc", "-w", "1", ip, "80", input=b"", check=False)  # fmt: skip
    assert probe.returncode != 0
    same = box("run", "--rm", "--network", "neta", "busybox",
               "nc", "-w", "1", ip, "80", input=b"", check=False)  # fmt: skip
    assert same.returncode == 0


def test_an_internal_network_has_no_route_out(box: Box) -> None:
    _network(box, "netc", "--internal")
    routes = box.out("run", "--rm", "--network", "netc", "busybox", "ip", "route")
    assert "default" not in routes
    out = box("run", "--rm", "--network", "netc", "busybox",
              "nc", "-w", "1", _host_address(), "22", input=b"", check=False)  # fmt: skip
    assert out.returncode != 0


def test_published_tcp_port_answers_on_loopback_host_address_and_hairpin(box: Box) -> None:
    port = _free_port()
    web = _httpd(box, "web", "-p", f"{port}:80")
    host = _host_address()
    assert _http("127.0.0.1", port).strip() == web[:12]
    assert _http(host, port).strip() == web[:12]
    hairpin = _fetch(box, "bridge", f"http://{host}:{port}/hostname")
    assert hairpin.stdout.decode().strip() == web[:12], hairpin.stderr
    assert box.out("port", web, "80") == f"0.0.0.0:{port}"


def test_a_random_host_port_is_reported_by_port(box: Box) -> None:
    web = _httpd(box, "web", "-p", "127.0.0.1::80")
    shown = box.out("port", web, "80/tcp")
    addr, _, port = shown.rpartition(":")
    assert addr == "127.0.0.1" and int(port) > 0
    assert _http("127.0.0.1", int(port)).strip() == web[:12]
    assert f"127.0.0.1:{port}->80/tcp" in box.out("ps", "--format", "{{.Ports}}")


def test_a_taken_host_port_is_refused(box: Box) -> None:
    port = _free_port()
    _httpd(box, "web", "-p", f"{port}:80")
    second = box("run", "-d", "-p", f"{port}:80", "busybox", "sleep", "5", check=False)
    assert second.returncode == 125
    assert b"port is already allocated" in second.stderr


@pytest.mark.slow
def test_published_udp_port(box: Box, debian_tar: Path) -> None:
    box("import", str(debian_tar), "debian")
    port = _free_port()
    echo = ('$s=IO::Socket::INET->new(LocalPort=>53,Proto=>"udp") or die;'
            'while($s->recv($m,100)){ $s->send("echo:$m") }')  # fmt: skip
    box.run_d("-p", f"{port}:53/udp", "debian", "perl", "-MIO::Socket::INET", "-e", echo)
    for addr in ("127.0.0.1", _host_address()):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1)

            def answer(s: socket.socket = s, addr: str = addr) -> bytes:
                s.sendto(b"ping", (addr, port))
                try:
                    return s.recvfrom(100)[0]
                except TimeoutError:
                    return b""

            assert wait_until(answer, f"an UDP echo through {addr}:{port}") == b"echo:ping"


def test_network_container_shares_the_namespace(box: Box) -> None:
    web = _httpd(box, "web")
    ip = box.inspect(web, "{{.NetworkSettings.IPAddress}}")
    seen = box.out("run", "--rm", "--network", "container:web", "busybox", "ip", "-4", "addr")
    assert ip in seen
    got = box.out("run", "--rm", "--network", "container:web", "busybox",
                  "wget", "-q", "-O-", "http://127.0.0.1/hostname")  # fmt: skip
    assert got.strip() == web[:12]


def test_thirty_parallel_runs_get_distinct_resolvable_addresses(box: Box) -> None:
    _network(box, "netd")  # a /27: 29 addresses for containers...
    box("network", "rm", "netd")
    subnet = box.runner.pools.split(":")[0].rsplit(".", 1)[0]
    box("network", "create", "--subnet", f"{subnet}.0/25", "netd")

    def start(i: int) -> str:
        return box.run_d("--name", f"c{i}", "--network", "netd", "busybox", "sleep", "300")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(start, range(30)))
    ips = [box.inspect(c, "{{.NetworkSettings.Networks.netd.IPAddress}}") for c in ids]
    assert len(set(ips)) == 30, ips
    script = "; ".join(f"nslookup c{i} >/dev/null || echo missing c{i}" for i in range(30))
    assert box.out("run", "--rm", "--network", "netd", "busybox", "sh", "-c", script) == ""


def _ours(box: Box) -> list[str]:
    """What of this test's networking is on the host: bridges named like its networks' (the
    default one and ``dy-*`` of its user networks), their veths and nftables tables, its
    helper processes, namespace files and mounts (other tests may run at the same time)."""
    snap = take_snapshot()
    bridges = {box.runner.bridge} | {
        n["Options"]["com.docker.network.bridge.name"]
        for n in json.loads(box.out("network", "inspect", *_user_networks(box)) or "[]")
    } if _user_networks(box) else {box.runner.bridge}  # fmt: skip
    found = [f"link {b}" for b in bridges if b in snap.links]
    found += [f"table {t}" for t in snap.tables if t.removeprefix("dockyard-") in bridges]
    found += [f"helper {h.split()[0]}" for h in snap.helpers if str(box.runroot) in h]
    found += [f"netns {p.name[:12]}" for p in box.runroot.glob("netns/*")]
    found += [f"mount {m}" for m in snap.mounts if m.startswith(str(box.root.parent))]
    return found


def _user_networks(box: Box) -> list[str]:
    names = box.out("network", "ls", "--format", "{{.Name}}").split()
    return [n for n in names if n not in ("bridge", "host", "none")]


def _stop_helpers(box: Box) -> None:
    from dockyard.network.client import stop

    for sock in box.runroot.glob("networks/*.sock"):
        stop(box.runroot, sock.stem)


def test_removing_everything_leaves_nothing(box: Box) -> None:
    _network(box, "neta")
    _httpd(box, "web", "--network", "neta", "-p", f"{_free_port()}:80")
    _httpd(box, "plain", "-p", f"{_free_port()}:80")
    during = _ours(box)
    assert any(f.startswith("table") for f in during) and any(
        f.startswith("helper") for f in during
    )
    veths = [a["endpoint"]["veth"] for c in ("web", "plain")
             for a in json.loads((box.container_dir(box.out("inspect", "-f", "{{.Id}}", c))
                                  / "endpoints.json").read_text())]  # fmt: skip
    bridge = _bridge(box, "neta")
    box("rm", "-f", "web", "plain")
    box("network", "rm", "neta")
    assert not Path("/sys/class/net", bridge).exists()  # at once, not when helpers stop
    assert f"dockyard-{bridge}" not in take_snapshot().tables
    assert not Path(f"/run/lock/dockyard-bridge-{bridge}.lock").exists()
    network_id = json.loads(box.out("network", "inspect", "bridge"))[0]["Id"]
    helper_files = {p.name for p in (box.runroot / "networks").iterdir()}
    assert helper_files and all(name.startswith(network_id[:12]) for name in helper_files)
    _stop_helpers(box)  # the default network's helper would linger 30 s
    wait_until(lambda: not _ours(box), "nothing left", timeout=10)
    assert not [v for v in veths if Path("/sys/class/net", v).exists()]


def test_connect_and_disconnect_a_running_container(box: Box) -> None:
    _network(box, "neta")
    _network(box, "netb")
    web = _httpd(box, "web", "--network", "neta")
    box("network", "connect", "--alias", "extra", "netb", "web")
    assert "eth1" in box.out("exec", web, "ip", "-4", "-o", "addr")
    got = _fetch(box, "netb", "http://extra/hostname")
    assert got.stdout.decode().strip() == web[:12], got.stderr
    again = box("network", "connect", "netb", "web", check=False)
    assert again.returncode == 1 and b"already exists in network netb" in again.stderr
    box("network", "disconnect", "neta", "web")
    addrs = box.out("exec", web, "ip", "-4", "-o", "addr")
    assert "eth0" not in addrs and "eth1" in addrs
    assert _fetch(box, "neta", "http://web/hostname").returncode != 0
    networks = box.inspect(web, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}")
    assert networks.split() == ["netb"]


def _lookup(box: Box, container: str, name: str) -> subprocess.CompletedProcess[bytes]:
    return box("exec", container, "nslookup", "-type=a", name, check=False)


def _addresses(looked: subprocess.CompletedProcess[bytes]) -> list[str]:
    lines = looked.stdout.decode().split("\n\n", 1)[-1].splitlines()  # past the server's
    return [line.split()[-1] for line in lines if line.startswith("Address")]


def test_names_of_all_a_containers_networks_resolve(box: Box) -> None:
    """As docker's embedded DNS: xx (on neta, then netb) resolves yy (only on netb) through
    neta's DNS; zz (only on neta) does not, until it joins netb too; names follow connect and
    disconnect of running containers."""
    _network(box, "neta")
    _network(box, "netb")
    x = box.run_d(
        "--name", "xx", "--network", "neta", "--network", "netb", "busybox", "sleep", "300"
    )
    y = box.run_d("--name", "yy", "--network", "netb", "--network-alias", "pool", "busybox",
                  "sleep", "300")  # fmt: skip
    z = box.run_d("--name", "zz", "--network", "neta", "busybox", "sleep", "300")
    y_b = box.inspect(y, "{{.NetworkSettings.Networks.netb.IPAddress}}")
    z_a = box.inspect(z, "{{.NetworkSettings.Networks.neta.IPAddress}}")
    gateway_a = box.inspect(x, "{{.NetworkSettings.Networks.neta.Gateway}}")
    assert f"nameserver {gateway_a}\n" in box.out("exec", x, "cat", "/etc/resolv.conf")
    for name, expected in (("yy", y_b), ("pool", y_b), (y[:12], y_b), ("zz", z_a)):
        looked = _lookup(box, x, name)
        assert _addresses(looked) == [expected], (name, looked)
    reverse = box.out("exec", x, "nslookup", y_b)
    assert "name = yy" in reverse, reverse
    assert _lookup(box, z, "yy").returncode != 0  # z is not on netb
    box("network", "connect", "--alias", "late", "netb", z)
    z_b = box.inspect(z, "{{.NetworkSettings.Networks.netb.IPAddress}}")
    assert _addresses(_lookup(box, x, "late")) == [z_b]  # a name that connect added
    assert _addresses(_lookup(box, z, "yy")) == [y_b]  # and z now sees netb's names
    box("network", "disconnect", "netb", x)
    assert _lookup(box, x, "yy").returncode != 0
    assert _addresses(_lookup(box, x, "zz")) == [z_a]  # neta's own names stay


class _TestResolver:
    """A UDP DNS server on port 53 of the host's own address (what a container's ``--dns``
    can name): ``A`` of ``outside.test`` -> 198.51.100.7, NXDOMAIN otherwise; records the
    names asked."""

    def __init__(self, address: str) -> None:
        self.seen: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((address, 53))
        except OSError as err:
            self.sock.close()
            pytest.skip(f"port 53 of {address} is taken: {err}")
        self.sock.settimeout(0.1)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        from dnslib import QTYPE, RCODE, RR, A, DNSRecord

        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            request = DNSRecord.parse(data)
            self.seen.append(str(request.q.qname))
            reply = request.reply()
            if str(request.q.qname) != "outside.test.":
                reply.header.rcode = RCODE.NXDOMAIN
            elif request.q.qtype == QTYPE.A:
                reply.add_answer(RR("outside.test.", QTYPE.A, rdata=A("198.51.100.7"), ttl=60))
            self.sock.sendto(reply.pack(), peer)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()


def test_dns_flag_on_user_networks_keeps_names_and_forwards_the_rest(box: Box) -> None:
    """Docker's embedded DNS: with --dns, resolv.conf still names the network's DNS, names of
    all the container's networks resolve, and other names go to the --dns server (the
    networks' default upstream is a dead port: an answer can only come from it)."""
    host = _host_address()
    resolver = _TestResolver(host)
    try:
        _network(box, "neta")
        _network(box, "netb")
        web = box.run_d("--name", "web", "--network", "netb", "busybox", "sleep", "300")
        web_b = box.inspect(web, "{{.NetworkSettings.Networks.netb.IPAddress}}")
        script = ("cat /etc/resolv.conf; echo ==; nslookup -type=a web; echo ==; "
                  "nslookup -type=a outside.test")  # fmt: skip
        out = box.out("run", "--rm", "--network", "neta", "--network", "netb", "--dns", host,
                      "busybox", "sh", "-c", script)  # fmt: skip
    finally:
        resolver.close()
    resolv, web_looked, outside = out.split("==\n")
    gateway_a = json.loads(box.out("network", "inspect", "neta"))[0]["IPAM"]["Config"][0]["Gateway"]
    assert resolv.splitlines()[0] == f"nameserver {gateway_a}" and host not in resolv, resolv
    assert web_b in web_looked, web_looked
    assert "198.51.100.7" in outside, outside
    assert "outside.test." in resolver.seen
    assert not [n for n in resolver.seen if n.startswith("web")]  # names never leave


def test_system_prune_removes_what_a_killed_helper_left(box: Box) -> None:
    box.run_d("--name", "web", "busybox", "sleep", "300")  # the default network: never pruned
    for found in _ours(box):
        if found.startswith("helper"):
            subprocess.run(["kill", "-9", found.split()[1]], check=True)
    wait_until(lambda: not [f for f in _ours(box) if f.startswith("helper")], "the helper to die")
    box("rm", "-f", "web")
    left = _ours(box)
    assert f"link {box.runner.bridge}" in left and f"table dockyard-{box.runner.bridge}" in left
    lock = bridge_lock_path(box.runner.bridge)
    assert lock.exists()  # the killed helper could not delete it
    out = box.out("system", "prune", "-f")
    assert "Removed leftovers:" in out
    assert _ours(box) == []
    assert not lock.exists()


def test_the_userland_proxy_serves_loopback(box: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``userland_proxy`` (or when ``route_localnet`` cannot be set) 127.0.0.1 is relayed
    by the network's helper; other addresses keep the kernel's DNAT."""
    monkeypatch.setenv("DOCKYARD_USERLAND_PROXY", "true")
    port = _free_port()
    web = _httpd(box, "web", "-p", f"{port}:80")
    rules = subprocess.run(["nft", "list", "table", "ip", f"dockyard-{box.runner.bridge}"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "ip daddr != 127.0.0.0/8 jump ports" in rules  # loopback is not DNATed...
    for _ in range(3):  # ...and still answers, through the proxy, several times
        assert _http("127.0.0.1", port).strip() == web[:12]
    assert _http(_host_address(), port).strip() == web[:12]
    box("rm", "-f", "web")
    with pytest.raises(ConnectionRefusedError):  # the relay went with the container
        _http("127.0.0.1", port)


def test_system_prune_stops_an_idle_helper(box: Box) -> None:
    box("run", "--rm", "busybox", "true")
    assert any(f.startswith("helper") for f in _ours(box))  # lingering, no containers
    keep = box.run_d("--network", "none", "busybox", "sleep", "60")  # not on a network
    assert "idle helper of network bridge" in box.out("system", "prune", "-f")
    assert _ours(box) == []
    assert box.status(keep) == "running"


def _bridge(box: Box, network: str) -> str:
    doc = json.loads(box.out("network", "inspect", network))[0]
    return str(doc["Options"]["com.docker.network.bridge.name"])


def _rules(bridge: str) -> str:
    return subprocess.run(["nft", "list", "table", "ip", f"dockyard-{bridge}"],
                          capture_output=True, text=True, check=False).stdout  # fmt: skip


def _helper_pids(box: Box, network_id: str) -> list[int]:
    return [int(h.split()[0]) for h in take_snapshot().helpers
            if str(box.runroot) in h and network_id in h]  # fmt: skip


def _veth(box: Box, cid: str) -> Path:
    doc = json.loads((box.container_dir(cid) / "endpoints.json").read_text())
    return Path("/sys/class/net", doc[0]["endpoint"]["veth"])


def _kill_monitor_and_init(box: Box, cid: str) -> None:
    for key in ("monitor_pid", "pid"):
        os.kill(box.state_int(cid, key), signal.SIGKILL)


def test_a_killed_containers_endpoint_is_released_by_its_helper(box: Box) -> None:
    """The pinned namespace file keeps a killed container's veth alive: the helper releases
    the endpoint by the container's run state, running (reap) or when it starts again."""
    net = _network(box, "neta")
    one = box.run_d("--name", "one", "--network", "neta", "busybox", "sleep", "300")
    two = box.run_d("--name", "two", "--network", "neta", "busybox", "sleep", "300")
    _kill_monitor_and_init(box, one)  # nothing reads one's state: the running helper reaps it
    # The helper deletes the veth, then releases the lease and unpins the namespace.
    pinned = box.runroot / "netns" / one
    wait_until(lambda: not _veth(box, one).exists() and not pinned.exists(),
               "the helper to release one's veth and unpin its namespace")  # fmt: skip
    for pid in _helper_pids(box, net):  # then the helper dies too, before two's end
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _helper_pids(box, net), "the helper to die")
    _kill_monitor_and_init(box, two)
    script = "nslookup two >/dev/null 2>&1 && echo two; nslookup probe >/dev/null && echo probe"
    seen = box.out("run", "--rm", "--name", "probe", "--network", "neta", "busybox", "sh", "-c",
                   script)  # fmt: skip
    assert seen == "probe"  # the new helper answers, and no longer for two
    assert not _veth(box, two).exists()
    assert json.loads(box.out("network", "inspect", "neta"))[0]["Containers"] == {}
    assert {box.status(c) for c in (one, two)} == {"exited"}
    box("rm", one, two)
    box("network", "rm", "neta")


def test_an_idle_helper_leaves_and_tears_its_network_down(box: Box) -> None:
    net = _network(box, "neta")
    bridge = _bridge(box, "neta")
    (box.runroot / "networks").mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "dockyard.network.helper_main", "--root", str(box.root),
            "--runroot", str(box.runroot), "--network", net, "--dns-upstream", "127.0.0.1:9",
            "--linger", "1"]  # fmt: skip
    helper = subprocess.Popen(argv, env=box.runner.env(), stderr=subprocess.PIPE)
    try:
        wait_until(lambda: Path("/sys/class/net", bridge).exists(), "the helper's bridge")
        assert f"dockyard-{bridge}" in take_snapshot().tables
        assert helper.wait(timeout=15) == 0, helper.stderr.read() if helper.stderr else ""
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait()
        if helper.stderr:
            helper.stderr.close()
    assert not Path("/sys/class/net", bridge).exists()
    assert f"dockyard-{bridge}" not in take_snapshot().tables
    assert not list(box.runroot.glob("networks/*.sock"))
    assert not Path(f"/run/lock/dockyard-bridge-{bridge}.lock").exists()


def _ports(box: Box, cid: str) -> dict[str, str]:
    """``port C``: container port -> host address."""
    lines = box.out("port", cid).splitlines()
    return {k: v for k, _, v in (line.partition(" -> ") for line in lines)}


def test_publish_all_and_port_ranges(box: Box) -> None:
    taken = socket.socket()
    taken.bind(("0.0.0.0", 0))  # the first port of the range is taken
    first = int(taken.getsockname()[1])
    try:
        web = _httpd(box, "web", "--expose", "8081", "--expose", "53/udp", "-P",
                     "-p", f"{first}-{first + 5}:80")  # fmt: skip
        ports = _ports(box, web)
        assert set(ports) == {"80/tcp", "8081/tcp", "53/udp"}
        assert ports["80/tcp"] == f"0.0.0.0:{first + 1}"  # the first free one of the range
        assert int(ports["8081/tcp"].rsplit(":", 1)[1]) > 0
        assert _http("127.0.0.1", first + 1).strip() == web[:12]
    finally:
        taken.close()
    spread = box.run_d("-p", "90-92", "busybox", "sleep", "300")  # random host ports
    ports = _ports(box, spread)
    assert set(ports) == {"90/tcp", "91/tcp", "92/tcp"}
    hosts = {int(v.rsplit(":", 1)[1]) for v in ports.values()}
    assert len(hosts) == 3 and 0 not in hosts
    rules = _rules(box.runner.bridge)
    assert all(f"dport {p}" in rules for p in hosts)
    box("rm", "-f", spread)  # the network stays up (web): its DNAT rules go
    rules = _rules(box.runner.bridge)
    assert not any(f"dport {p}" in rules for p in hosts)
    assert f"dport {first + 1}" in rules


def test_addresses_create_then_start_and_a_named_bridge(box: Box) -> None:
    _network(box, "neta")
    subnet = json.loads(box.out("network", "inspect", "neta"))[0]["IPAM"]["Config"][0]["Subnet"]
    prefix = subnet.rsplit(".", 1)[0]
    base = int(subnet.rsplit(".", 1)[1].split("/")[0])
    _httpd(box, "web", "--network", "neta", "--ip", f"{prefix}.{base + 20}")
    bridge = "dytb" + box.runner.bridge[3:]
    box("network", "create", "-o", f"com.docker.network.bridge.name={bridge}", "netb")
    box("create", "--name", "cli", "--network", "netb", "busybox", "sleep", "300")
    assert not Path("/sys/class/net", bridge).exists()  # made when a container joins
    box("start", "cli")
    assert (
        Path("/sys/class/net", bridge).exists() and f"dockyard-{bridge}" in take_snapshot().tables
    )
    box("network", "connect", "--ip", f"{prefix}.{base + 21}", "neta", "cli")
    assert (
        box.inspect("web", "{{.NetworkSettings.Networks.neta.IPAddress}}")
        == f"{prefix}.{base + 20}"
    )
    assert (
        box.inspect("cli", "{{.NetworkSettings.Networks.neta.IPAddress}}")
        == f"{prefix}.{base + 21}"
    )
    addrs = box.out("exec", "cli", "ip", "-4", "-o", "addr")
    assert f"{prefix}.{base + 21}/" in addrs and "eth1" in addrs
    got = box.out("exec", "cli", "wget", "-q", "-O-", f"http://{prefix}.{base + 20}/hostname")
    assert got.strip() == box.inspect("web", "{{.Config.Hostname}}")
    box("rm", "-f", "cli")
    box("network", "rm", "netb")
    assert not Path("/sys/class/net", bridge).exists()
    assert f"dockyard-{bridge}" not in take_snapshot().tables


def test_the_host_network(box: Box) -> None:
    script = ("readlink /proc/self/ns/net; ip -o link; echo ---; cat /etc/resolv.conf; "
              "echo ---; cat /etc/hosts")  # fmt: skip
    links, resolv, hosts = box.out("run", "--rm", "--network", "host", "busybox", "sh", "-c",
                                   script).split("---\n")  # fmt: skip
    assert links.splitlines()[0] == os.readlink("/proc/self/ns/net")  # the host's namespace
    host_address = _host_address()
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    interface = next(line.split()[1] for line in out.splitlines() if f" {host_address}/" in line)
    seen = {line.split(": ")[1].split("@")[0] for line in links.splitlines() if ": " in line}
    assert {"lo", interface} <= seen
    assert resolv == Path("/etc/resolv.conf").read_text()
    assert set(Path("/etc/hosts").read_text().splitlines()) <= set(hosts.splitlines())
    refused = box("run", "--rm", "--network", "host", "-p", "80:80", "busybox", "true",
                  check=False)  # fmt: skip
    assert refused.returncode != 0
