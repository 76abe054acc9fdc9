"""Lifecycle hooks through ``dockyard-runtime``: each kind runs once, at its point, in order,
with the state JSON on stdin; a failing hook fails the verb and leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.runtime.test_runtime_lifecycle_harness import (
    Config,
    Runtime,
    assert_nothing_left,
    dockyard_runtime,
    make_bundle,
    new_id,
    probe_binary,
    process_of,
)

from dockyard.errors import FailedPrecondition
from dockyard.oci.runtime import Hook
from dockyard.runtime.hooks import HookKind, run_hook

HOST_KINDS = ("prestart", "createRuntime", "createContainer", "poststart", "poststop")


def _hook(script: str) -> dict[str, object]:
    return {"path": "/bin/sh", "args": ["sh", "-c", script], "env": ["PATH=/usr/bin:/bin"]}


def _with_hooks(markers: Path) -> Callable[[Config], None]:
    def edit(config: Config) -> None:
        hooks: dict[str, list[dict[str, object]]] = {
            kind: [_hook(f"cat > {markers}/{kind}.json; echo {kind} >> {markers}/order")]
            for kind in HOST_KINDS
        }
        # startContainer runs after pivot_root: it sees the container's files only.
        hooks["startContainer"] = [_hook("cat > /tmp/startContainer.json")]
        config["hooks"] = hooks
        config["root"] = {"path": "rootfs", "readonly": False}
        process_of(config)["args"] = ["/bin/sleep", "30"]

    return edit


@pytest.mark.root
@pytest.mark.cgroup
def test_every_hook_kind_runs_in_order(tmp_path: Path, busybox_tar: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    cid = new_id()
    bundle = make_bundle(tmp_path / cid, busybox_tar, probe_binary(), cid, _with_hooks(markers))
    rt = dockyard_runtime(tmp_path / "state")
    rt("create", "--bundle", str(bundle), cid)
    pid = rt.state(cid)["pid"]
    assert (markers / "order").read_text().split() == [
        "prestart",
        "createRuntime",
        "createContainer",
    ]
    creating = json.loads((markers / "createRuntime.json").read_text())
    assert creating == {
        "ociVersion": creating["ociVersion"],
        "id": cid,
        "status": "creating",
        "pid": pid,
        "bundle": str(bundle),
    }
    assert json.loads((markers / "createContainer.json").read_text())["status"] == "creating"
    assert not (bundle / "rootfs/tmp/startContainer.json").exists()
    rt("start", cid)
    assert (markers / "order").read_text().split()[3:] == ["poststart"]
    started = json.loads((bundle / "rootfs/tmp/startContainer.json").read_text())
    assert (started["id"], started["status"]) == (cid, "created")
    assert json.loads((markers / "poststart.json").read_text())["status"] == "running"
    rt("delete", "--force", cid)
    assert (markers / "order").read_text().split()[4:] == ["poststop"]
    assert json.loads((markers / "poststop.json").read_text())["status"] == "stopped"
    assert_nothing_left(rt, cid, bundle)


@pytest.mark.root
@pytest.mark.cgroup
@pytest.mark.parametrize("kind", ["createRuntime", "createContainer", "prestart"])
def test_failing_create_hook_fails_create(tmp_path: Path, busybox_tar: Path, kind: str) -> None:
    def edit(config: Config) -> None:
        config["hooks"] = {kind: [_hook("exit 0"), _hook("echo broken >&2; exit 7")]}

    cid = new_id()
    bundle = make_bundle(tmp_path / cid, busybox_tar, probe_binary(), cid, edit)
    rt: Runtime = dockyard_runtime(tmp_path / "state")
    proc = rt("create", "--bundle", str(bundle), cid, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert f"{kind} hook #1" in err and "exit status 7" in err and "broken" in err and cid in err
    assert_nothing_left(rt, cid, bundle)


def test_run_hook_timeout_and_missing_binary(tmp_path: Path) -> None:
    slow = Hook(path="/bin/sleep", args=("sleep", "5"), timeout=1)
    with pytest.raises(FailedPrecondition, match=r"poststart hook #0 \(/bin/sleep\): timed out"):
        run_hook("c1", HookKind.POSTSTART, 0, slow, b"{}")
    missing = Hook(path=str(tmp_path / "nope"))
    with pytest.raises(FailedPrecondition, match="cannot run"):
        run_hook("c1", HookKind.POSTSTOP, 0, missing, b"{}")


def test_run_hook_passes_state_args_and_env(tmp_path: Path) -> None:
    out = tmp_path / "out"
    hook = Hook(
        path="/bin/sh",
        args=("custom-argv0", "-c", f'echo "$0 $FOO" > {out}; cat >> {out}'),
        env=("FOO=bar",),
    )
    run_hook("c1", HookKind.CREATE_RUNTIME, 0, hook, b'{"id": "c1"}')
    assert out.read_text() == 'custom-argv0 bar\n{"id": "c1"}'
