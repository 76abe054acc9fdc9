"""lightimport.import_subpackages_only: submodules without the package's ``__init__``, and the
``__init__``'s names still there when someone asks for them (the network helper's pyroute2)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard._util.lightimport import import_subpackages_only

_PKG = "dy_lightimport_pkg"


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    """A package whose ``__init__`` counts its runs and re-exports a submodule's name."""
    root = tmp_path / _PKG
    root.mkdir()
    (root / "__init__.py").write_text(
        "import builtins\n"
        "builtins.dy_lightimport_runs = getattr(builtins, 'dy_lightimport_runs', 0) + 1\n"
        f"from {_PKG}.core import Thing\n"
        "EXPORTED = 'from the init'\n"
    )
    (root / "core.py").write_text("class Thing:\n    pass\n")
    (root / "extra.py").write_text("VALUE = 42\n")
    (root / "broken.py").write_text("import dy_lightimport_no_such_module\n")
    sys.path.insert(0, str(tmp_path))
    import builtins

    try:
        yield root
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == _PKG or m.startswith(_PKG + ".")]:
            del sys.modules[name]
        if hasattr(builtins, "dy_lightimport_runs"):
            del builtins.dy_lightimport_runs


def _runs() -> int:
    import builtins

    return int(getattr(builtins, "dy_lightimport_runs", 0))


def test_submodules_import_without_the_init(package: Path) -> None:
    import_subpackages_only(_PKG)
    core = __import__(f"{_PKG}.core", fromlist=["Thing"])
    assert core.Thing.__module__ == f"{_PKG}.core"
    extra = __import__(_PKG, fromlist=["extra"]).extra  # a submodule by attribute: imported
    assert extra.VALUE == 42
    assert _runs() == 0


def test_the_inits_names_come_on_demand_once(package: Path) -> None:
    import_subpackages_only(_PKG)
    core = __import__(f"{_PKG}.core", fromlist=["Thing"])
    pkg = sys.modules[_PKG]
    assert pkg.EXPORTED == "from the init"
    assert pkg.Thing is core.Thing  # the init ran on the loaded submodule, not a second copy
    assert pkg.EXPORTED and _runs() == 1
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = pkg.missing
    assert _runs() == 1


def test_a_broken_submodule_is_not_taken_for_a_missing_one(package: Path) -> None:
    import_subpackages_only(_PKG)
    with pytest.raises(ModuleNotFoundError, match="dy_lightimport_no_such_module"):
        _ = sys.modules[_PKG].broken
    assert _runs() == 0


def test_an_imported_package_is_left_alone(package: Path) -> None:
    real = __import__(_PKG)
    import_subpackages_only(_PKG)
    assert sys.modules[_PKG] is real and _runs() == 1


def test_a_missing_package() -> None:
    with pytest.raises(ModuleNotFoundError):
        import_subpackages_only("dy_lightimport_nowhere")


def test_the_network_helper_skips_pyroute2s_init() -> None:
    """The helper's netlink module loads pyroute2's IPRoute without the library's other
    modules (NDB, ethtool...), and ``from pyroute2 import NDB`` still works after it."""
    code = (
        "import sys\n"
        "import dockyard.network.plumbing\n"
        "print('pyroute2.ndb.main' in sys.modules)\n"
        "from pyroute2 import NDB\n"
        "print(NDB.__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "NDB"]
