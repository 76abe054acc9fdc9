"""The ``dockyard-runtime`` command line: runc's flags, errors (exit 1, naming the container),
``--log`` lines, ``spec``, and the import budget of the hot path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.runtime.test_runtime_lifecycle_harness import (
    dockyard_runtime,
    make_bundle,
    new_id,
    probe_binary,
)

from dockyard.cli.runtime_main import main
from dockyard.oci.runtime import Spec, default_spec


def test_spec_writes_runc_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "--bundle", str(tmp_path)]) == 0
    written = Spec.from_bytes((tmp_path / "config.json").read_bytes())
    assert written == default_spec()
    assert main(["spec", "--bundle", str(tmp_path)]) == 1
    assert "exists" in capsys.readouterr().err


def test_unknown_container(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for verb in (["state"], ["start"], ["kill"], ["delete"], ["pause"], ["ps"]):
        assert main(["--root", str(tmp_path), *verb, "ghost"]) == 1
        assert "container ghost: does not exist" in capsys.readouterr().err
    assert main(["--root", str(tmp_path), "delete", "--force", "ghost"]) == 0


def test_list_empty_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(tmp_path / "none"), "list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["--root", str(tmp_path / "none"), "list"]) == 0
    assert capsys.readouterr().out.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--no-pivot", "x"], "--no-pivot: not supported"),
        (["run", "--preserve-fds", "2", "x"], "--preserve-fds"),
        (["--systemd-cgroup", "list"], "systemd"),
        (["kill", "x", "NOPE"], "unknown signal name"),
        (["create", "bad/id"], "invalid format"),
    ],
)
def test_refused_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["--root", str(tmp_path), *args]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_errors_go_to_the_log(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    log = tmp_path / "log.json"
    code = main(["--root", str(tmp_path), "--log", str(log), "--log-format", fmt, "state", "ghost"])
    assert code == 1
    line = log.read_text().splitlines()[-1]
    if fmt == "json":
        assert json.loads(line)["level"] == "error"
        assert json.loads(line)["msg"] == "container ghost: does not exist"
    else:
        assert 'level=error msg="container ghost: does not exist"' in line


def test_usage_errors_exit_1(tmp_path: Path) -> None:
    assert main(["--root", str(tmp_path), "start"]) == 1
    assert main(["--root", str(tmp_path), "nosuchverb"]) == 1


@pytest.mark.root
@pytest.mark.cgroup
def test_bad_config_names_field_and_cleans_up(tmp_path: Path, busybox_tar: Path) -> None:
    cid = new_id()
    bundle = make_bundle(tmp_path / cid, busybox_tar, probe_binary(), cid)
    (bundle / "config.json").write_text("{not json")
    rt = dockyard_runtime(tmp_path / "state")
    proc = rt("create", "--bundle", str(bundle), cid, check=False)
    assert proc.returncode == 1 and b"config.json" in proc.stderr and cid.encode() in proc.stderr
    assert not (tmp_path / "state" / cid).exists()


def test_run_path_imports_stay_small() -> None:
    """The run path (the parent and, preloaded, the init's modules) must not import click,
    rich, httpx, aiohttp, pyroute2, libseccomp's wrapper when the spec has no seccomp, the
    image-side OCI types (hashlib), the v2 device-filter compiler on a v1 host, or the
    console code without a terminal."""
    code = (
        "import sys; import dockyard.cli.runtime_main, dockyard.runtime.run, "
        "dockyard.runtime.create, dockyard.runtime.init, dockyard.runtime.mountplan, "
        "dockyard.runtime.rootfs, dockyard.runtime.process, dockyard.cgroups.v1; "
        "bad = [m for m in ('click', 'rich', 'httpx', 'aiohttp', 'pyroute2', "
        "'dockyard.linux.seccomp', 'dockyard.oci.digest', 'dockyard.oci.image', "
        "'dockyard.cgroups.v2', 'dockyard.cgroups.devicefilter', 'dockyard.runtime.console', "
        "'dockyard.image', 'dockyard.metadata') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
