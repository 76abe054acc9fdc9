"""Crashes and disk faults (issue 11): SIGKILL of the CLI, of a container's monitor and of the
registry server at seeded random points during pull, push, build, run, stop, rm, volume and
network operations; and a state root on a small tmpfs that fills up.

After every kill: ``system check --repair`` leaves nothing unrepaired and ``system check`` is
then clean, the state root leaks no mount, cgroup, netns, veth or process (``faults.Scope``),
and the operation, repeated, succeeds. Trials: ``$DOCKYARD_FAULT_TRIALS`` in total (default 210,
15 per class; more for a soak by hand), kill points from ``$DOCKYARD_FAULT_SEED``
(printed with every failure).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DockyardRunner
from tests.robustness import faults, inputs
from tests.support.registries import free_port

pytestmark = [pytest.mark.root, pytest.mark.overlay, pytest.mark.cgroup, pytest.mark.netns]

MARK = "31337"  # in every command the trials' containers and build steps run
SERVE = f"trap 'exit 0' TERM; sleep {MARK} & wait"  # stops at once on SIGTERM
DOCKERFILE = (
    f"FROM bb\nRUN --mount=from=bb,source=/bin,target=/b sleep 0.{MARK} && date +%N > /stamp\n"
    "RUN echo two > /two\nCOPY Dockerfile /copied/\n"
)


@dataclass
class Ctx:
    """One op class's engine, its leak scope, an optional registry, and the trial number."""

    engine: DockyardRunner
    scope: faults.Scope
    workdir: Path
    registry: faults.RegistryServer | None = None
    puller: DockyardRunner | None = None
    trial: int = 0

    def quiet(self, *args: str) -> None:
        """A command whose failure is expected at times (undoing what may not exist)."""
        self.engine(*args, check=False)

    @property
    def reg(self) -> str:
        assert self.registry is not None
        return self.registry.host


Step = Callable[[Ctx], None]


def _none(ctx: Ctx) -> None:
    return


@dataclass(frozen=True)
class OpClass:
    """An operation under fault: ``prepare`` makes its precondition, ``argv`` is the command
    (run by ``runner``: the engine, or the pulling engine), ``reset`` undoes its effect.
    ``victim``: what is killed, ``cli``, ``monitor`` or ``registry``."""

    name: str
    argv: Callable[[Ctx], list[str]]
    prepare: Step = _none
    reset: Step = _none
    victim: str = "cli"
    registry: bool = False
    pulls: bool = False
    drain: bool = False  # after the kill, let the orphaned containers finish

    def runner(self, ctx: Ctx) -> DockyardRunner:
        return ctx.puller if self.pulls and ctx.puller is not None else ctx.engine


def _running(name: str) -> Step:
    def prepare(ctx: Ctx) -> None:
        ctx.quiet("rm", "-f", name)
        ctx.engine("run", "-d", "--name", name, "bb", "sh", "-c", SERVE)

    return prepare


def _rm(*names: str) -> Step:
    def reset(ctx: Ctx) -> None:
        ctx.quiet("rm", "-f", *names)

    return reset


def _push_prepare(ctx: Ctx) -> None:
    ctx.engine("tag", "bb", f"{ctx.reg}/p{ctx.trial}")


def _push_reset(ctx: Ctx) -> None:
    ctx.quiet("rmi", f"{ctx.reg}/p{ctx.trial}")


def _pull_reset(ctx: Ctx) -> None:
    assert ctx.puller is not None
    ctx.puller("rmi", f"{ctx.reg}/bb", check=False)


