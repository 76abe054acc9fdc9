"""Containers end to end through the real CLI: docker's exit codes and streams, run -d and
ps, stop/kill/restart/pause/rm/rename/wait/logs/inspect/exec/create/start/prune, name
conflicts and a race for one name."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner
from tests.engine.containers_harness import Box, boxed, frozen, wait_until

from dockyard.oci.platform import host_platform, parse_platform

pytestmark = [pytest.mark.root, pytest.mark.overlay]

TERM_LOOP = "trap 'exit 7' TERM; trap 'echo got-usr1' USR1; echo up; while :; do sleep 0.1; done"
DEAF_LOOP = "trap '' TERM; echo up; while :; do sleep 0.1; done"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ")


@pytest.fixture
def box(dockyard: DockyardRunner, busybox_tar: Path) -> Iterator[Box]:
    yield from boxed(dockyard, busybox_tar)


def _up(box: Box, cid: str) -> None:
    """Wait until the container's command has printed ``up`` (its traps are set)."""
    wait_until(lambda: "up" in box.out("logs", cid), f"{cid[:12]} to start its loop")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("busybox", "true"), 0, ""),
        (("busybox", "sh", "-c", "exit 3"), 3, ""),
        (("busybox", "no-such-command"), 127, "executable file not found"),
        (("busybox", "/etc/passwd"), 126, "permission denied"),
        # --pull never: the test stays off the network (missing images are pulled otherwise)
        (
            ("--pull", "never", "no-such-image", "true"),
            125,
            "Unable to find image 'no-such-image' locally",
        ),
        (("--no-such-flag", "busybox", "true"), 125, "No such option"),
    ],
    ids=["true", "exit-3", "missing-command", "not-executable", "missing-image", "bad-flag"],
)
def test_run_exit_codes_like_docker(
    box: Box, args: tuple[str, ...], code: int, message: str
) -> None:
    proc = box("run", *args, check=False)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr.decode()


