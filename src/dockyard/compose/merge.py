"""Merging canonical compose documents: several ``-f`` files, ``extends`` and ``include``.

The compose specification's rules (``merge.md``), on the canonical forms of :mod:`.syntax`:

- mappings merge key by key, the later file winning (``environment``, ``labels``, ``build``,
  ``deploy``, ``networks``, ``depends_on`` ...);
- ``command``, ``entrypoint`` and ``healthcheck.test`` are replaced, not merged;
- ``volumes`` merge by target, ``secrets`` and ``configs`` by target (or source);
- other sequences (``ports``, ``expose``, ``dns``, ``cap_add`` ...) are concatenated without
  duplicates;
- ``!reset`` removes the earlier value, ``!override`` replaces it (:mod:`.yamlfile`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard.compose.yamlfile import Override, Reset

_REPLACED = frozenset({("command",), ("entrypoint",), ("healthcheck", "test")})
_KEYED: dict[tuple[str, ...], Callable[[dict[str, Any]], str]] = {
    ("volumes",): lambda m: m["target"],
    ("secrets",): lambda m: m.get("target", m["source"]),
    ("configs",): lambda m: m.get("target", m["source"]),
}
_TOP_SECTIONS = ("networks", "volumes", "secrets", "configs")


def merge_documents(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` (a later file) merged onto ``base``; both canonical; neither is changed."""
    out = dict(base)
    for key, value in over.items():
        if key == "services":
            services = dict(out.get("services") or {})
            for name, service in value.items():
                services[name] = merge_service(services.get(name), service)
            out["services"] = services
        elif key in _TOP_SECTIONS and isinstance(value, dict):
            section = dict(out.get(key) or {})
            for name, item in value.items():
                section[name] = merge_value(section.get(name), item, (key,))
            out[key] = section
        else:
            out[key] = value
    return out


def merge_service(base: dict[str, Any] | None, over: Any) -> Any:
    """One service definition merged onto another (``base`` None: ``over`` as it is)."""
    if base is None or isinstance(over, (Override, Reset)) or not isinstance(over, dict):
        return over
    return merge_value(base, over, ())


def merge_value(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    """``over`` merged onto ``base`` at ``path`` inside a service (see the module docstring)."""
    if isinstance(over, Override):
        return over.value
    if isinstance(over, Reset) or base is None or isinstance(base, Reset):
        return over
    if isinstance(base, Override):
        base = base.value
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge_value(out.get(key), value, (*path, key))
        return out
    if isinstance(base, list) and isinstance(over, list):
        if path in _REPLACED:
            return over
        keyed = _KEYED.get(path)
        if keyed is not None:
            merged = {keyed(item): item for item in base}
            merged.update({keyed(item): item for item in over})
            return list(merged.values())
        return base + [item for item in over if item not in base]
    return over


def strip_tags(value: Any) -> Any:
    """The document without ``!reset`` keys and ``!override`` wrappers (after all merges)."""
    if isinstance(value, Override):
        return strip_tags(value.value)
    if isinstance(value, dict):
        return {k: strip_tags(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [strip_tags(v) for v in value if not isinstance(v, Reset)]
    return value
