"""Escapes (issue 11, SECURITY.md section 2): a container process tries to reach the host, end to
end through the ``dockyard`` CLI, and every attempt must fail.

Each test names the defence it guards. Where a documented flag relaxes that defence
(``--privileged``, ``--cap-add``), or a naive version of the code is easy to write, the same
probe is run with the defence gone and must then succeed: the test can tell the difference.

- ``cp`` symlink-exchange race (CVE-2018-15664), into and out of the container;
- ``/proc/<pid>/exe`` of the runtime during ``exec`` (CVE-2019-5736);
- leaked fds and ``--workdir /proc/self/fd/N`` (CVE-2024-21626);
- mount destinations through symlinks in the image and in a shared volume (CVE-2021-30465),
  ``/proc`` as a symlink (CVE-2019-19921), ``VOLUME ../../x``;
- the syscalls and files of a breakout (mount, unshare, setns, keyctl, bpf,
  open_by_handle_at, /proc/sys, /sys, /proc/kcore, modules, raw disks), compared item by item
  with a Docker container on the same machine when ``dockerd`` is installed.

Sizes: ``$DOCKYARD_CP_RACE_ROUNDS`` (default 1000) in-process ``cp`` rounds each way, and
``$DOCKYARD_CP_RACE_CLI_SECONDS`` (default 20) of ``dockyard cp`` CLI rounds each way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import DockyardError
from tests.conftest import DockyardRunner
from tests.robustness import escapes_support as support

pytestmark = [pytest.mark.root, pytest.mark.overlay, pytest.mark.cgroup]

CP_ROUNDS = int(os.environ.get("DOCKYARD_CP_RACE_ROUNDS") or 1000)
CP_CLI_SECONDS = float(os.environ.get("DOCKYARD_CP_RACE_CLI_SECONDS") or 20)
SLEEP = "trap 'exit 0' TERM; sleep 31337 & wait"

# The brief's list: all must be denied in a default container. (mknod of a block device is
# allowed, as in Docker: CAP_MKNOD and runc's "m" rule; opening the node is what is denied.)
MUST_DENY = (
    "mount", "umount2", "unshare_mnt", "unshare_user", "setns", "pivot_root", "keyctl",
    "add_key", "bpf", "perf_event_open", "open_by_handle_at", "write_proc_sys",
    "write_sysrq_trigger", "write_sys", "write_release_agent", "mount_cgroup", "read_kcore",
    "init_module", "finit_module", "delete_module", "open_raw_disk", "iopl",
)  # fmt: skip
# What --privileged must let through on any Linux host this suite runs on: the proof that
# the probe sees the defences (the rest depend on the host: modules, kcore, sysrq, disks).
PRIVILEGED_ALLOWS = (
    "mount", "umount2", "unshare_mnt", "unshare_user", "setns", "keyctl", "add_key", "bpf",
    "write_proc_sys", "mount_cgroup",
)  # fmt: skip


@pytest.fixture
def engine(dockyard: DockyardRunner, busybox_tar: Path, tmp_path: Path) -> Iterator[DockyardRunner]:
    """The test's engine with ``esc``: busybox plus the escape probe at ``/probe``."""
    tar = support.probe_image_tar(busybox_tar, tmp_path)
    dockyard("import", "-c", 'CMD ["sh"]', str(tar), "esc")
    yield dockyard
    ids = dockyard.out("ps", "-aq").split()
    if ids:
        dockyard("rm", "-f", *ids, check=False)


def _json(proc: subprocess.CompletedProcess[bytes]) -> dict[str, object]:
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    data = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert isinstance(data, dict)
    return data


def _results(data: dict[str, object]) -> dict[str, int]:
    return {name: int(value) for name, value in data.items()}  # type: ignore[call-overload]


def _host_mounts(*prefixes: str) -> list[str]:
    """The host's mount points at or under ``prefixes`` (other suites mount elsewhere at the
    same time, so the whole table cannot be compared)."""
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return sorted(
        p for p in points if any(p == x or p.startswith(x.rstrip("/") + "/") for x in prefixes)
    )


