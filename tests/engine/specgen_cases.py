"""Golden cases of specgen: ``testdata/specgen/<case>/{options.json,image.json,spec.json}``.

``options.json`` holds ``options`` (the :class:`RunOptions` fields, JSON-typed) and optional
``generate`` (keyword arguments of :func:`generate` overriding :data:`GENERATE`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from dockyard.engine.options import (
    BindMount,
    DeviceMapping,
    HostFiles,
    IpcMode,
    NetworkMode,
    RunOptions,
    Ulimit,
)
from dockyard.engine.specgen import generate
from dockyard.oci.image import ImageConfig
from dockyard.oci.runtime import Spec
from dockyard.oci.runtime_resources import DeviceType

CASES = Path(__file__).parent / "testdata" / "specgen"
CONTAINER_ID = "3f4e8a1b2c9d" + "0" * 52
GENERATE: dict[str, Any] = {
    "container_id": CONTAINER_ID,
    "rootfs": "/var/lib/dockyard/containers/3f4e8a1b2c9d/rootfs",
    "hosts_files": HostFiles(
        hostname_path="/var/lib/dockyard/containers/3f4e8a1b2c9d/hostname",
        hosts_path="/var/lib/dockyard/containers/3f4e8a1b2c9d/hosts",
        resolv_path="/var/lib/dockyard/containers/3f4e8a1b2c9d/resolv.conf",
    ),
    "cgroup_v2": True,
    "cgroups_path": "/dockyard/3f4e8a1b2c9d",
    "host_hostname": "buildhost",
    "kernel": (6, 1),
}


def _field(name: str, value: Any) -> Any:
    if name == "binds":
        return tuple(BindMount(**b) for b in value)
    if name == "devices":
        return tuple(DeviceMapping(**(v | {"type": DeviceType(v["type"])})) for v in value)
    if name == "ulimits":
        return tuple(Ulimit(**u) for u in value)
    if name == "ipc":
        return IpcMode(value)
    if name == "network":
        return NetworkMode(value)
    return tuple(value) if isinstance(value, list) else value


def options_from_json(obj: dict[str, Any]) -> RunOptions:
    names = {f.name for f in dataclasses.fields(RunOptions)}
    unknown = set(obj) - names
    assert not unknown, f"unknown RunOptions fields {unknown}"
    return RunOptions(**{k: _field(k, v) for k, v in obj.items()})


def case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if p.is_dir())


def generate_case(case: str) -> Spec:
    where = CASES / case
    doc = json.loads((where / "options.json").read_text())
    image = ImageConfig.from_json(json.loads((where / "image.json").read_text()))
    kwargs = GENERATE | doc.get("generate", {})
    return generate(image, options_from_json(doc.get("options", {})), **kwargs)
