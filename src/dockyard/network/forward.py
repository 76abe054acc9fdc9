"""Coexisting with another engine's ``FORWARD`` policy ``DROP``: a network's accept rules in
the host's ``filter`` table, added after its own table (:mod:`.nft`) and removed with it.

Docker, on either iptables backend, sets the policy of the ``filter`` table's ``FORWARD`` chain
to ``DROP``. A routed packet must be accepted by every base chain on the forward hook (nftables
and legacy x_tables alike), so that policy drops dockyard's container traffic even though the
network's own table accepts it. Where, and only where, such a chain drops by default, each
network inserts at its top two rules commented ``dockyard-<bridge>``::

    iifname "BR" accept     (not for internal networks: nothing leaves them)
    oifname "BR" accept

They only get packets past the other engine's chain: the network's own ``forward`` chain still
decides what may enter the bridge (replies, published ports, the bridge's own traffic) and what
may leave an internal one, and every packet must pass it too. The rules are plain interface
matches on purpose: ``iptables-nft`` (docker's own tool) cannot read a chain holding native
``ct`` expressions (``iptables -S FORWARD`` and ``iptables-save`` then fail: "chain `FORWARD' in
table `filter' is incompatible"); it reads ours as
``-A FORWARD -i BR -m comment --comment dockyard-BR -j ACCEPT``. And with ``br_netfilter``
(docker loads it) traffic between two containers of an internal network crosses ``FORWARD``
with both interfaces the bridge: ``oifname`` lets it through.

Two backends, each used only where it has such a chain:

``nftables``
    ``table ip filter`` with a base chain ``FORWARD`` on the forward hook (iptables-nft, as
    docker creates it); ours are found by comment in ``nft -j -a list chain`` and deleted by
    handle.
``iptables-legacy``
    the legacy ``filter`` table, looked at only when ``/proc/net/ip_tables_names`` lists it
    (listing it otherwise loads it, and iptables-nft then warns on every call); ours are found
    by comment in ``iptables-legacy -S FORWARD`` and edited in one ``iptables-legacy-restore
    --noflush`` transaction.

Nothing else of those tables is touched; a missing tool or table means there is nothing to do.
The policy is read when a network's helper starts: docker started later is seen by the next one.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from dockyard.errors import Unavailable
from dockyard.network.model import Network
from dockyard.network.nft import table_name

CHAIN: Final = "FORWARD"
_TIMEOUT_S: Final = 30.0
_LOCK_WAIT_S: Final = "10"  # seconds to wait for the xtables lock another iptables holds


class Backend(StrEnum):
    NFTABLES = "nftables"
    LEGACY = "iptables-legacy"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tools:
    """The commands to run and the ``/proc/net`` to read (tests point them into a private
    network namespace). ``iptables_legacy + "-restore"`` is the restore command."""

    nft: str = "nft"
    iptables_legacy: str = "iptables-legacy"
    proc_net: Path = Path("/proc/net")


HOST: Final = Tools()


@dataclass(frozen=True, slots=True, kw_only=True)
class NftChain:
    """``ip filter FORWARD`` as nftables lists it: its policy and its commented rules."""

    drops: bool
    commented: tuple[tuple[int, str], ...] = ()  # (handle, comment)

    def handles(self, bridge: str) -> tuple[int, ...]:
        """The handles of the rules of the network on ``bridge``."""
        mark = comment(bridge)
        return tuple(handle for handle, text in self.commented if text == mark)


@dataclass(frozen=True, slots=True, kw_only=True)
class LegacyChain:
    """The legacy ``filter`` table's ``FORWARD`` chain: its policy and its ``-A`` lines."""

    drops: bool
    rules: tuple[str, ...] = ()

    def ours(self, bridge: str) -> tuple[str, ...]:
        """The ``-A FORWARD ...`` lines of the network on ``bridge``."""
        mark = comment(bridge)
        return tuple(line for line in self.rules if _has_comment(shlex.split(line), mark))


# -- pure ---------------------------------------------------------------------------------------
def comment(bridge: str) -> str:
    """The comment of the network's rules: ``dockyard-<bridge>``, its table's name.

    Raises:
        InvalidArgument: ``bridge`` is not a device name.
    """
    return table_name(bridge)