def _host_mount_points(*points: str) -> list[str]:
    """The host's mounts exactly at ``points`` (with their filesystem type)."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return sorted(f"{f[4]} {f[-3]}" for f in (line.split() for line in lines) if f[4] in points)


def _hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- inside a default container: the syscalls and files of a breakout -------------------------


def _syscalls(engine: DockyardRunner, *flags: str) -> dict[str, int]:
    proc = engine("run", "--rm", "--network", "none", *flags, "esc", "/probe", "syscalls",
                  support.raw_disk(), check=False)  # fmt: skip
    return _results(_json(proc))


def test_default_container_denies_every_breakout_syscall(engine: DockyardRunner) -> None:
    """Guards specgen's defaults (14 capabilities, the seccomp allow-list, read-only /proc/sys
    and /sys, masked /proc/kcore, the device cgroup): every attempt fails by default, and the
    ones any host allows succeed under ``--privileged``, which drops those defences."""
    default = _syscalls(engine)
    assert set(default) >= set(MUST_DENY)
    allowed = {
        n: support.describe(default[n]) for n in MUST_DENY if not support.denied(n, default[n])
    }
    assert not allowed, f"allowed in a default container: {allowed}"

    privileged = _syscalls(engine, "--privileged")
    still_denied = {
        n: support.describe(privileged[n]) for n in PRIVILEGED_ALLOWS
        if support.denied(n, privileged[n])
    }  # fmt: skip
    assert not still_denied, f"the probe cannot see these defences: {still_denied}"
    # seccomp alone: with it off, the capability checks still stop most of them (the table
    # in docs/robustness-escapes.md); the keyring is seccomp's alone.
    unconfined = _syscalls(engine, "--security-opt", "seccomp=unconfined")
    assert not support.denied("keyctl", unconfined["keyctl"])
    assert support.denied("mount", unconfined["mount"])


@pytest.mark.slow
def test_dockyard_denies_at_least_what_docker_denies(
    engine: DockyardRunner, tmp_path: Path
) -> None:
    """Item by item against a Docker container on the same machine (a private dockerd): what
    Docker denies, dockyard denies; and a dockyard container holds no fd a Docker one lacks."""
    tar = tmp_path / "busybox-probe.tar"
    disk = support.raw_disk()
    ours = _syscalls(engine)
    ours_fds = _json(engine("run", "--rm", "--network", "none", "esc", "/probe", "fds"))
    with support.PrivateDocker() as docker:
        docker.docker("import", "-c", 'CMD ["sh"]', str(tar), "esc")
        run = ("run", "--rm", "--network", "none", "esc", "/probe")
        theirs = _results(_json(docker.docker(*run, "syscalls", disk, check=False)))
        theirs_fds = _json(docker.docker(*run, "fds"))
    rows = [f"{n:22} {support.describe(ours[n]):8} {support.describe(theirs[n])}" for n in ours]
    print("probe                  dockyard docker\n" + "\n".join(rows))
    assert set(ours) == set(theirs)
    weaker = [n for n in theirs if support.denied(n, theirs[n]) and not support.denied(n, ours[n])]
    assert not weaker, f"Docker denies, dockyard allows: {weaker}\n" + "\n".join(rows)

    def numbers(report: dict[str, object]) -> set[str]:
        fds = report["fds"]
        assert isinstance(fds, list)
        return {str(f).split(" ")[0] for f in fds}

    assert numbers(ours_fds) <= numbers(theirs_fds) == {"0", "1", "2"}


# --- leaked fds and --workdir /proc/self/fd/N (CVE-2024-21626) --------------------------------


def _with_inherited_fd(engine: DockyardRunner, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI holding an inheritable descriptor of the host's ``/`` (what a leak would
    hand the container)."""
    leak = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        return subprocess.run(engine.argv(*args), env=engine.env(), capture_output=True,
                              pass_fds=(leak,), timeout=120)  # fmt: skip
    finally:
        os.close(leak)


def _fd_numbers(report: dict[str, object]) -> list[str]:
    fds = report["fds"]
    assert isinstance(fds, list)
    return sorted(str(f).split(" ")[0] for f in fds)


