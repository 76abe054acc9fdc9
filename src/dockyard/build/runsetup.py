"""What a ``RUN`` step runs with: its argv (heredocs as BuildKit feeds them to the shell) and
its ``--mount`` options as the container's bind and tmpfs mounts.

Heredocs follow BuildKit's ``dispatchRun``:

- the command is only a heredoc (``RUN <<EOF``): its body is the script, given to the shell as
  one ``-c`` argument; a body starting with ``#!`` is instead written to a file, mounted
  read-only at ``/dev/pipes/<name>`` (mode 0755), and run by the shell as a program (so the
  shebang's interpreter runs it);
- otherwise (``RUN cat <<EOF > f`` ...) the command and every body, each followed by its
  terminator, are joined back into one script for the shell to read its own heredocs from.

Mounts (``RUN --mount``):

- ``type=cache``: a directory kept between builds, ``<build dir>/cache-mounts/<sha256 of id>``
  (the id defaults to the target), created with ``mode``/``uid``/``gid`` (0755, 0:0), mounted
  read-write. ``from=`` (a seeded cache) is unsupported.
- ``type=tmpfs``: an empty tmpfs (``size=`` honoured).
- ``type=bind`` from the build context (no ``from=``): the context path ``source`` (default:
  the context root), read-only; ``rw`` and ``from=`` are unsupported.
- ``type=secret`` and ``type=ssh``: unsupported.
A relative target is under the step's working directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.build.dockerfile import instructions as ins
from dockyard.errors import InvalidArgument, NotFound, Unsupported

if TYPE_CHECKING:
    from dockyard.build.context import BuildContext
    from dockyard.engine.options import BindMount

PIPES_DIR = "/dev/pipes"
_HEREDOC_ONLY = re.compile(r"^<<(-?)\s*(['\"]?)([^<'\"\s]+)\2\s*$")


def heredoc_argv(
    instr: ins.Run, shell: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, str] | None]:
    """The argv of ``instr`` and, for a ``#!`` heredoc, the (name, body) of the script file.

    Raises:
        InvalidArgument: heredocs on an exec-form command (the parser refuses those too).
    """
    command = instr.command
    if not instr.heredocs:
        argv = (*shell, *command.argv) if command.prepend_shell else command.argv
        return argv, None
    if not command.prepend_shell or len(command.argv) != 1:
        raise InvalidArgument(
            f"RUN at line {instr.node.position.line}: heredocs need the shell form"
        )
    text = command.argv[0]
    first = instr.heredocs[0]
    if _HEREDOC_ONLY.match(text.strip()):
        if first.content.startswith("#!"):
            name = posixpath.basename(first.name) or "script"
            return (*shell, f"{PIPES_DIR}/{name}"), (name, first.content)
        return (*shell, first.content), None
    full = text + "".join(f"\n{doc.content}{doc.name}" for doc in instr.heredocs)
    return (*shell, full), None


def mounts(
    instr: ins.Run,
    *,
    workdir: str,
    context: BuildContext,
    build_dir: Path,
    secrets: Mapping[str, bytes] | None = None,
    secrets_at: Path | None = None,
) -> tuple[tuple[BindMount, ...], dict[str, str]]:
    """The bind and tmpfs mounts of ``instr``'s ``--mount`` flags (cache directories made,
    secrets written into ``secrets_at``: see :mod:`dockyard.build.secrets`).

    Raises:
        Unsupported: ssh mounts, ``from=``, a read-write bind (named).
        InvalidArgument, NotFound: a bind source outside the context or missing; a
            ``required`` secret not given.
    """
    from dockyard.engine.options import BindMount

    where = f"RUN at line {instr.node.position.line}"
    binds: list[BindMount] = []
    tmpfs: dict[str, str] = {}
    for m in instr.mounts:
        target = posixpath.normpath(posixpath.join(workdir or "/", m.target))
        if m.type is ins.MountType.CACHE:
            if m.from_:
                raise Unsupported(f"{where}: --mount=type=cache,from= is not supported yet",
                                  hint="drop from=; the cache starts empty")  # fmt: skip
            binds.append(BindMount(source=str(cache_dir(build_dir, m)), destination=target))
        elif m.type is ins.MountType.TMPFS:
            tmpfs[target] = "exec" + (f",size={m.size}" if m.size else "")
        elif m.type is ins.MountType.BIND:
            binds.append(_context_bind(m, target, context, where))
        elif m.type is ins.MountType.SECRET:
            binds += _secret_bind(m, target, secrets or {}, secrets_at, where)
        else:
            raise Unsupported(
                f"{where}: --mount=type={m.type} is not supported by dockyard's builder yet",
                hint="pass what the command needs with COPY (and remove it in the same RUN)",
            )
    return tuple(binds), tmpfs


def _secret_bind(
    m: ins.Mount, target: str, secrets: Mapping[str, bytes], at: Path | None, where: str
) -> list[BindMount]:
    """The secret's file, bind-mounted read-only; none when it was not given and is not
    ``required`` (docker's behaviour)."""
    from dockyard.build.secrets import write_secret
    from dockyard.engine.options import BindMount

    if m.id not in secrets:
        if m.required:
            raise NotFound(f"{where}: secret {m.id} is required but was not given",
                           hint=f"pass it with build --secret id={m.id},src=FILE")  # fmt: skip
        return []
    assert at is not None, "secrets need a directory to be written to"
    path = write_secret(at, m.id, secrets[m.id], mode=m.mode, uid=m.uid, gid=m.gid)
    return [BindMount(source=str(path), destination=target, readonly=True)]


def cache_dir(build_dir: Path, mount: ins.Mount) -> Path:
    """The persistent directory of a cache mount (made on first use with its mode/owner)."""
    cache_id = mount.id or mount.target
    path = build_dir / "cache-mounts" / hashlib.sha256(cache_id.encode()).hexdigest()[:32]
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + ".new")
        tmp.mkdir(exist_ok=True)
        os.chmod(tmp, mount.mode if mount.mode is not None else 0o755)
        os.chown(tmp, mount.uid or 0, mount.gid or 0)
        os.replace(tmp, path)
    return path