def nft_exemption(network: Network, stale: Sequence[int] = ()) -> str:
    """The ``nft -f`` script that deletes the rules ``stale`` (by handle) and inserts the
    network's exemption at the top of ``ip filter FORWARD``, in one transaction.

    Raises:
        InvalidArgument: the bridge name is malformed.
    """
    mark = comment(network.bridge)
    rules = [
        f'insert rule ip filter {CHAIN} {key} "{network.bridge}" accept comment "{mark}"\n'
        for key in reversed(_keys(network))  # each insert goes first: reversed keeps the order
    ]
    return nft_removal(stale) + "".join(rules)


def nft_removal(handles: Sequence[int]) -> str:
    """The ``nft -f`` script that deletes the rules ``handles`` of ``ip filter FORWARD``."""
    return "".join(f"delete rule ip filter {CHAIN} handle {int(h)}\n" for h in handles)


def legacy_exemption(network: Network, stale: Sequence[str] = ()) -> str:
    """The ``iptables-restore --noflush`` input that deletes the ``-A`` lines ``stale`` and
    inserts the network's exemption at the top of ``FORWARD``, in one transaction.

    Raises:
        InvalidArgument: the bridge name is malformed.
    """
    mark = comment(network.bridge)
    flags = {"iifname": "-i", "oifname": "-o"}
    rules = [
        f"-I {CHAIN} {n} {flags[key]} {network.bridge} -m comment --comment {mark} -j ACCEPT\n"
        for n, key in enumerate(_keys(network), start=1)
    ]
    return "*filter\n" + _legacy_deletes(stale) + "".join(rules) + "COMMIT\n"


def legacy_removal(stale: Sequence[str]) -> str:
    """The ``iptables-restore --noflush`` input that deletes the ``-A`` lines ``stale``."""
    return "*filter\n" + _legacy_deletes(stale) + "COMMIT\n"


def parse_nft_chain(text: str) -> NftChain | None:
    """``nft -j -a list chain ip filter FORWARD`` output; None when the chain is not a base
    chain on the forward hook.

    Raises:
        Unavailable: the output is not nft's JSON.
    """
    try:
        items = json.loads(text)["nftables"]
        chain: dict[str, object] | None = None
        commented: list[tuple[int, str]] = []
        for item in items:
            if isinstance(item.get("chain"), dict):
                chain = item["chain"]
            rule = item.get("rule")
            if isinstance(rule, dict) and isinstance(rule.get("comment"), str):
                commented.append((int(rule["handle"]), rule["comment"]))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise Unavailable(f"ip filter {CHAIN}: unexpected nft output: {text[:200]!r}") from err
    if chain is None or chain.get("hook") != "forward":
        return None
    return NftChain(drops=chain.get("policy") == "drop", commented=tuple(commented))


def parse_legacy_chain(text: str) -> LegacyChain:
    """``iptables-legacy -S FORWARD`` output.

    Raises:
        Unavailable: a line is not shell words.
    """
    drops, rules = False, []
    for line in text.splitlines():
        try:
            words = shlex.split(line)
        except ValueError as err:
            raise Unavailable(f"legacy {CHAIN}: unexpected iptables line {line!r}") from err
        if words == ["-P", CHAIN, "DROP"]:
            drops = True
        elif words[:2] == ["-A", CHAIN]:
            rules.append(line.strip())
    return LegacyChain(drops=drops, rules=tuple(rules))


def _keys(network: Network) -> tuple[str, ...]:
    return ("oifname",) if network.internal else ("iifname", "oifname")


def _has_comment(words: Sequence[str], mark: str) -> bool:
    return any(a == "--comment" and b == mark for a, b in itertools.pairwise(words))


def _legacy_deletes(stale: Sequence[str]) -> str:
    return "".join(f"-D {line.removeprefix('-A ')}\n" for line in stale if line.startswith("-A "))


# -- thin side effects --------------------------------------------------------------------------
def read_nft_chain(tools: Tools = HOST) -> NftChain | None:
    """The host's ``ip filter FORWARD`` base chain; None without nft, the table or the chain.

    Raises:
        Unavailable: nft failed otherwise, or printed something unexpected.
    """
    argv = [tools.nft, "-j", "-a", "list", "chain", "ip", "filter", CHAIN]
    done = _run(argv, what=f"ip filter {CHAIN}")
    if done is None or (done.returncode != 0 and "No such file or directory" in done.stderr):
        return None
    _check(done, what=f"ip filter {CHAIN}: nft list")
    return parse_nft_chain(done.stdout)