def test_no_leaked_fds_in_run_and_exec(engine: DockyardRunner) -> None:
    """Guards the runtime's closing of every fd but 0-2 before exec (runc ``finalizeNamespace``)
    in ``run`` and ``exec``, whatever the CLI inherited."""
    report = _json(_with_inherited_fd(engine, "run", "--rm", "--network", "none", "esc",
                                      "/probe", "fds"))  # fmt: skip
    assert _fd_numbers(report) == ["0", "1", "2"], report
    assert report["cwd"] == "/"
    engine("run", "-d", "--name", "fds", "--network", "none", "esc", "sh", "-c", SLEEP)
    report = _json(_with_inherited_fd(engine, "exec", "fds", "/probe", "fds"))
    assert _fd_numbers(report) == ["0", "1", "2"], report
    # The control: a descriptor that is there is reported.
    control = _json(engine("exec", "fds", "sh", "-c", "exec 7</; exec /probe fds"))
    assert _fd_numbers(control) == ["0", "1", "2", "7"]


@pytest.mark.parametrize("command", ["run", "exec"])
def test_workdir_through_proc_self_fd(engine: DockyardRunner, command: str) -> None:
    """Guards the runtime's cwd check (runc ``verifyCwd``): a workdir of ``/proc/self/fd/N``
    is refused, or the process's cwd is inside the container (a leaked host directory would
    show as ``(unreachable)/...``)."""
    if command == "exec":
        engine("run", "-d", "--name", "wd", "--network", "none", "esc", "sh", "-c", SLEEP)
    for fd in range(3, 9):
        argv = (["run", "--rm", "--network", "none", "-w", f"/proc/self/fd/{fd}", "esc"]
                if command == "run" else ["exec", "-w", f"/proc/self/fd/{fd}", "wd"])  # fmt: skip
        proc = _with_inherited_fd(engine, *argv, "/probe", "fds")
        assert b"Traceback" not in proc.stderr, proc.stderr.decode()
        if proc.returncode == 0:
            cwd = str(_json(proc)["cwd"])
            assert cwd.startswith("/") and "unreachable" not in cwd, (fd, cwd)
        else:
            assert proc.returncode in (125, 126, 127, 1), proc
            # refused, naming the directory (exec said nothing here before: the fix in
            # cli/execcmd.py that prints every runtime setup error)
            assert f"/proc/self/fd/{fd}".encode() in proc.stderr, proc


# --- /proc/<pid>/exe of the runtime during exec (CVE-2019-5736) --------------------------------

CONTAINER_EXES = {"/bin/busybox", "/probe"}


def _host_binaries() -> dict[str, str]:
    """What a CVE-2019-5736 overwrite would change: the interpreter that runs dockyard and its
    runtime, and the runtime's own modules."""
    import dockyard.runtime

    runtime = Path(dockyard.runtime.__file__).parent
    files = [Path(os.path.realpath(sys.executable)), *sorted(runtime.glob("*.py"))]
    return {str(f): _hash(f) for f in files}


def _exe_attack(
    engine: DockyardRunner, name: str, *flags: str, seconds: int = 6
) -> dict[str, list[int]]:
    """A container looping over every visible /proc/<pid>/exe while ``exec`` runs in it
    again and again; what the attacker held, read and could write, per exe."""
    engine("run", "-d", "--name", name, "--network", "none", *flags, "esc", "/probe",
           "exe-attack", str(seconds))  # fmt: skip
    end = time.monotonic() + seconds - 1
    execs = 0
    while time.monotonic() < end:
        engine("exec", name, "true", check=False)
        execs += 1
    engine("wait", name)
    assert execs > 0
    report = json.loads(engine.out("logs", name).strip().splitlines()[-1])
    engine("rm", name)
    assert report["attempts"] > 0
    seen = report["seen"]
    assert isinstance(seen, dict)
    return seen


