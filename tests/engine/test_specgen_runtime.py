"""The generated default spec runs under ``dockyard-runtime`` with Docker's baseline in force."""

from __future__ import annotations

import resource
import subprocess
import uuid
from pathlib import Path

import pytest
from tests.runtime.test_runtime_lifecycle_harness import assert_nothing_left, dockyard_runtime

from dockyard.engine.options import HostFiles, RunOptions
from dockyard.engine.specgen import generate
from dockyard.oci.image import ImageConfig
from dockyard.oci.runtime import RlimitType

BUSYBOX = ImageConfig.from_json(
    {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": []},
    }
)


def _ceilings() -> dict[RlimitType, int]:
    """This process's hard nofile limit: the engine passes it so the default never needs
    CAP_SYS_RESOURCE (which test machines' root may lack)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return {} if hard == resource.RLIM_INFINITY else {RlimitType.NOFILE: hard}


def _status_fields(text: str) -> dict[str, str]:
    fields = (line.partition(":") for line in text.splitlines())
    return {key: value.strip() for key, _, value in fields}


def _bundle(tmp_path: Path, busybox_tar: Path, container_id: str, options: RunOptions) -> Path:
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(busybox_tar), "-C", str(bundle / "rootfs")], check=True)
    files = {name: tmp_path / name for name in ("hostname", "hosts", "resolv.conf")}
    for name, path in files.items():
        path.write_text(f"{container_id[:12]}\n" if name == "hostname" else "")
    spec = generate(
        BUSYBOX,
        options,
        container_id=container_id,
        rootfs="rootfs",
        hosts_files=HostFiles(
            hostname_path=str(files["hostname"]),
            hosts_path=str(files["hosts"]),
            resolv_path=str(files["resolv.conf"]),
        ),
        cgroup_v2=Path("/sys/fs/cgroup/cgroup.controllers").exists(),
        cgroups_path=f"/dockyard-test-{container_id}",
        rlimit_ceilings=_ceilings(),
    )
    (bundle / "config.json").write_bytes(spec.to_bytes())
    return bundle


@pytest.mark.root
def test_default_spec_runs_with_docker_baseline(tmp_path: Path, busybox_tar: Path) -> None:
    container_id = uuid.uuid4().hex + uuid.uuid4().hex
    options = RunOptions(cmd=("cat", "/proc/self/status"))
    bundle = _bundle(tmp_path, busybox_tar, container_id, options)
    runtime = dockyard_runtime(tmp_path / "state")
    status = _status_fields(runtime("run", "--bundle", str(bundle), container_id).stdout.decode())
    assert status["CapEff"] == "00000000a80425fb"
    assert status["CapBnd"] == "00000000a80425fb"
    assert status["CapInh"] == "0000000000000000"
    assert status["Seccomp"] == "2"
    assert status["NoNewPrivs"] == "1"
    assert_nothing_left(runtime, container_id, bundle)


@pytest.mark.root
def test_generated_spec_sets_hostname_and_env(tmp_path: Path, busybox_tar: Path) -> None:
    container_id = uuid.uuid4().hex + uuid.uuid4().hex
    options = RunOptions(cmd=("sh", "-c", "hostname; echo $HOSTNAME; cat /etc/hostname"))
    bundle = _bundle(tmp_path, busybox_tar, container_id, options)
    runtime = dockyard_runtime(tmp_path / "state")
    out = runtime("run", "--bundle", str(bundle), container_id).stdout.decode().split()
    assert out == [container_id[:12]] * 3