def read_legacy_chain(tools: Tools = HOST) -> LegacyChain | None:
    """The legacy ``filter`` table's ``FORWARD`` chain; None when that table is not loaded or
    ``iptables-legacy`` is missing.

    Raises:
        Unavailable: iptables-legacy failed.
    """
    try:
        names = (tools.proc_net / "ip_tables_names").read_text().split()
    except OSError:  # no ip_tables module, or not root: no legacy table to look at
        return None
    if "filter" not in names:
        return None
    done = _run([tools.iptables_legacy, "-w", _LOCK_WAIT_S, "-S", CHAIN], what=f"legacy {CHAIN}")
    if done is None:
        return None
    _check(done, what=f"legacy {CHAIN}: iptables-legacy -S")
    return parse_legacy_chain(done.stdout)


def forward_policy_drops(tools: Tools = HOST) -> bool:
    """Whether the host's ``FORWARD`` chain drops by default, in either backend.

    Raises:
        Unavailable: a tool failed.
    """
    chains = (read_nft_chain(tools), read_legacy_chain(tools))
    return any(chain is not None and chain.drops for chain in chains)


def exempt_forward(network: Network, tools: Tools = HOST) -> list[Backend]:
    """Let the network's traffic past each ``FORWARD`` chain of the host that drops by default
    (and take the network's rules out of one that no longer does). Idempotent: the network's
    old rules are replaced in the same transaction.

    Returns the backends whose chain now holds the exemption.

    Raises:
        InvalidArgument: the bridge name is malformed.
        Unavailable: a tool failed or refused the change (nothing of that change was applied).
    """
    comment(network.bridge)
    done = []
    chain = read_nft_chain(tools)
    if chain is not None:
        stale = chain.handles(network.bridge)
        if chain.drops:
            _apply_nft(tools, nft_exemption(network, stale), network.bridge)
            done.append(Backend.NFTABLES)
        elif stale:
            _apply_nft(tools, nft_removal(stale), network.bridge)
    legacy = read_legacy_chain(tools)
    if legacy is not None:
        lines = legacy.ours(network.bridge)
        if legacy.drops:
            _apply_legacy(tools, legacy_exemption(network, lines), network.bridge)
            done.append(Backend.LEGACY)
        elif lines:
            _apply_legacy(tools, legacy_removal(lines), network.bridge)
    return done


def unexempt_forward(bridge: str, tools: Tools = HOST) -> None:
    """Remove the rules of the network on ``bridge`` from the host's ``FORWARD`` chains (none
    there: nothing to do).

    Raises:
        InvalidArgument: ``bridge`` is not a device name.
        Unavailable: a tool failed or refused the change.
    """
    comment(bridge)
    chain = read_nft_chain(tools)
    if chain is not None and chain.handles(bridge):
        _apply_nft(tools, nft_removal(chain.handles(bridge)), bridge)
    legacy = read_legacy_chain(tools)
    if legacy is not None and legacy.ours(bridge):
        _apply_legacy(tools, legacy_removal(legacy.ours(bridge)), bridge)


def _apply_nft(tools: Tools, script: str, bridge: str) -> None:
    what = f"bridge {bridge}: ip filter {CHAIN}: nft -f"
    _check(_run([tools.nft, "-f", "-"], what=what, script=script), what=what)


def _apply_legacy(tools: Tools, script: str, bridge: str) -> None:
    argv = [tools.iptables_legacy + "-restore", "-w", _LOCK_WAIT_S, "--noflush"]
    what = f"bridge {bridge}: legacy {CHAIN}: iptables-legacy-restore"
    _check(_run(argv, what=what, script=script), what=what)


def _run(
    argv: list[str], *, what: str, script: str | None = None
) -> subprocess.CompletedProcess[str] | None:
    """Run ``argv``; None when the command does not exist.

    Raises:
        Unavailable: it did not finish in time.
    """
    try:
        return subprocess.run(
            argv, input=script, capture_output=True, text=True, timeout=_TIMEOUT_S,
            check=False, env={**os.environ, "LC_ALL": "C"},  # untranslated messages
        )  # fmt: skip
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired as err:
        raise Unavailable(f"{what}: {argv[0]} did not finish in {_TIMEOUT_S:.0f}s") from err


def _check(done: subprocess.CompletedProcess[str] | None, *, what: str) -> None:
    if done is None:
        raise Unavailable(f"{what}: command not found", hint="install iptables and nftables")
    if done.returncode != 0:
        raise Unavailable(
            f"{what} failed (exit {done.returncode}): {done.stderr.strip()}",
            hint=f"look at the chain (nft list chain ip filter {CHAIN}, iptables-legacy -S "
            f"{CHAIN}); rules commented dockyard-<bridge> are dockyard's",
        )