@pytest.mark.slow
def test_runtime_exe_out_of_reach_during_exec(engine: DockyardRunner) -> None:
    """Guards the runtime's non-dumpable stages (and the default capabilities, without
    CAP_SYS_PTRACE): a container process never gets hold of the host binary that runs
    ``exec``, and no host binary changes. With ``--cap-add SYS_PTRACE`` the same attacker does
    get hold of it, so the test sees the defence."""
    before = _host_binaries()
    seen = _exe_attack(engine, "attack")
    foreign = {exe: counts for exe, counts in seen.items() if exe not in CONTAINER_EXES}
    assert not foreign, f"the container held a host binary: {foreign}"
    control = _exe_attack(engine, "control", "--cap-add", "SYS_PTRACE")
    held = {exe for exe in control if exe not in CONTAINER_EXES}
    assert held, f"with CAP_SYS_PTRACE the attacker saw only {control}: the probe is blind"
    assert all(control[exe][2] == 0 for exe in held), control  # a running binary: ETXTBSY
    assert _host_binaries() == before


def test_entrypoint_and_exec_of_proc_self_exe_are_refused(engine: DockyardRunner) -> None:
    """Guards the runtime's refusal to execute its own binary (``/proc/self/exe`` at exec
    time is the host's interpreter)."""
    before = _host_binaries()
    proc = engine("run", "--rm", "--network", "none", "--entrypoint", "/proc/self/exe", "esc",
                  "-c", "print(1)", check=False)  # fmt: skip
    assert proc.returncode != 0 and b"refusing to execute" in proc.stderr, proc
    assert b"1\n" not in proc.stdout
    engine("run", "-d", "--name", "selfexe", "--network", "none", "esc", "sh", "-c", SLEEP)
    proc = engine("exec", "selfexe", "/proc/self/exe", "-c", "print(1)", check=False)
    assert proc.returncode == 126 and b"refusing to execute" in proc.stderr, proc
    assert _host_binaries() == before


# --- mount destinations through symlinks -------------------------------------------------------


def _image_with(engine: DockyardRunner, base: Path, name: str, links: dict[str, str],
                drop: tuple[str, ...] = ()) -> None:  # fmt: skip
    """Import ``base`` (the probe image tar) plus symlinks ``name -> target``, without the
    members under ``drop``, as image ``name``."""
    out = base.with_name(f"{name}.tar")
    with tarfile.open(base) as src, tarfile.open(out, "w") as dst:
        for member in src:
            if member.name.rstrip("/") in drop:
                continue
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        for link, target in links.items():
            info = tarfile.TarInfo(link)
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
            dst.addfile(info)
    engine("import", "-c", 'CMD ["sh"]', str(out), name)


def _mountinfo(engine: DockyardRunner, *args: str) -> list[tuple[str, str]]:
    """(mount point, root) of every mount a container started with ``args`` sees."""
    out = engine.out("run", "--rm", "--network", "none", *args, "cat", "/proc/self/mountinfo")
    return [(f[4], f[3]) for f in (line.split() for line in out.splitlines())]


def test_mount_destinations_through_image_symlinks(engine: DockyardRunner, tmp_path: Path) -> None:
    """Guards rootfs's in-root resolution of destinations (O_PATH + /proc/self/fd, runc's
    securejoin; CVE-2021-30465): ``/data -> /etc`` mounts on the container's /etc, ``/up ->
    ../../..`` stays inside, ``/root2 -> /`` is refused; the host's /etc never changes."""
    _image_with(engine, tmp_path / "busybox-probe.tar", "links",
                {"data": "/etc", "root2": "/", "up": "../../.."})  # fmt: skip
    etc_before, mounts_before = support.tree(Path("/etc")), _host_mounts("/etc", "/x")
    seen = _mountinfo(engine, "-v", "vol:/data", "links")
    assert "/etc" in [p for p, _ in seen] and "/data" not in [p for p, _ in seen]
    out = engine.out("run", "--rm", "--network", "none", "-v", "vol:/data", "links", "sh", "-c",
                     "touch /data/planted && ls /etc/planted")  # fmt: skip
    assert out.strip() == "/etc/planted"
    assert ("/etc", "/") in _mountinfo(engine, "--tmpfs", "/data", "links")
    host = tmp_path / "bindsrc"
    host.mkdir()
    assert "/etc/sub" in [p for p, _ in _mountinfo(engine, "-v", f"{host}:/data/sub", "links")]
    assert "/x" in [p for p, _ in _mountinfo(engine, "-v", "vol2:/up/x", "links")]
    refused = engine("run", "--rm", "--network", "none", "-v", "vol3:/root2", "links", "true",
                     check=False)  # fmt: skip
    assert refused.returncode == 125 and b"/root2" in refused.stderr, refused
    assert b"Traceback" not in refused.stderr
    assert support.tree(Path("/etc")) == etc_before
    assert _host_mounts("/etc", "/x") == mounts_before
    assert not Path("/etc/planted").exists() and not Path("/x").exists()
    # The control: the same destination resolved as a host path (what a runtime without the
    # defence mounts on) is the host's /etc.
    engine("run", "-d", "--name", "links", "--network", "none", "links", "sh", "-c", SLEEP)
    pid = engine.out("inspect", "-f", "{{.State.Pid}}", "links").strip()
    naive, host_etc = os.stat(f"/proc/{pid}/root/data"), os.stat("/etc")
    assert (naive.st_dev, naive.st_ino) == (host_etc.st_dev, host_etc.st_ino)


