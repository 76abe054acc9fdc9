"""Exemptions from another engine's ``FORWARD`` policy ``DROP``: golden scripts and parsers
(pure), the appliers against fake tools (no root), and the real chains inside private network
namespaces (root), so the host's ruleset is never touched; last, packets routed between
namespaces, dropped without the exemption and passing with it.

Golden files live in ``testdata/nft/``; set ``DOCKYARD_UPDATE_GOLDEN=1`` to rewrite them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, Unavailable
from dockyard.network import forward, nft
from dockyard.network.forward import Backend, Tools
from dockyard.network.model import Network

GOLDEN = Path(__file__).parent / "testdata" / "nft"
UPDATE = os.environ.get("DOCKYARD_UPDATE_GOLDEN") == "1"
DOCKER_CHAIN = """table ip filter {
	chain FORWARD {
		type filter hook forward priority 0; policy %s;
	}
}
"""
STALE_LEGACY = (
    "-A FORWARD -i dytest0 -m comment --comment dockyard-dytest0 -j ACCEPT",
    "-A FORWARD -o dytest0 -m comment --comment dockyard-dytest0 -j ACCEPT",
)


def _network(**changes: object) -> Network:
    fields: dict[str, object] = {
        "id": "f" * 64, "name": "front", "subnet": "10.99.0.0/24",
        "gateway": "10.99.0.1", "bridge": "dytest0",
    }  # fmt: skip
    fields.update(changes)
    return Network(**fields)  # type: ignore[arg-type]


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(actual)
    assert actual == path.read_text(), f"{name} differs from its golden file"


def _nft_listing(policy: str, *rules: tuple[int, str | None]) -> str:
    items: list[dict[str, object]] = [
        {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
        {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 1,
                   "type": "filter", "hook": "forward", "prio": 0, "policy": policy}},
    ]  # fmt: skip
    for handle, text in rules:
        rule: dict[str, object] = {"family": "ip", "table": "filter", "chain": "FORWARD",
                                   "handle": handle, "expr": [{"accept": None}]}  # fmt: skip
        if text is not None:
            rule["comment"] = text
        items.append({"rule": rule})
    return json.dumps({"nftables": items})


# -- generation and parsing (pure) --------------------------------------------------------------
def test_nft_exemption_replaces_stale_rules_and_inserts_ours_first() -> None:
    _golden("forward.nft", forward.nft_exemption(_network(), stale=(4, 9)))


def test_internal_network_is_exempted_only_into_the_bridge() -> None:
    script = forward.nft_exemption(_network(internal=True))
    _golden("forward-internal.nft", script)
    assert "iifname" not in script
    assert "-i dytest0" not in forward.legacy_exemption(_network(internal=True))


def test_legacy_exemption_is_one_restore_transaction() -> None:
    _golden("forward-legacy.rules", forward.legacy_exemption(_network(), stale=STALE_LEGACY))


def test_removals() -> None:
    assert forward.nft_removal([]) == ""
    assert forward.nft_removal([7]) == "delete rule ip filter FORWARD handle 7\n"
    assert forward.legacy_removal(STALE_LEGACY[1:]) == (
        "*filter\n-D FORWARD -o dytest0 -m comment --comment dockyard-dytest0 -j ACCEPT\nCOMMIT\n"
    )


@pytest.mark.parametrize("bridge", ["", "a" * 16, 'br"0', "br 0", "br;0", "-br", "br\n0"])
def test_bad_bridge_names_are_refused(bridge: str) -> None:
    with pytest.raises(InvalidArgument, match="not a valid device name"):
        forward.nft_exemption(_network(bridge=bridge))
    with pytest.raises(InvalidArgument):
        forward.legacy_exemption(_network(bridge=bridge))
    with pytest.raises(InvalidArgument):
        forward.unexempt_forward(bridge, Tools(nft="/nonexistent", iptables_legacy="/nonexistent"))


def test_parse_nft_chain() -> None:
    text = _nft_listing("drop", (5, "dockyard-dytest0"), (6, None), (7, "other"),
                        (8, "dockyard-dytest0"), (9, "dockyard-dytest00"))  # fmt: skip
    chain = forward.parse_nft_chain(text)
    assert chain is not None
    assert chain.drops
    assert chain.handles("dytest0") == (5, 8)
    assert chain.handles("dytest1") == ()
    accepting = forward.parse_nft_chain(_nft_listing("accept"))
    assert accepting is not None
    assert not accepting.drops
    regular = json.loads(_nft_listing("drop"))
    del regular["nftables"][1]["chain"]["hook"]
    assert forward.parse_nft_chain(json.dumps(regular)) is None  # not a base chain
    with pytest.raises(Unavailable, match="unexpected nft output"):
        forward.parse_nft_chain("table ip filter {")


def test_parse_legacy_chain() -> None:
    other = '-A FORWARD -o x -m comment --comment "dockyard-dytest0 too" -j ACCEPT'
    text = "\n".join(["-P FORWARD DROP", "-A FORWARD -j DOCKER-USER", *STALE_LEGACY, other])
    chain = forward.parse_legacy_chain(text + "\n")
    assert chain.drops
    assert chain.ours("dytest0") == STALE_LEGACY
    assert not forward.parse_legacy_chain("-P FORWARD ACCEPT\n").drops
    with pytest.raises(Unavailable, match="unexpected iptables line"):
        forward.parse_legacy_chain('-A FORWARD -m comment --comment "open\n')


# -- the appliers against fake tools (no root) ---------------------------------------------------
def _fake(path: Path, listing: str, log: Path, rc: int = 0) -> str:
    """A command that prints ``listing`` (to stderr when ``rc`` is not 0) and exits ``rc``, or
    with ``-f -`` / ``--noflush`` appends its input to ``log``."""
    (path.parent / (path.name + ".out")).write_text(listing)
    path.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *"-f -"*|*--noflush*) cat >> "{log}"; exit 0;; esac\n'
        f'cat "{path}.out" >&{2 if rc else 1}; exit {rc}\n'
    )
    path.chmod(0o755)
    return str(path)


def test_missing_tools_and_tables_mean_nothing_to_do(tmp_path: Path) -> None:
    tools = Tools(nft="/nonexistent/nft", iptables_legacy="/nonexistent/ipt", proc_net=tmp_path)
    assert forward.exempt_forward(_network(), tools) == []
    assert not forward.forward_policy_drops(tools)
    forward.unexempt_forward("dytest0", tools)
    log = tmp_path / "log"
    missing = _fake(tmp_path / "nft", "Error: No such file or directory\n", log, rc=1)
    (tmp_path / "ip_tables_names").write_text("nat\n")  # no legacy filter table: not listed
    tools = Tools(nft=missing, iptables_legacy="/nonexistent/ipt", proc_net=tmp_path)
    assert forward.exempt_forward(_network(), tools) == []
    assert not log.exists()


def test_fake_nft_exempts_replacing_ours_and_unexempts(tmp_path: Path) -> None:
    log = tmp_path / "log"
    listing = _nft_listing("drop", (3, "other"), (4, "dockyard-dytest0"), (9, "dockyard-dytest0"))
    tools = Tools(nft=_fake(tmp_path / "nft", listing, log), proc_net=tmp_path)
    assert forward.forward_policy_drops(tools)
    assert forward.exempt_forward(_network(), tools) == [Backend.NFTABLES]
    assert log.read_text() == forward.nft_exemption(_network(), stale=(4, 9))
    log.unlink()
    forward.unexempt_forward("dytest0", tools)
    assert log.read_text() == "delete rule ip filter FORWARD handle 4\n" + (
        "delete rule ip filter FORWARD handle 9\n"
    )


def test_fake_nft_accept_policy_only_removes_stale_rules(tmp_path: Path) -> None:
    log = tmp_path / "log"
    tools = Tools(nft=_fake(tmp_path / "nft", _nft_listing("accept"), log), proc_net=tmp_path)
    assert forward.exempt_forward(_network(), tools) == []
    assert not log.exists()
    stale = _nft_listing("accept", (4, "dockyard-dytest0"))
    tools = Tools(nft=_fake(tmp_path / "nft", stale, log), proc_net=tmp_path)
    assert forward.exempt_forward(_network(), tools) == []
    assert log.read_text() == "delete rule ip filter FORWARD handle 4\n"


def test_fake_legacy(tmp_path: Path) -> None:
    log = tmp_path / "log"
    (tmp_path / "ip_tables_names").write_text("nat\nfilter\n")
    listing = "-P FORWARD DROP\n" + "\n".join(STALE_LEGACY) + "\n"
    ipt = _fake(tmp_path / "iptables-legacy", listing, log)
    _fake(tmp_path / "iptables-legacy-restore", "", log)
    tools = Tools(nft="/nonexistent/nft", iptables_legacy=ipt, proc_net=tmp_path)
    assert forward.exempt_forward(_network(), tools) == [Backend.LEGACY]
    assert log.read_text() == forward.legacy_exemption(_network(), stale=STALE_LEGACY)


def test_refusal_is_reported(tmp_path: Path) -> None:
    fake = tmp_path / "nft"
    (tmp_path / "nft.out").write_text(_nft_listing("drop"))
    fake.write_text(
        '#!/bin/sh\ncase "$*" in *"-f -"*) echo "Error: Could not process rule" >&2; exit 1;; '
        f'esac\ncat "{fake}.out"\n'
    )
    fake.chmod(0o755)
    with pytest.raises(Unavailable, match=r"bridge dytest0: ip filter FORWARD: nft -f failed") as e:
        forward.exempt_forward(_network(), Tools(nft=str(fake), proc_net=tmp_path))
    assert e.value.hint


# -- real chains in a private network namespace (root) ------------------------------------------
class _Netns:
    """A private network namespace held by a sleeping child."""

    def __init__(self) -> None:
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "300"])
        for _ in range(200):  # unshare execs sleep once the namespace exists
            if os.readlink(f"/proc/{self.holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                return
            time.sleep(0.01)
        self.close()
        raise AssertionError("unshare --net did not enter a new namespace")

    @property
    def enter(self) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net"]

    def run(self, *argv: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run([*self.enter, *argv], input=stdin, capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr}")
        return done.stdout

    def tools(self, directory: Path) -> Tools:
        """Tools that act in this namespace."""
        directory.mkdir(exist_ok=True)
        for name in ("nft", "iptables-legacy", "iptables-legacy-restore"):
            wrapper = directory / name
            wrapper.write_text(f'#!/bin/sh\nexec {" ".join(self.enter)} {name} "$@"\n')
            wrapper.chmod(0o755)
        return Tools(nft=str(directory / "nft"), proc_net=Path(f"/proc/{self.holder.pid}/net"),
                     iptables_legacy=str(directory / "iptables-legacy"))  # fmt: skip

    def close(self) -> None:
        self.holder.send_signal(signal.SIGKILL)
        self.holder.wait()


@pytest.fixture
def netns() -> Iterator[_Netns]:
    if not all(shutil.which(tool) for tool in ("nft", "nsenter", "unshare")):
        pytest.skip("needs nft (apt-get install nftables), nsenter and unshare")
    ns = _Netns()
    try:
        yield ns
    finally:
        ns.close()


def _needs(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"needs {tool} (apt-get install iptables)")


def _docker_like_nft(ns: _Netns) -> str:
    """``ip filter FORWARD`` with policy drop and rules as docker's iptables-nft writes them;
    returns ``iptables-nft -S FORWARD``."""
    ns.run("nft", "-f", "-", stdin=DOCKER_CHAIN % "drop")
    ns.run("iptables-nft", "-N", "DOCKER-USER")
    ns.run("iptables-nft", "-A", "FORWARD", "-j", "DOCKER-USER")
    ns.run("iptables-nft", "-A", "FORWARD", "-o", "docker0", "-m", "conntrack", "--ctstate",
           "RELATED,ESTABLISHED", "-j", "ACCEPT")  # fmt: skip
    return ns.run("iptables-nft", "-S", "FORWARD")


@pytest.mark.root
def test_exemption_in_docker_like_nft_chain(netns: _Netns, tmp_path: Path) -> None:
    _needs("iptables-nft")
    tools = netns.tools(tmp_path / "bin")
    before = _docker_like_nft(netns)
    assert forward.forward_policy_drops(tools)
    for _ in range(2):  # idempotent
        assert forward.exempt_forward(_network(), tools) == [Backend.NFTABLES]
    assert forward.exempt_forward(_network(bridge="dytest1", internal=True), tools)
    # docker's own tool still reads the whole chain, ours first.
    lines = netns.run("iptables-nft", "-S", "FORWARD").splitlines()
    assert lines == [
        "-P FORWARD DROP",
        "-A FORWARD -o dytest1 -m comment --comment dockyard-dytest1 -j ACCEPT",
        "-A FORWARD -i dytest0 -m comment --comment dockyard-dytest0 -j ACCEPT",
        "-A FORWARD -o dytest0 -m comment --comment dockyard-dytest0 -j ACCEPT",
        *before.splitlines()[1:],
    ]
    forward.unexempt_forward("dytest0", tools)
    assert netns.run("iptables-nft", "-S", "FORWARD").splitlines() == [
        lines[0], lines[1], *before.splitlines()[1:]
    ]  # fmt: skip
    forward.unexempt_forward("dytest1", tools)
    forward.unexempt_forward("dytest1", tools)  # gone already: still fine
    assert netns.run("iptables-nft", "-S", "FORWARD") == before


@pytest.mark.root
def test_accept_policy_gets_nothing(netns: _Netns, tmp_path: Path) -> None:
    tools = netns.tools(tmp_path / "bin")
    assert forward.exempt_forward(_network(), tools) == []  # no table at all
    assert netns.run("nft", "list", "ruleset") == ""
    netns.run("nft", "-f", "-", stdin=DOCKER_CHAIN % "accept")
    netns.run("nft", "add", "rule", "ip", "filter", "FORWARD", "oifname", "dytest0", "accept",
              "comment", '"dockyard-dytest0"')  # a stale one  # fmt: skip
    assert not forward.forward_policy_drops(tools)
    assert forward.exempt_forward(_network(), tools) == []
    listing = netns.run("nft", "list", "chain", "ip", "filter", "FORWARD")
    assert "policy accept;" in listing
    assert "dytest0" not in listing
    assert not (tools.proc_net / "ip_tables_names").read_text().strip()  # no legacy table loaded


@pytest.mark.root
def test_exemption_in_legacy_chain(netns: _Netns, tmp_path: Path) -> None:
    _needs("iptables-legacy")
    tools = netns.tools(tmp_path / "bin")
    netns.run("iptables-legacy", "-N", "DOCKER-USER")
    netns.run("iptables-legacy", "-A", "FORWARD", "-j", "DOCKER-USER")
    assert forward.exempt_forward(_network(), tools) == []  # policy accept
    netns.run("iptables-legacy", "-P", "FORWARD", "DROP")
    before = netns.run("iptables-legacy", "-S", "FORWARD")
    for _ in range(2):
        assert forward.exempt_forward(_network(), tools) == [Backend.LEGACY]
    assert netns.run("iptables-legacy", "-S", "FORWARD").splitlines() == [
        "-P FORWARD DROP", *STALE_LEGACY, "-A FORWARD -j DOCKER-USER"
    ]  # fmt: skip
    forward.unexempt_forward("dytest0", tools)
    assert netns.run("iptables-legacy", "-S", "FORWARD") == before


# -- packets routed between private namespaces (root) -------------------------------------------
def _wire(router: _Netns, container: _Netns, outside: _Netns) -> None:
    """container 10.99.0.2 -- bridge dytest0 (10.99.0.1) [router] 10.98.0.1 -- outside 10.98.0.2;
    the outside has no route back: the network's masquerade answers for the container."""
    for argv in (
        "ip link add dytest0 type bridge", "ip addr add 10.99.0.1/24 dev dytest0",
        "ip link set dytest0 up",
        f"ip link add dytestc type veth peer name eth0 netns {container.holder.pid}",
        "ip link set dytestc master dytest0 up",
        f"ip link add dyteste type veth peer name eth0 netns {outside.holder.pid}",
        "ip addr add 10.98.0.1/24 dev dyteste", "ip link set dyteste up",
        "sysctl -qw net.ipv4.ip_forward=1",
    ):  # fmt: skip
        router.run(*argv.split())
    for ns, ip in ((container, "10.99.0.2/24"), (outside, "10.98.0.2/24")):
        ns.run("ip", "addr", "add", ip, "dev", "eth0")
        ns.run("ip", "link", "set", "eth0", "up")
    container.run("ip", "route", "add", "default", "via", "10.99.0.1")