def _context_bind(m: ins.Mount, target: str, context: BuildContext, where: str) -> BindMount:
    from dockyard.engine.options import BindMount

    if m.from_:
        raise Unsupported(f"{where}: --mount=type=bind,from={m.from_} is not supported yet",
                          hint="COPY --from the stage instead")  # fmt: skip
    if not m.readonly and "rw" in m.spec.split(","):
        raise Unsupported(f"{where}: a read-write bind mount (rw) is not supported yet",
                          hint="write into a cache mount or the image instead")  # fmt: skip
    found = context.resolve(m.source or ".", what="RUN --mount")
    if len(found) != 1:
        raise InvalidArgument(f"{where}: --mount source {m.source!r} names {len(found)} paths")
    path = context.root / found[0] if found[0] else context.root
    return BindMount(source=str(path), destination=target, readonly=True)


def mounts_key(instr: ins.Run, context: BuildContext) -> str:
    """What a RUN's cache key depends on besides its text: the content of its context binds."""
    return ",".join(
        context.digest(context.resolve(m.source or ".", what="RUN --mount"))
        for m in instr.mounts
        if m.type is ins.MountType.BIND and not m.from_
    )


@contextlib.contextmanager
def script_dir(build_dir: Path, name: str, body: str) -> Iterator[str]:
    """A private directory holding the ``#!`` heredoc script ``name`` (0755), removed after."""
    import shutil
    import tempfile

    build_dir.mkdir(parents=True, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="pipes-", dir=build_dir)
    try:
        os.chmod(directory, 0o755)
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(body)
        os.chmod(path, 0o755)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