def test_shared_volume_symlink_as_a_destination(engine: DockyardRunner) -> None:
    """A first container plants ``evil -> /etc`` and ``root -> /`` in a shared volume; a
    second mounts on them: inside its own /etc, or refused. Host /etc untouched."""
    etc_before, mounts_before = support.tree(Path("/etc")), _host_mounts("/etc")
    engine("run", "--rm", "--network", "none", "-v", "shared:/v", "esc", "sh", "-c",
           "ln -s /etc /v/evil && ln -s / /v/root && ln -s ../../../../etc /v/up")  # fmt: skip
    for link in ("evil", "up"):
        seen = _mountinfo(engine, "-v", "shared:/v", "-v", f"other:/v/{link}", "esc")
        assert "/etc" in [p for p, _ in seen], (link, seen)
        seen = _mountinfo(engine, "-v", "shared:/v", "--tmpfs", f"/v/{link}", "esc")
        assert ("/etc", "/") in seen, (link, seen)
    refused = engine("run", "--rm", "--network", "none", "-v", "shared:/v", "--tmpfs",
                     "/v/root", "esc", "true", check=False)  # fmt: skip
    assert refused.returncode == 125 and b"Traceback" not in refused.stderr, refused
    assert support.tree(Path("/etc")) == etc_before
    assert _host_mounts("/etc") == mounts_before


@pytest.mark.slow
def test_shared_volume_symlink_swapped_during_start(engine: DockyardRunner) -> None:
    """A container flips ``d`` (a directory) <-> ``l`` (``-> /etc``) in a shared volume while
    another starts again and again with a tmpfs on ``/v/d``: each start mounts inside the
    container (on the directory, whatever its name by then, or its own ``/etc``) or is
    refused; the host gains no mount."""
    etc_before, mounts_before = support.tree(Path("/etc")), _host_mounts("/etc", "/v")
    engine("run", "-d", "--name", "flipper", "--network", "none", "-v", "shared:/v", "esc",
           "sh", "-c", "mkdir /v/d && ln -s /etc /v/l && exec /probe flip /v/d /v/l")  # fmt: skip
    outcomes = {"inside": 0, "refused": 0}
    for _ in range(15):
        proc = engine("run", "--rm", "--network", "none", "-v", "shared:/v", "--tmpfs", "/v/d",
                      "esc", "cat", "/proc/self/mountinfo", check=False)  # fmt: skip
        assert b"Traceback" not in proc.stderr
        if proc.returncode != 0:
            outcomes["refused"] += 1
            continue
        # on the directory (named /v/d or, flipped since, /v/l) or on the container's /etc
        tmpfs = [f[4] for f in (ln.split() for ln in proc.stdout.decode().splitlines())
                 if f[4] in ("/v/d", "/v/l", "/etc") and "tmpfs" in f]  # fmt: skip
        assert tmpfs, proc.stdout.decode()
        outcomes["inside"] += 1
    assert engine.out("inspect", "-f", "{{.State.Running}}", "flipper").strip() == "true"
    print("starts:", outcomes)
    assert support.tree(Path("/etc")) == etc_before
    assert _host_mounts("/etc", "/v") == mounts_before