def _pings(container: _Netns, tries: int = 1) -> bool:
    for _ in range(tries):
        ping = ["busybox", "ping", "-c", "1", "-W", "1", "10.98.0.2"]
        if not subprocess.run([*container.enter, *ping], capture_output=True).returncode:
            return True
    return False


@pytest.mark.root
@pytest.mark.netns
@pytest.mark.parametrize("backend", [Backend.NFTABLES, Backend.LEGACY])
def test_routed_traffic_needs_the_exemption(backend: Backend, tmp_path: Path) -> None:
    for tool in ("nft", "nsenter", "unshare", "ip", "busybox", "iptables-legacy"):
        if shutil.which(tool) is None and (tool != "iptables-legacy" or backend is Backend.LEGACY):
            pytest.skip(f"needs {tool}")
    spaces: list[_Netns] = []
    try:
        spaces.extend(_Netns() for _ in range(3))  # each one made is closed below
        router, container, outside = spaces
        _wire(router, container, outside)
        tools = router.tools(tmp_path / "bin")
        nft.apply(nft.network_table(_network()), nft=tools.nft)
        assert _pings(container, tries=5), "no route out even before any DROP policy"
        if backend is Backend.NFTABLES:
            router.run("nft", "-f", "-", stdin=DOCKER_CHAIN % "drop")
        else:
            router.run("iptables-legacy", "-P", "FORWARD", "DROP")
        assert not _pings(container)
        assert forward.exempt_forward(_network(), tools) == [backend]
        assert _pings(container, tries=3)
        forward.unexempt_forward("dytest0", tools)
        assert not _pings(container)
    finally:
        for ns in spaces:
            ns.close()