OPS = [
    OpClass("run", lambda c: ["run", "-d", "--name", "fr", "bb", "sh", "-c", SERVE],
            reset=_rm("fr")),
    OpClass("stop", lambda c: ["stop", "fs"], prepare=_running("fs"), reset=_rm("fs")),
    OpClass("rm", lambda c: ["rm", "-f", "fd"], prepare=_running("fd"), reset=_rm("fd")),
    OpClass("build", lambda c: ["build", "--no-cache", "-q", "-t", "b", str(c.workdir)],
            reset=lambda c: c.quiet("rmi", "b"), drain=True),
    OpClass("volume-create", lambda c: ["volume", "create", "fv"],
            reset=lambda c: c.quiet("volume", "rm", "-f", "fv")),
    OpClass("volume-rm", lambda c: ["volume", "rm", "fv"],
            prepare=lambda c: c.engine("volume", "create", "fv"),
            reset=lambda c: c.quiet("volume", "rm", "-f", "fv")),
    OpClass("network-create", lambda c: ["network", "create", "fn"],
            reset=lambda c: c.quiet("network", "rm", "fn")),
    OpClass("network-rm", lambda c: ["network", "rm", "fn"],
            prepare=lambda c: c.engine("network", "create", "fn"),
            reset=lambda c: c.quiet("network", "rm", "fn")),
    OpClass("push", lambda c: ["push", f"{c.reg}/p{c.trial}"], prepare=_push_prepare,
            reset=_push_reset, registry=True),
    OpClass("pull", lambda c: ["pull", f"{c.reg}/bb"], reset=_pull_reset, registry=True,
            pulls=True),
    OpClass("run/monitor", lambda c: ["run", "-d", "--name", "fm", "bb", "sh", "-c", SERVE],
            reset=_rm("fm"), victim="monitor"),
    OpClass("stop/monitor", lambda c: ["stop", "fs"], prepare=_running("fs"), reset=_rm("fs"),
            victim="monitor"),
    OpClass("push/registry", lambda c: ["push", f"{c.reg}/q{c.trial}"],
            prepare=lambda c: c.engine("tag", "bb", f"{c.reg}/q{c.trial}"),
            reset=lambda c: c.quiet("rmi", f"{c.reg}/q{c.trial}"), victim="registry",
            registry=True),
    OpClass("pull/registry", lambda c: ["pull", f"{c.reg}/bb"], reset=_pull_reset,
            victim="registry", registry=True, pulls=True),
]  # fmt: skip
TRIALS = -(-faults.trials(210) // len(OPS))  # per class, rounded up


@pytest.fixture
def ctx(tmp_path: Path, busybox_tar: Path) -> Ctx:
    engine = DockyardRunner(tmp_path / "state")
    engine.root.mkdir()
    engine("import", "-c", 'CMD ["sh"]', str(busybox_tar), "bb")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(DOCKERFILE)
    scope = faults.Scope(engine, MARK)
    return Ctx(engine=engine, scope=scope, workdir=tmp_path / "ctx")


def _inject(op: OpClass, ctx: Ctx, delay: float) -> subprocess.CompletedProcess[bytes]:
    """Start the op, kill its victim after ``delay``; return how the CLI ended."""
    runner = op.runner(ctx)
    process = subprocess.Popen(runner.argv(*op.argv(ctx)), env=runner.env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    if op.victim == "cli":
        faults.kill_after(process, delay)
    else:
        time.sleep(delay)
        if op.victim == "registry":
            assert ctx.registry is not None
            ctx.registry.kill()
        else:
            deadline = time.monotonic() + 3
            while not (pids := faults.monitors(ctx.engine.root)) and time.monotonic() < deadline:
                time.sleep(0.02)
            for pid in pids:
                os.kill(pid, 9)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _trial(op: OpClass, ctx: Ctx, delay: float) -> None:
    op.prepare(ctx)
    ended = _inject(op, ctx, delay)
    faults.no_traceback(ended)
    ctx.scope.learn()
    if op.drain:
        faults.drain(ctx.engine.root)
    if ctx.registry is not None:
        if op.victim == "registry":
            ctx.registry.start()
        ctx.registry.check_clean()
    faults.check_clean(ctx.engine)
    if ctx.puller is not None:
        faults.check_clean(ctx.puller)
    op.reset(ctx)
    op.prepare(ctx)
    op.runner(ctx)(*op.argv(ctx))  # the operation, repeated, succeeds
    ctx.scope.learn()
    op.reset(ctx)
    assert ctx.scope.settle() == []


def _setup_registry(op: OpClass, ctx: Ctx, tmp_path: Path) -> None:
    ctx.registry = faults.RegistryServer(tmp_path / "registry", free_port())
    ctx.registry.start()
    ctx.engine("tag", "bb", f"{ctx.reg}/bb")
    ctx.engine("push", f"{ctx.reg}/bb")
    if op.pulls:
        ctx.puller = DockyardRunner(tmp_path / "puller" / "state")
        ctx.puller.root.mkdir(parents=True)


@pytest.mark.slow
@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_kill_at_random_points(op: OpClass, ctx: Ctx, tmp_path: Path) -> None:
    """Each class: a calibration run, then TRIALS seeded kills within its duration."""
    rng = faults.seeded(op.name)
    if op.registry:
        _setup_registry(op, ctx, tmp_path)
    try:
        op.prepare(ctx)
        ctx.scope.learn_networks()
        duration = faults.timed(op.runner(ctx), *op.argv(ctx))
        ctx.scope.learn()
        op.reset(ctx)
        ctx.scope.mounts = ctx.scope._mounts()  # after the first run: the baseline
        for trial in range(1, TRIALS + 1):
            ctx.trial = trial
            delay = rng.uniform(0.0, duration * 1.1)
            try:
                _trial(op, ctx, delay)
            except AssertionError as err:
                raise AssertionError(
                    f"{op.name} trial {trial}/{TRIALS}: {op.victim} killed after "
                    f"{delay:.3f}s (op takes {duration:.3f}s), {faults.replay_hint()}\n{err}"
                ) from err
        if op.name.startswith("network"):
            ctx.scope.learn_networks()
        assert ctx.scope.settle() == []
    finally:
        if ctx.registry is not None:
            ctx.registry.stop()


# ----- a full disk ------------------------------------------------------------------------------


class _SmallRoot(DockyardRunner):
    """An engine whose state root is on a small tmpfs and whose run root is not."""

    def __init__(self, root: Path, runroot: Path) -> None:
        super().__init__(root)
        self.runroot = runroot

    def env(self) -> dict[str, str]:
        return {**super().env(), "DOCKYARD_RUNROOT": str(self.runroot)}


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB tmpfs (unmounted after the test)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt: Path, leave_kib: int) -> Path:
    """Fill ``mnt`` up to ``leave_kib`` KiB of free space; the filler's path."""
    free = _free(mnt)
    filler = mnt / "filler"
    subprocess.run(["fallocate", "-l", str(free - leave_kib * 1024), str(filler)], check=True)
    return filler


def test_load_of_a_compressed_bomb_stops_before_the_disk_is_full(
    small: Path, tmp_path: Path
) -> None:
    """``load`` of a 256 MiB gzip bomb (256 KiB compressed) onto a 48 MiB state root stops
    once the decompressed copy would pass half the free space: the disk never fills."""
    engine = _SmallRoot(small / "state", tmp_path / "run")
    engine.root.mkdir()
    engine("volume", "ls")  # the store exists
    bomb = inputs.zero_bomb(tmp_path / "bomb.tar.gz", 256 << 20)
    free_before = _free(small)
    least = free_before
    argv = engine.argv("load", "-i", str(bomb))
    with subprocess.Popen(argv, env=engine.env(), stderr=subprocess.PIPE) as proc:
        while proc.poll() is None:
            least = min(least, _free(small))
            time.sleep(0.002)
        err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.returncode == 1, err  # docker's code for a load that fails
    assert "decompresses to more than" in err and "Hint: free space" in err, err
    assert least > free_before * 0.4, f"free space fell to {least} of {free_before}"
    assert _free(small) >= free_before - (1 << 20)  # the scratch copy is gone
    faults.check_clean(engine)


def test_a_100_percent_full_disk_still_reads_and_frees(small: Path, tmp_path: Path) -> None:
    """With no byte free (no room for the database's -shm file), opening the database removes
    its ballast file: reading commands work and ``rmi`` frees space; the ballast comes back
    once there is room."""
    engine = _SmallRoot(small / "state", tmp_path / "run")
    engine.root.mkdir()
    (tmp_path / "spare").write_bytes(os.urandom(1 << 20))
    spare = tmp_path / "spare.tar"
    subprocess.run(["tar", "-cf", str(spare), "-C", str(tmp_path), "spare"], check=True)
    engine("import", str(spare), "spare")
    reserve = engine.root / "metadata.db.reserve"
    assert reserve.exists()
    full = small / "full"
    subprocess.run(["fallocate", "-l", str(_free(small)), str(full)], check=True)
    assert _free(small) == 0
    for argv in (["images"], ["ps", "-a"], ["volume", "ls"], ["rmi", "spare"]):
        proc = engine(*argv, check=False)
        faults.no_traceback(proc)
        assert proc.returncode == 0, f"{argv}: {proc.stderr.decode()}"
    assert not reserve.exists() and _free(small) >= 1 << 20
    full.unlink()
    engine("images")
    assert reserve.exists()
    faults.check_clean(engine)


def _free(mnt: Path) -> int:
    stat = os.statvfs(mnt)
    return stat.f_bavail * stat.f_frsize


def test_a_dead_monitor_on_a_full_disk_does_not_stop_reading(
    small: Path, tmp_path: Path, busybox_tar: Path
) -> None:
    """A container whose monitor died (as one that cannot write its state on a full disk
    does) shows as exited to ``ps -a`` on a disk full to the last page (the database's ballast
    spent already), and is recorded once there is room. (It made ``ps -a`` exit 125: marking
    it exited wrote state.json.)"""
    engine = _SmallRoot(small / "state", tmp_path / "run")
    engine.root.mkdir()
    engine("import", str(busybox_tar), "bb")
    cid = engine.out("run", "-d", "--network", "none", "bb", "sleep", "300").strip()
    state = json.loads((engine.root / "containers" / cid / "state.json").read_text())
    os.kill(int(state["monitor_pid"]), signal.SIGKILL)
    os.kill(int(state["pid"]), signal.SIGKILL)
    (engine.root / "metadata.db.reserve").unlink()  # spent already, as after other failures
    filler = _fill(small, 0)
    crumbs = os.open(small / "crumbs", os.O_WRONLY | os.O_CREAT, 0o600)
    with contextlib.suppress(OSError):  # the pages fallocate's rounding left
        while True:
            os.write(crumbs, bytes(4096))
    os.close(crumbs)
    try:
        assert engine.out("ps", "-a", "--format", "{{.Status}}").startswith("Exited (255)")
        on_disk = json.loads((engine.root / "containers" / cid / "state.json").read_text())
        assert on_disk["status"] == "running"  # nothing could be written
    finally:
        filler.unlink()
        (small / "crumbs").unlink()
    engine("ps", "-a")
    on_disk = json.loads((engine.root / "containers" / cid / "state.json").read_text())
    assert (on_disk["status"], on_disk["exit_code"]) == ("exited", 255)
    engine("rm", "-f", cid)
    faults.check_clean(engine)


def test_full_disk_fails_clearly_and_loses_nothing(
    small: Path, tmp_path: Path, busybox_tar: Path
) -> None:
    """Each command on a full state root exits 125 saying the disk is full and naming the
    path; after space is freed the store is consistent and everything works again."""
    engine = _SmallRoot(small / "state", tmp_path / "run")
    engine.root.mkdir()
    other = DockyardRunner(tmp_path / "other" / "state")
    other.root.mkdir(parents=True)
    server = faults.RegistryServer(tmp_path / "registry", free_port())
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "big").write_bytes(os.urandom(4 << 20))
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM bb\nCOPY big /big\n")
    big = tmp_path / "big.tar"  # 4 MiB that do not compress
    subprocess.run(["tar", "-cf", str(big), "-C", str(tmp_path / "ctx"), "big"], check=True)
    with faults.serving(server):
        other("import", str(big), f"{server.host}/big")
        other("push", f"{server.host}/big")
        other("save", "-o", str(tmp_path / "saved.tar"), f"{server.host}/big")
        engine("import", "-c", 'CMD ["sh"]', str(busybox_tar), "bb")
        engine("volume", "create", "vol")
        # 1 MiB that does not compress: more than the free space left for commit's layer
        engine("create", "--name", "keep", "bb", "sh", "-c",
               "head -c 1048576 /dev/urandom > /noise; echo kept > /kept")  # fmt: skip
        engine("start", "-a", "keep")
        filler = _fill(small, 700)
        commands = [
            ["pull", f"{server.host}/big"],
            ["import", str(big), "imported"],
            ["load", "-i", str(tmp_path / "saved.tar")],
            ["build", "-q", "-t", "built", str(tmp_path / "ctx")],
            ["commit", "keep", "committed"],
            ["run", "--name", "writer", "-v", "vol:/v", "bb", "dd", "if=/dev/zero",
             "of=/v/big", "bs=64k", "count=256"],
        ]  # fmt: skip
        for argv in commands:
            proc = engine(*argv, check=False)
            faults.no_traceback(proc)
            err = proc.stderr.decode()
            if argv[0] == "run":  # dockyard's writes fail (125) or the container's own (its status)
                assert proc.returncode != 0 and "no space left on device" in err.lower(), err
                continue
            assert proc.returncode == 125, f"{argv}: {proc.returncode} {err}"
            assert "Error: no space left on device: writing " in err, err
            assert str(small) in err and "Hint: free space" in err, err
        for argv in (["ps", "-a"], ["images"], ["inspect", "keep"], ["volume", "ls"]):
            engine(*argv)  # reading needs no space
        filler.unlink()
        faults.check_clean(engine)
        engine("run", "--rm", "bb", "true")
        assert engine.out("start", "-a", "keep") == ""
        for argv in commands[:5]:
            engine(*argv)  # each succeeds now
        assert engine.out("run", "--rm", "committed", "cat", "/kept") == "kept\n"
        engine("rm", "-f", "keep")
        engine("rm", "-f", "writer", check=False)
    faults.check_clean(engine)