def _foreign_image(box: Box, tmp_path: Path, architecture: str) -> str:
    """Load ``foreign:1``, a one-file image whose config says ``linux/<architecture>``."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    diff_id = "sha256:" + hashlib.sha256(layer.getvalue()).hexdigest()
    config = json.dumps({
        "architecture": architecture, "os": "linux", "config": {"Cmd": ["true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }).encode()  # fmt: skip
    manifest = [{"Config": "config.json", "RepoTags": ["foreign:1"], "Layers": ["layer.tar"]}]
    archive = tmp_path / "foreign.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in (("config.json", config), ("layer.tar", layer.getvalue()),
                           ("manifest.json", json.dumps(manifest).encode())):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    box("load", "-i", str(archive))
    return "foreign:1"


def test_run_and_create_platform(box: Box, tmp_path: Path) -> None:
    """``--platform``: this host's runs (however written); another is refused before anything
    is pulled or created; a local image of another platform than the one asked for is refused
    like docker refuses it, and without ``--platform`` nothing changes."""
    host = host_platform()
    native = box("run", "--rm", "--platform", str(host), "busybox", "echo", "native")
    assert native.stdout == b"native\n"
    assert box("run", "--rm", "--platform", host.architecture, "busybox", "true").returncode == 0
    other = "amd64" if host.architecture == "arm64" else "arm64"
    for verb in ("run", "create"):
        refused = box(verb, "--platform", f"linux/{other}", "busybox", "true", check=False)
        assert refused.returncode == 125, refused.stderr
        assert (
            f"Error: platform {parse_platform(other)} is not this host's platform ({host}): "
            "dockyard runs native images only (no emulation)"
        ) in refused.stderr.decode()
    assert box.ids() == []
    image = _foreign_image(box, tmp_path, other)
    for verb in ("run", "create"):
        mismatch = box(verb, "--platform", str(host), image, check=False)
        assert mismatch.returncode == 125, mismatch.stderr
        err = mismatch.stderr.decode()
        assert (
            f"Error: image {image} was found but does not match the specified platform: "
            f"wanted {host}, actual linux/{other}"
        ) in err
        assert f"Hint: pull the image for {host}: dockyard pull --platform {host} {image}" in err
    assert box.ids() == []
    assert len(box.out("create", image)) == 64  # without --platform: as before


def test_run_streams_stdin_and_rm(box: Box) -> None:
    proc = box("run", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (proc.stdout, proc.stderr) == (b"out\n", b"err\n")
    assert box("run", "-i", "busybox", "cat", input=b"x\ny\n").stdout == b"x\ny\n"
    assert box("run", "busybox", "cat", input=b"x\n").stdout == b""  # no -i: no stdin
    assert box("run", "--rm", "busybox", "sh", "-c", "echo gone").stdout == b"gone\n"
    box("rm", *box.ids())
    assert box("run", "--rm", "busybox", "sh", "-c", "exit 4", check=False).returncode == 4
    assert box.ids() == []
    assert list((box.root / "containers").iterdir()) == []
    box.run_d("--rm", "busybox", "true")  # detached: its monitor removes it
    wait_until(lambda: not list((box.root / "containers").iterdir()), "the removal")
    assert box.ids() == []


def test_an_rm_containers_layer_mounts_volatile(box: Box) -> None:
    """--rm: the writable layer is never synced (it goes with the container; podman does the
    same); a layer that a volatile mount marked mounts again only in the boot that marked it,
    and inspect shows the layer's directories as docker does."""
    root_line = "grep ' / ' /proc/mounts"
    assert "volatile" in box.out("run", "--rm", "busybox", "sh", "-c", root_line)
    kept = box.out("create", "busybox", "sh", "-c", root_line).strip()
    assert "volatile" not in box.out("start", "-a", kept)

    def marked(boot: str) -> str:
        cid = box.out("create", "--rm", "busybox", "sh", "-c", root_line).strip()
        work = Path(box.inspect(cid, "{{.GraphDriver.Data.WorkDir}}"))
        assert box.inspect(cid, "{{.GraphDriver.Data.UpperDir}}") == str(work.parent / "fs")
        (work / "work" / "incompat" / "volatile").mkdir(parents=True)  # as a mount leaves it
        state = box.root / "containers" / cid / "state.json"
        state.write_text(json.dumps({**json.loads(state.read_text()), "boot_id": boot}))
        return cid

    this_boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert "volatile" in box.out("start", "-a", marked(this_boot))
    before_restart = marked("00000000-0000-0000-0000-000000000000")
    proc = box("start", "-a", before_restart, check=False)
    assert proc.returncode != 0
    assert b"mounted volatile (run --rm) before the host restarted" in proc.stderr
    assert box.ids() == [kept]  # a failed start of a --rm container removes it, as docker's


def test_run_detached_ps_and_filters(box: Box) -> None:
    web = box.run_d("--name", "web", "--label", "tier=front", "busybox", "sleep", "30")
    done = box.run_d("--name", "done", "busybox", "true")
    box.wait_status(done, "exited")
    running = box.out("ps").splitlines()
    assert len(running) == 2 and running[0].startswith("CONTAINER ID")
    assert running[1].startswith(web[:12]) and " Up " in running[1] and running[1].endswith("web")
    assert box.out("ps", "-q") == web[:12]
    assert set(box.out("ps", "-aq").split()) == {web[:12], done[:12]}
    assert box.out("ps", "-a", "--filter", "status=exited", "-q") == done[:12]
    assert box.out("ps", "-a", "--filter", "name=web", "--format", "{{.Names}}") == "web"
    assert box.out("ps", "-a", "--filter", "label=tier=front", "-q") == web[:12]
    assert box.out("ps", "-a", "--filter", "label=tier=back", "-q") == ""
    assert box.out("ps", "-a", "--format", "{{.Names}}").split() == ["done", "web"]
    assert "Exited (0)" in box.out("ps", "-a", "--filter", "name=done", "--format", "{{.Status}}")