def test_proc_symlink_in_the_image_is_refused(engine: DockyardRunner, tmp_path: Path) -> None:
    """Guards rootfs's check that /proc is an ordinary directory (CVE-2019-19921,
    CVE-2023-27561): an image whose /proc is a symlink does not start."""
    _image_with(engine, tmp_path / "busybox-probe.tar", "proclink", {"proc": "/tmp"},
                drop=("proc",))  # fmt: skip
    before = _host_mount_points("/tmp", "/proc")
    proc = engine("run", "--rm", "--network", "none", "proclink", "true", check=False)
    assert proc.returncode == 125, proc
    assert b"ordinary directory" in proc.stderr and b"Traceback" not in proc.stderr, proc.stderr
    assert _host_mount_points("/tmp", "/proc") == before


def test_volume_dotdot_in_a_dockerfile(engine: DockyardRunner, tmp_path: Path) -> None:
    """``VOLUME ../../x`` is refused at run with a clear error, ``VOLUME /../../y`` is the
    container's ``/y``; nothing appears at the host's /x, /y or beside the volumes."""
    for name, volume in (("rel", "../../x"), ("abs", "/../../../y")):
        ctx = tmp_path / name
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM esc\nVOLUME {volume}\n")
        engine("build", "-q", "-t", name, str(ctx))
    proc = engine("run", "--rm", "--network", "none", "rel", "true", check=False)
    assert proc.returncode == 125 and b"must be absolute" in proc.stderr, proc
    seen = _mountinfo(engine, "abs")
    assert "/y" in [p for p, _ in seen], seen
    volumes = engine.root / "volumes"
    assert all(p.parent.parent == volumes for p in volumes.glob("**/_data"))
    assert not Path("/x").exists() and not Path("/y").exists()


# --- docker cp symlink-exchange race (CVE-2018-15664) ------------------------------------------

HOST_SECRET = b"host secret: cp escaped the container\n"


class Race:
    """A running container flipping ``/w/dir`` (a directory) <-> ``/w/link`` (``-> /``) with
    renameat2(RENAME_EXCHANGE); a host directory ``sentinel`` with a secret file.

    The container mirrors the sentinel's host path under ``/w/dir`` and under its own root,
    so ``/w/dir/<sentinel>/secret`` always exists in the container, whichever way the flip
    stands: a copy that follows ``link -> /`` on the host would read or write the host's
    sentinel instead.
    """

    def __init__(self, engine: DockyardRunner, tmp_path: Path) -> None:
        self.engine = engine
        self.sentinel = tmp_path / "sentinel"
        self.sentinel.mkdir()
        (self.sentinel / "secret").write_bytes(HOST_SECRET)
        self.rel = str(self.sentinel).lstrip("/")
        script = (
            f"mkdir -p /w/dir/{self.rel} /{self.rel} && "
            f"echo container-dir > /w/dir/{self.rel}/secret && "
            f"echo container-root > /{self.rel}/secret && "
            "ln -s / /w/link && exec /probe flip /w/dir /w/link"
        )
        engine("run", "-d", "--name", "race", "--network", "none", "esc", "sh", "-c", script)
        self.pid = int(engine.out("inspect", "-f", "{{.State.Pid}}", "race").strip())
        self.root = Path(f"/proc/{self.pid}/root")
        deadline = time.monotonic() + 10
        while not (self.root / "w" / "link").is_symlink() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.before = self.snapshot()

    def snapshot(self) -> tuple[dict[str, str], list[str]]:
        return support.tree(self.sentinel), sorted(os.listdir("/"))

    def assert_host_untouched(self) -> None:
        assert (self.sentinel / "secret").read_bytes() == HOST_SECRET
        assert self.snapshot() == self.before
        assert self.engine.out("inspect", "-f", "{{.State.Running}}", "race").strip() == "true"


