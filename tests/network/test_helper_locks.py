"""The host-wide bridge lock: two state roots configured with one bridge name never run
helpers on it at once (each would delete the other's bridge and rules)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.errors import Conflict
from dockyard.network import helper


def test_a_second_root_waits_then_is_refused_naming_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helper, "BRIDGE_WAIT", 0.3)
    first = helper._claim_bridge("dytlock0", Path("/roots/one"), tmp_path)
    try:
        with pytest.raises(Conflict, match=r"bridge dytlock0 is in use .*state root /roots/one"):
            helper._claim_bridge("dytlock0", Path("/roots/two"), tmp_path)
        other = helper._claim_bridge("dytlock1", Path("/roots/two"), tmp_path)  # another name
        os.close(other)
    finally:
        os.close(first)
    again = helper._claim_bridge("dytlock0", Path("/roots/two"), tmp_path)  # released: free
    assert (tmp_path / "dockyard-bridge-dytlock0.lock").read_text() == "/roots/two"
    os.close(again)
