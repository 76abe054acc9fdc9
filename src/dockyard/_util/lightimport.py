"""Importing a package's submodules without running the package's ``__init__`` first.

pyroute2's ``__init__`` imports every module of the library (the NDB database, ethtool,
IPVS, nftables, devlink, wireless...) to re-export their names: ~30 ms of CPU of the network
helper's start (0.14 s -> 0.11 s of imports), which the first containers on a new network,
a whole ``compose up``, wait for. The helper needs only ``pyroute2.iproute.linux`` and what
that imports itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def import_subpackages_only(name: str) -> None:
    """Let ``import name.sub`` load ``sub`` without executing ``name/__init__.py`` yet.

    The package is registered as a module with the package's real spec and search path but
    an empty namespace, so its submodules import as usual. A name the ``__init__`` would have
    defined is looked up lazily: a submodule of that name is imported, or else the real
    ``__init__`` runs then, once, in that module (``from name import X`` keeps working
    anywhere in the process). Nothing happens when the package is already imported.

    Raises:
        ModuleNotFoundError: there is no package ``name``.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(f"no package named {name!r}", name=name)
    module = types.ModuleType(name)
    module.__spec__ = spec
    module.__loader__ = spec.loader
    module.__path__ = list(spec.submodule_search_locations)
    module.__file__ = spec.origin
    module.__package__ = name
    initialised = False

    def complete(attr: str) -> object:
        nonlocal initialised
        if not attr.startswith("__"):
            try:
                return importlib.import_module(f"{name}.{attr}")
            except ModuleNotFoundError as err:
                if err.name != f"{name}.{attr}":
                    raise
        if not initialised:
            initialised = True
            del module.__getattr__
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        try:
            return module.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    module.__getattr__ = complete  # type: ignore[method-assign]
    sys.modules[name] = module
