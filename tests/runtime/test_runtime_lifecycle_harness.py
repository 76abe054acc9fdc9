"""Helpers for the runtime's end-to-end tests: the probe, bundles, and the two runtimes.

- :func:`probe_binary` builds ``probe/probe.c`` with the machine's gcc (static) into the test
  cache, keyed by the source's hash.
- :func:`make_bundle` extracts the busybox rootfs, copies the probe to ``/probe`` and writes
  ``config.json``: ``runc spec``'s default with ``terminal: false``, the probe as the process,
  a unique ``cgroupsPath`` ``/dockyard-test-<id>``, edited by the caller.
- :class:`Runtime` runs ``dockyard-runtime`` (``python -m dockyard.cli.runtime_main``) or
  ``runc`` with a private ``--root``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from tests.support.rootfs import CACHE

from dockyard.oci.runtime import default_spec

PROBE_SOURCE = Path(__file__).parent / "probe" / "probe.c"
DOCKYARD_RUNTIME = [sys.executable, "-m", "dockyard.cli.runtime_main"]
Config = dict[str, object]


def probe_binary() -> Path:
    """The static probe, built once per source version (skips without gcc or static libc)."""
    source = PROBE_SOURCE.read_bytes()
    out = CACHE / f"probe-{hashlib.sha256(source).hexdigest()[:16]}"
    if out.exists():
        return out
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build the probe")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    proc = subprocess.run(
        ["gcc", "-static", "-O2", "-o", str(tmp), str(PROBE_SOURCE)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot build the static probe: {proc.stderr.decode()[-300:]}")
    tmp.replace(out)
    return out


def new_id(prefix: str = "dy") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def base_config(container_id: str) -> Config:
    """``runc spec`` with the probe as the process, no terminal, a unique cgroup."""
    config = default_spec(["/probe"], terminal=False).to_json()
    linux = config["linux"]
    assert isinstance(linux, dict)
    linux["cgroupsPath"] = f"/dockyard-test-{container_id}"
    return config


def make_bundle(
    where: Path,
    busybox_tar: Path,
    probe: Path,
    container_id: str,
    edit: Callable[[Config], None] | None = None,
) -> Path:
    """A bundle in ``where``: busybox rootfs + ``/probe`` + the (edited) base config."""
    rootfs = where / "rootfs"
    rootfs.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(busybox_tar), "-C", str(rootfs)], check=True)
    shutil.copy2(probe, rootfs / "probe")
    config = base_config(container_id)
    if edit is not None:
        edit(config)
    write_config(where, config)
    return where


def write_config(bundle: Path, config: Mapping[str, object]) -> None:
    (bundle / "config.json").write_text(json.dumps(config, indent=1))


def process_of(config: Config) -> dict[str, object]:
    process = config["process"]
    assert isinstance(process, dict)
    return process


def linux_of(config: Config) -> dict[str, object]:
    linux = config["linux"]
    assert isinstance(linux, dict)
    return linux


def set_args(*args: str) -> Callable[[Config], None]:
    def edit(config: Config) -> None:
        process_of(config)["args"] = list(args)

    return edit


class Runtime:
    """One runtime command with its own state root."""

    def __init__(self, argv: list[str], root: Path) -> None:
        self.argv = argv
        self.root = root

    def __call__(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 60,
        stdin: int | None = subprocess.DEVNULL,
    ) -> subprocess.CompletedProcess[bytes]:
        # Files, not pipes: a container created here inherits our stdout and stderr, and
        # would hold a pipe open (so wait for its EOF) until it exits.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            code = subprocess.run(
                [*self.argv, "--root", str(self.root), *args],
                stdout=out,
                stderr=err,
                timeout=timeout,
                stdin=stdin,
            ).returncode
            out.seek(0)
            err.seek(0)
            proc = subprocess.CompletedProcess(args, code, out.read(), err.read())
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{self.argv[-1]} {' '.join(args)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout.decode(errors='replace')[-2000:]}\n"
                f"stderr: {proc.stderr.decode(errors='replace')[-2000:]}"
            )
        return proc

    def popen(self, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen([*self.argv, "--root", str(self.root), *args], **kwargs)  # type: ignore[call-overload, no-any-return]

    def state(self, container_id: str) -> dict[str, object]:
        doc = json.loads(self("state", container_id).stdout)
        assert isinstance(doc, dict)
        return doc

    def run_json(self, bundle: Path, container_id: str) -> dict[str, object]:
        """``run`` the bundle in the foreground and parse the probe's report."""
        proc = self("run", "--bundle", str(bundle), container_id)
        doc = json.loads(proc.stdout)
        assert isinstance(doc, dict)
        return doc


def dockyard_runtime(root: Path) -> Runtime:
    return Runtime(DOCKYARD_RUNTIME, root)


def runc(root: Path) -> Runtime:
    if shutil.which("runc") is None:
        pytest.skip("needs runc")
    return Runtime(["runc"], root)


def cgroup_dirs(container_id: str) -> list[Path]:
    """Every directory a test container's cgroup could have left behind."""
    base = Path("/sys/fs/cgroup")
    return [
        d / f"dockyard-test-{container_id}"
        for d in base.iterdir()
        if (d / f"dockyard-test-{container_id}").exists()
    ]


def mounts_mentioning(text: str) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if text in line]


def assert_nothing_left(runtime: Runtime, container_id: str, bundle: Path) -> None:
    """No state directory, cgroup or mount of the container remains."""
    assert not (runtime.root / container_id).exists(), "state directory left behind"
    assert cgroup_dirs(container_id) == [], "cgroup left behind"
    assert mounts_mentioning(str(bundle)) == [], "mount left behind"


def deep_copy(config: Config) -> Config:
    return copy.deepcopy(config)


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
