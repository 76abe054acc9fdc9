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
  read-write. With ``from=`` the cache is seeded, on first use, with a copy of ``source`` in
  that stage or image (and keyed by them too).
- ``type=tmpfs``: an empty tmpfs (``size=`` honoured).
- ``type=bind``: the path ``source`` of the build context (default: its root), or of the
  stage or image ``from=`` names (default: its ``/``; symlinks resolved inside it), read-only;
  with ``rw`` writable through a throwaway layer (the writes are discarded, as in BuildKit).
  Trees and layers: :mod:`dockyard.build.views`.
- ``type=secret``: :mod:`dockyard.build.secrets`; ``type=ssh``: unsupported.
A relative target is under the step's working directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.build.dockerfile import instructions as ins
from dockyard.errors import InvalidArgument, NotFound, Unsupported

if TYPE_CHECKING:
    from dockyard.build.context import BuildContext
    from dockyard.build.views import StepMounts
    from dockyard.engine.options import BindMount
    from dockyard.metadata import ImageRecord

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
    trees: StepMounts,
    sources: Sequence[ImageRecord | None] = (),
    secrets: Mapping[str, bytes] | None = None,
    secrets_at: Path | None = None,
) -> tuple[tuple[BindMount, ...], dict[str, str]]:
    """The bind and tmpfs mounts of ``instr``'s ``--mount`` flags (cache directories made,
    secrets written into ``secrets_at``: see :mod:`dockyard.build.secrets`; trees of other
    stages and writable layers mounted by ``trees``).

    Args:
        sources: the images of the mounts with ``from=``, in their order (None: scratch).

    Raises:
        Unsupported: ssh mounts (named).
        InvalidArgument, NotFound: a bind source outside the context or missing; a
            ``required`` secret not given.
    """
    from dockyard.engine.options import BindMount

    where = f"RUN at line {instr.node.position.line}"
    binds: list[BindMount] = []
    tmpfs: dict[str, str] = {}
    images = iter(sources)
    for m in instr.mounts:
        target = posixpath.normpath(posixpath.join(workdir or "/", m.target))
        image = next(images) if m.from_ else None
        if m.type is ins.MountType.CACHE:
            seed = (image, trees) if m.from_ else None
            path = cache_dir(build_dir, m, seed, where=where)
            binds.append(BindMount(source=str(path), destination=target))
        elif m.type is ins.MountType.TMPFS:
            tmpfs[target] = "exec" + (f",size={m.size}" if m.size else "")
        elif m.type is ins.MountType.BIND:
            source = _bind_source(m, image, context, trees, where)
            binds.append(BindMount(source=str(source), destination=target, readonly=m.readonly))
        elif m.type is ins.MountType.SECRET:
            binds += _secret_bind(m, target, secrets or {}, secrets_at, where)
        else:
            raise Unsupported(
                f"{where}: --mount=type={m.type} is not supported by dockyard's builder",
                hint="pass what the command needs as a secret mount (--mount=type=secret)",
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


def cache_dir(
    build_dir: Path,
    mount: ins.Mount,
    seed: tuple[ImageRecord | None, StepMounts] | None = None,
    *,
    where: str = "RUN",
) -> Path:
    """The persistent directory of a cache mount (made on first use with its mode/owner).

    With ``seed`` (``from=``: the image and the step's trees) the cache is its own, keyed by
    the image and ``source`` as well as the id, and starts as a copy of ``source`` in the
    image, as BuildKit's does.
    """
    cache_id = mount.id or mount.target
    if seed is not None:
        image = seed[0]
        cache_id += f"\0{image.id if image is not None else 'scratch'}\0{mount.source or '/'}"
    path = build_dir / "cache-mounts" / hashlib.sha256(cache_id.encode()).hexdigest()[:32]
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + ".new")
        shutil.rmtree(tmp, ignore_errors=True)  # a half-made one of an interrupted build
        tmp.mkdir()
        if seed is not None:
            from dockyard.build.views import path_in
            from dockyard.snapshot.tree import copy_tree

            source = path_in(seed[1].image_tree(seed[0]), mount.source or "/", where)
            if not source.is_dir():
                raise InvalidArgument(
                    f"{where}: a cache's source {mount.source} is not a directory"
                )
            copy_tree(source, tmp)
        if seed is None or mount.mode is not None:
            os.chmod(tmp, mount.mode if mount.mode is not None else 0o755)
        if seed is None or mount.uid is not None or mount.gid is not None:
            os.chown(tmp, mount.uid or 0, mount.gid or 0)
        os.replace(tmp, path)
    return path


def _bind_source(
    m: ins.Mount, image: ImageRecord | None, context: BuildContext, trees: StepMounts, where: str
) -> Path:
    """The host path a bind mount shows: in the context or in the ``from=`` stage/image
    (resolved inside it); a writable layer over it for ``rw`` (its writes are discarded)."""
    if m.from_:
        from dockyard.build.views import path_in

        tree = trees.image_tree(image, writable=not m.readonly)
        return path_in(tree, m.source or "/", where)
    found = context.resolve(m.source or ".", what="RUN --mount")
    if len(found) != 1:
        raise InvalidArgument(f"{where}: --mount source {m.source!r} names {len(found)} paths")
    path = context.root / found[0] if found[0] else context.root
    return path if m.readonly else trees.writable_copy(path)


def mounts_key(instr: ins.Run, context: BuildContext, sources: Sequence[str] = ()) -> str:
    """What a RUN's cache key depends on besides its text: the content of its context binds
    and the IDs of the images its ``from=`` mounts read (``sources``, in their order)."""
    ids = iter(sources)
    return ",".join(
        f"from:{next(ids)}"
        if m.from_
        else context.digest(context.resolve(m.source or ".", what="RUN --mount"))
        for m in instr.mounts
        if m.type is ins.MountType.BIND or m.from_
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
