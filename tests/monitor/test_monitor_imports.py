"""The monitor's pure modules stay import-light: their memory is paid per running container."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dockyard

SRC = str(Path(dockyard.__file__).resolve().parent.parent)

# json is refused too: it imports re and enum.
HEAVY = {
    "dataclasses", "enum", "pathlib", "re", "typing", "json", "datetime", "collections",
    "socket", "signal", "selectors", "functools",
}  # fmt: skip

# Every module the long-lived monitor process loads (spawn and launch run in the CLI's fork).
LIGHT_MODULES = [
    "dockyard.monitor.restart", "dockyard.monitor.health", "dockyard.monitor.logfile",
    "dockyard.monitor.loop", "dockyard.monitor.exits", "dockyard.monitor.probes",
    "dockyard.monitor.state", "dockyard.monitor.protocol", "dockyard.monitor.minijson",
]  # fmt: skip

# -S: no site; a bare interpreter then holds none of HEAVY, so whatever is there after the
# import came with it. The probe itself imports nothing.
_PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
__import__(sys.argv[2])
print(" ".join(sorted(sys.modules)))
"""


def loaded_by(module: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-S", "-c", _PROBE, SRC, module],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(done.stdout.split())


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_module_imports_no_heavy_stdlib(module: str) -> None:
    loaded = loaded_by(module)
    assert module in loaded
    assert sorted(loaded & HEAVY) == []


def test_probe_sees_heavy_imports() -> None:
    assert {"json", "re", "enum"} <= loaded_by("json")
