"""A harness for the process tests: finalise and exec a spec ``process`` in a forked child.

The child's stdin, stdout and stderr are pipes; its body runs under ``run_child`` as the
runtime's init would, with the error pipe passed as a runtime fd (closed by a good exec). Every
credential change happens in the child, so the test process stays as it was. With
``inspect=True`` the exec'd program must print ``ready`` and then read a line: the parent
reads ``/proc/<pid>/status`` and ``/proc/<pid>/fd`` of the exec'd process itself in between.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tests.support.docker_defaults import DOCKER_CAPS

from dockyard.oci.runtime import Capabilities, Capability, Process, Spec, User
from dockyard.oci.runtime_seccomp import Seccomp
from dockyard.runtime.child import ChildError, read_child_error, run_child
from dockyard.runtime.execplan import prepare_exec
from dockyard.runtime.process import finalize_and_exec
from dockyard.runtime.seccomp import compile_seccomp, load_flags

BUSYBOX = "/bin/busybox"
ENV = ("PATH=/usr/local/bin:/usr/bin:/bin", "TERM=dumb")
WAIT_SCRIPT = "echo ready; read line; echo done"


def caps(
    names: Iterable[str] = DOCKER_CAPS, *, ambient: bool = False, inheritable: bool = False
) -> Capabilities:
    """The same ``names`` in bounding, effective and permitted (as Docker does); also in
    inheritable and ambient when asked."""
    chosen = tuple(Capability(n) for n in names)
    return Capabilities(
        bounding=chosen,
        effective=chosen,
        permitted=chosen,
        inheritable=chosen if inheritable or ambient else (),
        ambient=chosen if ambient else (),
    )


def process(
    args: Sequence[str],
    *,
    uid: int = 0,
    gid: int = 0,
    gids: tuple[int, ...] = (),
    umask: int | None = None,
    capabilities: Capabilities | None = None,
    nnp: bool = False,
    cwd: str = "/",
    env: tuple[str, ...] = ENV,
) -> Process:
    return Process(
        args=tuple(args),
        env=env,
        cwd=cwd,
        user=User(uid=uid, gid=gid, additional_gids=gids, umask=umask),
        capabilities=caps() if capabilities is None else capabilities,
        no_new_privileges=nnp,
    )


def sh(script: str, **kwargs: object) -> Process:
    """``busybox sh -c script`` as a process."""
    return process([BUSYBOX, "sh", "-c", script], **kwargs)  # type: ignore[arg-type]


def seccomp_profile(obj: dict[str, object]) -> Seccomp:
    """Parse a ``linux.seccomp`` object through the real config.json parser."""
    doc = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "linux": {"seccomp": obj}}
    spec = Spec.from_bytes(json.dumps(doc))
    assert spec.linux is not None
    assert spec.linux.seccomp is not None
    return spec.linux.seccomp


@dataclass
class Outcome:
    exit_code: int  # the exit status, or -N when killed by signal N
    output: str
    error: ChildError | None
    status: dict[str, str] = field(default_factory=dict)
    fds: list[int] = field(default_factory=list)


def _parse_status(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_line(fd: int) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return data


def run(
    proc: Process,
    *,
    seccomp: Seccomp | None = None,
    before: Callable[[], Sequence[int]] | None = None,
    keep_fds: Sequence[int] = (),
    inspect: bool = False,
) -> Outcome:
    """Fork, finalise ``proc`` and exec it; return what happened. ``before`` runs in the
    child just before ``finalize_and_exec`` and returns extra fds to keep."""
    bpf, flags = compile_seccomp(seccomp), load_flags(seccomp)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:

        def body() -> None:
            os.dup2(in_r, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            extra = before() if before else ()
            # No container here: the host's Python may be the "container process" (the
            # CVE-2019-5736 refusal of the runtime's own binary is tested on its own).
            plan = prepare_exec(proc, runtime_ids=frozenset()) if proc.args else None
            finalize_and_exec(
                proc,
                seccomp_bpf=bpf,
                seccomp_flags=flags,
                keep_fds=(*keep_fds, *extra),
                runtime_fds=(err_w,),
                plan=plan,
            )

        run_child(body, error_fd=err_w)
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    try:
        error = read_child_error(err_r)
        outcome = Outcome(exit_code=0, output="", error=error)
        if inspect and error is None:
            first = _read_line(out_r)
            assert first == b"ready\n", first
            with open(f"/proc/{pid}/status") as source:
                outcome.status = _parse_status(source.read())
            outcome.fds = sorted(int(n) for n in os.listdir(f"/proc/{pid}/fd"))
            outcome.output = first.decode()
        with contextlib.suppress(BrokenPipeError):  # it did not wait for input
            os.write(in_w, b"go\n")
        os.close(in_w)
        in_w = -1
        outcome.output += _read_all(out_r).decode(errors="replace")
    finally:
        for fd in (in_w, out_r, err_r):
            if fd >= 0:
                os.close(fd)
        _, wait_status = os.waitpid(pid, 0)
    outcome.exit_code = os.waitstatus_to_exitcode(wait_status)
    return outcome