def _race_out(race: Race, rounds: int, out: Path) -> dict[str, int]:
    """``cp race:/w/dir/<sentinel>/secret`` through the engine's own code (what the CLI runs
    for a running container): the copy never holds the host's secret."""
    from dockyard.engine.copy import copy_out, copy_to_host

    counts = {"container-dir": 0, "container-root": 0, "failed": 0}
    for i in range(rounds):
        dest = out / f"out{i}"
        try:
            with copy_out(race.root, f"/w/dir/{race.rel}/secret", follow_link=False) as found:
                copy_to_host(found, str(dest))
        except (DockyardError, OSError):  # a component swapped mid-walk may fail: never escape
            counts["failed"] += 1
            continue
        got = dest.read_bytes()
        assert got != HOST_SECRET, f"round {i}: cp read the host's file"
        counts[got.decode().strip()] += 1  # which way the flip stood: both are the container's
        dest.unlink()
    return counts


def _race_in(race: Race, rounds: int, payload: Path) -> dict[str, int]:
    """``cp payload race:/w/dir/<sentinel>/`` and ``race:/w/dir/``: never into the host."""
    from dockyard.engine.copy import copy_in

    counts = {"copied": 0, "failed": 0}
    errors: set[str] = set()
    for i in range(rounds):
        dest = f"/w/dir/{race.rel}/" if i % 2 else "/w/dir/"
        try:
            copy_in(race.root, dest, str(payload), archive=False, follow_link=False)
        except (DockyardError, OSError) as err:
            counts["failed"] += 1
            errors.add(str(err)[:200])
            continue
        counts["copied"] += 1
    if errors:
        print("cp in failed with:", sorted(errors))
    return counts


def _race_cli(race: Race, seconds: float, payload: Path, out: Path) -> int:
    """``dockyard cp`` both ways for ``seconds``; each round must not touch the host."""
    end, rounds = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        dest = out / f"cli{rounds}"
        got = race.engine("cp", f"race:/w/dir/{race.rel}/secret", str(dest), check=False)
        assert b"Traceback" not in got.stderr, got.stderr
        if got.returncode == 0:
            assert dest.read_bytes() != HOST_SECRET, f"cli round {rounds}: cp read the host file"
        put = race.engine("cp", str(payload), f"race:/w/dir/{race.rel}/", check=False)
        assert b"Traceback" not in put.stderr, put.stderr
        rounds += 1
    return rounds


@pytest.mark.slow
def test_cp_symlink_exchange_race(engine: DockyardRunner, tmp_path: Path) -> None:
    """Guards copy_walk/copy_extract's walk inside the root without following links
    (CVE-2018-15664): while the container flips ``dir`` <-> ``link -> /``, ``cp`` in and out
    (``$DOCKYARD_CP_RACE_ROUNDS`` rounds each through the engine,
    ``$DOCKYARD_CP_RACE_CLI_SECONDS`` of CLI rounds) never reads or writes a host file."""
    race = Race(engine, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    payload = tmp_path / "payload" / "secret"  # named like the sentinel: an escape overwrites it
    payload.parent.mkdir()
    payload.write_bytes(b"payload from the host\n")
    copied_out = _race_out(race, CP_ROUNDS, out)
    copied_in = _race_in(race, CP_ROUNDS, payload)
    cli = _race_cli(race, CP_CLI_SECONDS, payload, out)
    print(f"cp out {copied_out}, cp in {copied_in}, cli rounds {cli}")
    assert copied_out["failed"] + copied_in["failed"] < CP_ROUNDS // 2
    assert cli > 0
    race.assert_host_untouched()


def test_cp_race_harness_catches_a_naive_copy(engine: DockyardRunner, tmp_path: Path) -> None:
    """The control for the race: the same container and paths, copied the naive way (a path
    string through /proc/<pid>/root, links followed by the host's kernel), does read the host's
    secret, and the engine's copy, run as many times, does not."""
    race = Race(engine, tmp_path)
    naive, reads, end = 0, 0, time.monotonic() + 20
    while naive < 3 and time.monotonic() < end:  # the walk mostly wins: about 1 in 100
        reads += 1
        with contextlib.suppress(OSError):
            if (race.root / "w" / "dir" / race.rel / "secret").read_bytes() == HOST_SECRET:
                naive += 1
    assert naive > 0, f"no naive read of {reads} escaped: the race harness cannot see one"
    out = tmp_path / "out"
    out.mkdir()
    assert _race_out(race, 200, out)["failed"] < 200
    race.assert_host_untouched()