def test_cidfile_and_label_file(box: Box, tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.write_text("# team labels\ntier=back\n\nowner=ops\nflag\n")
    cidfile = tmp_path / "cid"
    cid = box.out("create", "--cidfile", str(cidfile), "--label-file", str(labels),
                  "--label", "tier=front", "busybox", "true")  # fmt: skip
    assert cidfile.read_text() == cid
    shown = json.loads(box.inspect(cid, "{{json .Config.Labels}}"))
    assert shown == {"tier": "front", "owner": "ops", "flag": ""}  # -l wins over the file
    again = box("run", "--cidfile", str(cidfile), "busybox", "true", check=False)
    assert again.returncode == 125 and "container ID file found" in again.stderr.decode()
    assert box.ids() == [cid]  # nothing was made
    missing = box("create", "--label-file", str(tmp_path / "none"), "busybox", check=False)
    assert missing.returncode == 125 and "No such file" in missing.stderr.decode()


def test_domainname_and_oom_score_adj(box: Box) -> None:
    out = box.out("run", "--rm", "--network", "none", "--domainname", "example.test",
                  "--oom-score-adj", "500", "busybox", "cat", "/proc/sys/kernel/domainname",
                  "/proc/self/oom_score_adj")  # fmt: skip
    assert out.split() == ["example.test", "500"]
    cid = box.out("create", "--domainname", "d.test", "--oom-score-adj", "-5", "busybox")
    assert box.inspect(cid, "{{.Config.Domainname}} {{.HostConfig.OomScoreAdj}}") == "d.test -5"
    bad = box("create", "--oom-score-adj", "1001", "busybox", check=False)
    assert bad.returncode == 125 and "1001" in bad.stderr.decode()


@pytest.mark.cgroup
def test_cpu_period_quota_and_memory_reservation(box: Box) -> None:
    cid = box.run_d("--network", "none", "--cpu-period", "50000", "--cpu-quota", "25000",
                    "--memory-reservation", "32m", "busybox", "sleep", "30")  # fmt: skip
    cgroup = Path("/sys/fs/cgroup")
    if (cgroup / "cpu/dockyard" / cid).is_dir():  # v1
        assert (cgroup / "cpu/dockyard" / cid / "cpu.cfs_period_us").read_text() == "50000\n"
        assert (cgroup / "cpu/dockyard" / cid / "cpu.cfs_quota_us").read_text() == "25000\n"
        soft = cgroup / "memory/dockyard" / cid / "memory.soft_limit_in_bytes"
        assert soft.read_text() == f"{32 << 20}\n"
    shown = box.inspect(cid, "{{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}} "
                        "{{.HostConfig.MemoryReservation}}")  # fmt: skip
    assert shown == f"50000 25000 {32 << 20}"
    both = box("create", "--cpus", "1", "--cpu-quota", "50000", "busybox", check=False)
    assert both.returncode == 125 and "conflicting options" in both.stderr.decode()
    small = box("create", "--cpu-quota", "500", "busybox", check=False)
    assert small.returncode == 125 and "less than 1ms" in small.stderr.decode()
    box("rm", "-f", cid)


def test_stop_sends_term_then_kill(box: Box) -> None:
    polite = box.run_d("busybox", "sh", "-c", TERM_LOOP)
    deaf = box.run_d("busybox", "sh", "-c", DEAF_LOOP)
    _up(box, polite)
    _up(box, deaf)
    started = time.monotonic()
    assert box.out("stop", polite) == polite
    assert box.inspect(polite, "{{.State.Status}} {{.State.ExitCode}}") == "exited 7"
    assert time.monotonic() - started < 5  # SIGTERM ended it, not the 10 s SIGKILL
    started = time.monotonic()
    box("stop", "-t", "1", deaf)
    assert 1 <= time.monotonic() - started < 8
    assert box.inspect(deaf, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
    assert box.out("stop", deaf) == deaf  # stopping a stopped container succeeds


def test_kill_signal_restart_and_pause(box: Box) -> None:
    cid = box.run_d("--name", "sig", "busybox", "sh", "-c", TERM_LOOP)
    _up(box, cid)
    box("kill", "-s", "USR1", "sig")
    wait_until(lambda: "got-usr1" in box.out("logs", "sig"), "the USR1 trap to run")
    assert box.status("sig") == "running"
    first_pid, first_start = box.inspect("sig", "{{.State.Pid}} {{.State.StartedAt}}").split()
    box("restart", "-t", "5", "sig")
    pid, start = box.inspect("sig", "{{.State.Pid}} {{.State.StartedAt}}").split()
    assert box.status("sig") == "running" and pid != first_pid and start > first_start
    box("pause", "sig")
    assert box.inspect("sig", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}") == (
        "paused true true"
    )
    assert "(Paused)" in box.out("ps", "--format", "{{.Status}}")
    assert frozen(cid)
    assert box("pause", "sig", check=False).returncode == 1  # already paused
    box("unpause", "sig")
    assert box.inspect("sig", "{{.State.Status}} {{.State.Paused}}") == "running false"
    assert not frozen(cid)
    box("pause", "sig")
    box("stop", "-t", "1", "sig")  # a paused container can be stopped
    assert box.status("sig") == "exited"
    assert box("kill", "sig", check=False).returncode == 1  # not running


def test_rm_rename_wait(box: Box) -> None:
    cid = box.run_d("--name", "first", "busybox", "sh", "-c", TERM_LOOP)
    proc = box("rm", cid, check=False)
    assert proc.returncode == 1
    assert f"You cannot remove a running container {cid}" in proc.stderr.decode()
    box("rename", "first", "second")
    assert box.inspect(cid, "{{.Name}}") == "/second"
    assert box("inspect", "first", check=False).returncode == 1
    box("rm", "-f", "second")
    assert box.ids() == []
    waited = box.run_d("--name", "waited", "busybox", "sh", "-c", "sleep 0.3; exit 6")
    assert (box.runroot / "attach" / f"{waited}.sock").exists()
    assert box.out("wait", "waited") == "6"
    assert box.out("wait", "waited") == "6"  # again, once stopped
    # the monitor took its attach socket with it: nothing for `system check` to find
    assert not (box.runroot / "attach" / f"{waited}.sock").exists()
    assert box.out("system", "check").endswith("ok: no problems found")


def test_logs(box: Box) -> None:
    both = box.run_d("busybox", "sh", "-c", "echo one; echo two >&2; echo three")
    # Lines of one stream keep their order; across the two pipes order is not kept (docker's
    # isn't either), so --tail and -t are checked on a second, stdout-only, container.
    lines = box.run_d("busybox", "sh", "-c", "echo one; echo two; echo three")
    assert box.out("wait", both, lines) == "0\n0"
    proc = box("logs", both)
    assert (proc.stdout, proc.stderr) == (b"one\nthree\n", b"two\n")
    assert box("logs", "--tail", "1", lines).stdout == b"three\n"
    assert box("logs", "--tail", "2", lines).stdout == b"two\nthree\n"
    stamped = box("logs", "-t", lines).stdout.decode().splitlines()
    assert [RFC3339.sub("", line) for line in stamped] == ["one", "two", "three"]
    assert all(RFC3339.match(line) for line in stamped)
    slow = box.run_d("busybox", "sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.3; done")
    follow = box.popen("logs", "-f", slow, stdout=subprocess.PIPE)
    try:
        out, _ = follow.communicate(timeout=10)  # ends when the container exits
    finally:
        follow.kill()
    assert out == b"n1\nn2\nn3\n"


def test_inspect_state(box: Box) -> None:
    cid = box.run_d("--name", "insp", "busybox", "sh", "-c", TERM_LOOP)
    fields = "{{.State.Status}} {{.State.Running}} {{.State.Pid}} {{.State.ExitCode}}"
    status, running, pid, code = box.inspect("insp", fields).split()
    assert (status, running, code) == ("running", "true", "0")
    assert Path(f"/proc/{pid}").is_dir()
    box("kill", "-s", "TERM", "insp")
    box.wait_status("insp", "exited")
    assert box.inspect("insp", "{{.State.ExitCode}}") == "7"
    assert box.inspect(cid, "{{.State.Running}} {{.State.Pid}} {{.State.OOMKilled}}") == (
        "false 0 false"
    )
    started, finished = box.inspect(cid, "{{.State.StartedAt}} {{.State.FinishedAt}}").split()
    assert started < finished and not finished.startswith("0001")


def test_exec(box: Box) -> None:
    cid = box.run_d("--name", "ex", "busybox", "sleep", "30")
    assert box("exec", "ex", "sh", "-c", "exit 5", check=False).returncode == 5
    assert box.out("exec", "-e", "FOO=bar", "ex", "sh", "-c", "echo $FOO") == "bar"
    assert box.out("exec", "-w", "/tmp", "ex", "pwd") == "/tmp"
    assert box.out("exec", "-u", "1000", "ex", "id", "-u") == "1000"
    assert box.out("exec", "ex", "hostname") == cid[:12]
    assert box("exec", "ex", "no-such-command", check=False).returncode == 127
    assert box("exec", "-i", "ex", "cat", input=b"piped\n").stdout == b"piped\n"
    box("kill", "ex")
    box.wait_status("ex", "exited")
    proc = box("exec", "ex", "true", check=False)
    assert proc.returncode != 0
    assert "is not running" in proc.stderr.decode()


def test_create_then_start_attach(box: Box) -> None:
    cid = box.out("create", "--name", "later", "busybox", "sh", "-c", "echo o; echo e >&2; exit 2")
    assert box.status(cid) == "created"
    assert "Created" in box.out("ps", "-a", "--format", "{{.Status}}")
    proc = box("start", "-a", "later", check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, b"o\n", b"e\n")
    assert box.inspect(cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 2"
    proc = box("start", "-a", "later", check=False)  # again: a second run, same output
    assert (proc.returncode, proc.stdout) == (2, b"o\n")


def test_container_prune(box: Box) -> None:
    keep = box.run_d("busybox", "sleep", "30")
    gone = [box.out("create", "busybox", "true"), box.run_d("busybox", "true")]
    box.wait_status(gone[1], "exited")
    out = box.out("container", "prune", "-f")
    assert set(out.split()) >= set(gone) and keep not in out
    assert box.ids() == [keep]


def test_name_conflict(box: Box) -> None:
    cid = box.run_d("--name", "taken", "busybox", "sleep", "30")
    proc = box("run", "-d", "--name", "taken", "busybox", "true", check=False)
    assert proc.returncode == 125
    assert f'Conflict. The container name "/taken" is already in use by container "{cid}"' in (
        proc.stderr.decode()
    )
    assert box("create", "--name", "taken", "busybox", check=False).returncode == 125
    assert box.ids() == [cid]


def test_name_race_has_one_winner(box: Box) -> None:
    argv = ("run", "-d", "--name", "same", "busybox", "sleep", "30")
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    racers = [box.popen(*argv, **pipes) for _ in range(8)]
    results = [(p.wait(timeout=60), *p.communicate()) for p in racers]
    winners = [out.decode().strip() for code, out, _ in results if code == 0]
    losers = [err.decode() for code, _, err in results if code != 0]
    assert len(winners) == 1, results
    assert len(losers) == 7 and all(
        'Conflict. The container name "/same" is already in use' in err for err in losers
    ), losers
    assert all(code in (0, 125) for code, _, _ in results)
    assert box.ids() == winners
    assert box.status("same") == "running"
    box("rm", "-f", "same")
    assert box.leftovers(winners) == []
    assert list((box.root / "containers").iterdir()) == []
