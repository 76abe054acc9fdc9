"""The steps that change files: ``RUN`` in a container, ``COPY``/``ADD`` into one.

Both work on a container created from the step's parent image and turn its changes into the
step's image (:func:`dockyard.engine.commit.child_image`); the container is removed whatever
happens. ``COPY`` writes in a forked child that mounts the rootfs in a mount namespace of its
own, so no mount can outlive the step; paths inside the container are resolved inside its
root (:mod:`dockyard.engine.copy_in`). ``RUN`` heredocs and mounts: :mod:`.runsetup`; ``ADD``
of a local archive: :mod:`.addtar`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import posixpath
import stat
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard._util import forking
from dockyard._util.numbers import is_uint
from dockyard.archive.tarformat import END_OF_ARCHIVE, Member, MemberKind, encode_member, padded
from dockyard.build.dockerfile import instructions as ins
from dockyard.errors import DockyardError, InvalidArgument, NotFound, Unsupported

if TYPE_CHECKING:
    from pathlib import Path

    from dockyard.build.builder import BuildOptions, FindImage, Progress
    from dockyard.build.context import BuildContext
    from dockyard.build.dockerfile.stages import Step
    from dockyard.build.remote import Download
    from dockyard.engine.containers import Containers
    from dockyard.engine.copy_out import Entry
    from dockyard.engine.fsdiff import Below
    from dockyard.engine.store import Container
    from dockyard.metadata import ImageRecord
    from dockyard.oci.containerconfig import ContainerConfig as ImageDefaults

DEFAULT_SHELL = ("/bin/sh", "-c")


@contextlib.contextmanager
def container_of(
    engine: Containers, image: ImageRecord, config: ImageDefaults, **run: object
) -> Iterator[Container]:
    """A container of ``image`` for one step, removed (with its anonymous volumes) after."""
    from dockyard.engine.check import BUILD_OWNER, build_owner
    from dockyard.engine.create import CreateRequest, create
    from dockyard.engine.options import NetworkRequest, RunOptions
    from dockyard.engine.remove import remove

    network = str(run.pop("network", "none"))  # only RUN steps start their containers
    options = RunOptions(
        entrypoint=(),
        workdir=config.working_dir,
        user=config.user,
        **run,  # type: ignore[arg-type]
    )
    request = CreateRequest(
        image=image.id, options=options, network=NetworkRequest(modes=(network,)),
        labels={BUILD_OWNER: build_owner()},  # system check removes it if the build dies
    )  # fmt: skip
    made = create(engine.store, engine.images, engine.volumes, request, engine.networks)
    container = engine.get(made.id)
    try:
        yield container
    finally:
        with contextlib.suppress(DockyardError):
            remove(engine, engine.get(made.id), force=True, volumes=True)


def run(
    engine: Containers,
    parent: ImageRecord | None,
    config: ImageDefaults,
    step: Step,
    progress: Progress,
    options: BuildOptions,
    context: BuildContext,
    sources: Sequence[ImageRecord | None] = (),
) -> ImageRecord:
    """``RUN``: the command in a container of the parent; its changes make the new image.
    Heredocs and ``--mount`` as :mod:`dockyard.build.runsetup` describes (``sources``: the
    images of its ``from=`` mounts, see :func:`source_images`).

    Raises:
        BuildError: the command exited non-zero (or could not run).
        Unsupported: a mount type dockyard lacks, a RUN on ``scratch``.
    """
    from dockyard.build import runsetup
    from dockyard.build.secrets import secrets_dir
    from dockyard.build.views import step_mounts
    from dockyard.engine.options import BindMount

    instr = step.instruction
    assert isinstance(instr, ins.Run)
    where = f"{instr.node.keyword} at line {instr.node.position.line}"
    if parent is None:
        raise Unsupported(f"{where}: a RUN needs a base image with a shell (FROM scratch has none)")
    argv, script = runsetup.heredoc_argv(instr, tuple(config.shell or DEFAULT_SHELL))
    build_dir = options.state_dir or engine.store.root / "build"
    secret_mounts = any(m.type is ins.MountType.SECRET for m in instr.mounts)
    env = tuple(f"{k}={v}" for k, v in step.build_env)  # the image's own Env comes with it
    # RUN --network=none|host overrides build --network (bridge, a network's name, host, none)
    mode = str(instr.network) if str(instr.network) in ("none", "host") else options.network
    with contextlib.ExitStack() as stack:
        at = stack.enter_context(secrets_dir(build_dir)) if secret_mounts else None
        trees = stack.enter_context(step_mounts(engine, build_dir))
        binds, tmpfs = runsetup.mounts(
            instr, workdir=config.working_dir, context=context, build_dir=build_dir,
            trees=trees, sources=sources, secrets=options.secrets, secrets_at=at,
        )  # fmt: skip
        if script is not None:
            pipes = stack.enter_context(runsetup.script_dir(build_dir, *script))
            binds += (BindMount(source=pipes, destination=runsetup.PIPES_DIR, readonly=True),)
        return _run_in(engine, parent, config, where, argv, progress, options,
                       cmd=argv, env=env, network=mode, binds=binds, tmpfs=tmpfs)  # fmt: skip


def _run_in(
    engine: Containers,
    parent: ImageRecord,
    config: ImageDefaults,
    where: str,
    argv: tuple[str, ...],
    progress: Progress,
    options: BuildOptions,
    **run_options: object,
) -> ImageRecord:
    from dockyard.build.builder import BuildError
    from dockyard.engine.commit import child_image
    from dockyard.engine.lifecycle import run_to_exit

    with container_of(engine, parent, config, **run_options) as container:
        try:
            code = run_to_exit(engine, container, lambda _err, data: progress.output(data))
        except DockyardError as err:
            raise BuildError(f"{where}: {err.message}", hint=err.hint) from err
        if code != 0:
            raise BuildError(
                f"{where}: the command {json.dumps(list(argv))} returned a non-zero code: {code}",
                hint="the command's output is above",
            )
        engine.reload(container)
        return child_image(engine, parent, config, container=container,
                           created_by=f"RUN {' '.join(argv)}", epoch=options.epoch)  # fmt: skip


def source_images(
    engine: Containers,
    step: Step,
    results: Mapping[int, ImageRecord | None],
    find: FindImage | None = None,
) -> list[ImageRecord | None]:
    """The images ``COPY --from`` or ``RUN --mount from=`` read, in order: a built stage (the
    planner resolved its name or index; None for an empty scratch stage) or an image, from
    ``find`` (the CLI's, which pulls a missing one) or else the local store.

    Raises:
        NotFound: an image that is not here (and could not be pulled).
    """
    found: list[ImageRecord | None] = []
    for source in step.sources:
        if source.stage is not None:
            found.append(results[source.stage])
            continue
        name = source.image or source.name
        if find is not None:
            found.append(find(name))
            continue
        try:
            found.append(engine.images.resolve(name))
        except NotFound:
            raise NotFound(
                f"{step.instruction.node.keyword} --from={source.name}: "
                "no such stage or local image",
                hint="name a stage of this Dockerfile, or pull the image",
            ) from None
    return found


def copy(
    engine: Containers,
    parent: ImageRecord | None,
    config: ImageDefaults,
    step: Step,
    results: Mapping[int, ImageRecord | None],
    context: BuildContext,
    options: BuildOptions,
    downloads: Mapping[str, Download] | None = None,
) -> ImageRecord:
    """``COPY``/``ADD`` of local files (or another stage's) into a container of the parent;
    ``ADD`` unpacks local tar archives (:mod:`dockyard.build.addtar`) and copies the files
    it downloaded (``downloads``: :mod:`dockyard.build.remote`).

    Raises:
        InvalidArgument, NotFound: a bad source or destination.
        NotFound: ``--exclude`` left nothing of another stage to copy.
    """
    from dockyard.engine.commit import child_image

    instr = step.instruction
    assert isinstance(instr, ins.Copy | ins.Add)
    check_supported(instr)
    if parent is None:  # FROM scratch: copy into a container of an empty image
        parent = child_image(engine, None, config, container=None, created_by="FROM scratch")
    dest = _destination(instr, config)
    from_stage = isinstance(instr, ins.Copy) and bool(instr.from_)
    source_image = (
        source_images(engine, step, results, options.find_image)[0] if from_stage else None
    )
    if from_stage and source_image is None:
        raise NotFound(
            f"{instr.node.keyword} at line {instr.node.position.line}: stage "
            f"{step.sources[0].name} has no files to copy (an empty scratch stage)"
        )
    created_by = f"{instr.node.keyword} {' '.join(instr.sources)} {dest}"
    archive, unpack = None, []
    if (
        source_image is not None
        and isinstance(instr, ins.Copy)
        and (instr.parents or instr.exclude)
    ):
        # the selection rules are the context's: applied to the stage's tree, owners kept
        archive = _stage_archive(engine, source_image, instr, dest, options)
        source_image = None
        if archive is None:
            raise NotFound(f"{instr.node.keyword} at line {instr.node.position.line}: "
                           "--exclude left nothing to copy")  # fmt: skip
    elif source_image is None:
        archives = _archives(instr, context)
        archive = _context_archive(instr, context, dest, skip=set(archives),
                                   downloads=downloads or {})  # fmt: skip
        unpack = [context.root / p for p in archives]
    if archive is not None and not unpack:
        image = _copy_direct(engine, parent, config, instr, archive, dest, created_by, options)
        if image is not None:
            return image
    with container_of(engine, parent, config, cmd=()) as target:
        if source_image is not None:
            with container_of(engine, source_image, config, cmd=()) as source:
                in_child(lambda: _copy_between(engine, instr, source, target, dest))
        else:
            in_child(lambda: _extract(engine, target, instr, archive, dest, unpack))
        engine.reload(target)
        return child_image(engine, parent, config, container=target, created_by=created_by,
                           epoch=options.epoch)  # fmt: skip


def _stage_archive(
    engine: Containers, image: ImageRecord, instr: ins.Copy, dest: str, options: BuildOptions
) -> _Archive | None:
    """What ``COPY --from=IMAGE`` with ``--parents`` or ``--exclude`` selects in the image's
    tree (mounted read-only for the while), with the owners it has there."""
    from dockyard.build.context import BuildContext
    from dockyard.build.views import step_mounts

    with step_mounts(engine, options.state_dir or engine.store.root / "build") as trees:
        tree = BuildContext(trees.image_tree(image), digests=False)
        return _context_archive(instr, tree, dest, skip=set(), downloads={}, owners=True)


def _into(instr: ins.Copy | ins.Add, dest: str) -> str:
    """The directory a COPY/ADD writes its archive into."""
    if dest.endswith("/") or len(instr.sources) + len(instr.contents) > 1:
        return dest
    return posixpath.dirname(dest)


def _copy_direct(
    engine: Containers,
    parent: ImageRecord,
    config: ImageDefaults,
    instr: ins.Copy | ins.Add,
    archive: _Archive,
    dest: str,
    created_by: str,
    options: BuildOptions,
) -> ImageRecord | None:
    """COPY without a container, where it adds only new names: the archive is extracted
    straight into the upper directory of a fresh overlay snapshot on the parent's layers,
    which becomes the layer's snapshot (no container, no mount, no helper process). The
    layer is the one the container would give: the destination's existing directories are
    copied up (mode, owner, extended attributes) as overlayfs does, the new ones made as
    :func:`_extract` makes them. None (nothing made) where that does not hold: the native
    driver, a name the parent has (or hides with a whiteout), a destination through a
    symlink or a file."""
    import secrets

    from dockyard.engine.check import BUILD_OWNER, BUILD_SNAPSHOT, build_owner
    from dockyard.engine.commit import child_image
    from dockyard.engine.copy import copy_in
    from dockyard.engine.fsaccess import lower_dirs

    snapshots = engine.images.snapshots
    if getattr(snapshots, "name", "") != "overlayfs":
        return None
    chain = engine.images.config(parent).rootfs.chain_ids()
    key = f"{BUILD_SNAPSHOT}copy-{secrets.token_hex(8)}"
    snapshots.prepare(key, str(chain[-1]) if chain else None,
                      labels={BUILD_OWNER: build_owner()})  # fmt: skip
    try:
        lowers = lower_dirs(engine, key)
        upper = snapshots.upper_dir(key)
        into = _into(instr, dest)
        tops = {n.split("/", 1)[0] for n in archive.names}
        if lowers is None or not _copied_up(upper, lowers, into, tops):
            return None
        entries: list[Entry] = [(member, (data,)) for member, data in archive.entries]
        copy_in(upper, into.rstrip("/") + "/" if into != "/" else "/", entries, archive=True)
        if instr.chown:
            _chown(upper, instr.chown, archive.names, into)
        return child_image(engine, parent, config, container=None, snapshot=key,
                           created_by=created_by, epoch=options.epoch)  # fmt: skip
    finally:
        with contextlib.suppress(NotFound):  # gone when it became the layer's snapshot
            snapshots.remove(key)


def _copied_up(upper: Path, lowers: list[Path], into: str, names: Collection[str]) -> bool:
    """Make ``into`` in ``upper`` as overlayfs would on the way to creating ``names`` in it
    (its directories that the layers have, copied up; the others new); False when that
    cannot stand for the overlay: a component is not a directory in the layers, or a name
    (or a directory to be made) is present in them, even as a whiteout."""
    from dockyard.engine.fsdiff import image_root
    from dockyard.linux.fs import mkdir_all_in_root

    parts = [p for p in into.split("/") if p]
    upper_fd = os.open(upper, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with image_root(lowers) as root, contextlib.ExitStack() as stack:
            below = root
            for done, part in enumerate(parts):
                st = below.lookup(part)
                if st is None:
                    if below.present(part):
                        return False  # hidden by a whiteout: overlayfs would make it opaque
                    break
                if not stat.S_ISDIR(st.st_mode):
                    return False
                _copy_up_dir(upper_fd, "/".join(parts[:done]), part, below, st)
                below = stack.enter_context(below.child(part))
            else:
                if any(below.present(name) for name in names):
                    return False
        os.close(mkdir_all_in_root(upper_fd, into or "/"))
    finally:
        os.close(upper_fd)
    return True


def _copy_up_dir(upper_fd: int, parent: str, name: str, below: Below, st: os.stat_result) -> None:
    """Make directory ``parent/name`` in the upper directory with the owner, mode, extended
    attributes and times of the one the layers show (``st``), as overlayfs copies it up."""
    where = os.open(parent or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=upper_fd)
    try:
        os.mkdir(name, 0o700, dir_fd=where)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=where)  # fmt: skip
    finally:
        os.close(where)
    try:
        os.fchown(fd, st.st_uid, st.st_gid)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        for attr, value in below.xattrs(name):
            os.setxattr(fd, attr, value)
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(fd)


def _archives(instr: ins.Copy | ins.Add, context: BuildContext) -> list[str]:
    """The context paths an ``ADD`` unpacks (tar archives, by content)."""
    from dockyard.build.addtar import is_archive

    if not isinstance(instr, ins.Add):
        return []
    found = [p for s in local_sources(instr) for p in context.resolve(s, what=instr.node.keyword)]
    return [p for p in found if p and is_archive(context.root / p)]


def local_sources(instr: ins.Copy | ins.Add) -> list[str]:
    """The sources from the build context (not ``ADD``'s URLs)."""
    from dockyard.build.remote import is_url

    return [s for s in instr.sources if not (isinstance(instr, ins.Add) and is_url(s))]


def check_supported(instr: ins.Copy | ins.Add) -> None:
    from dockyard.build.remote import check_url, is_url

    where = f"{instr.node.keyword} at line {instr.node.position.line}"
    for source in instr.sources:
        if isinstance(instr, ins.Copy) and "://" in source:
            raise InvalidArgument(f"{where}: COPY does not take URLs ({source})",
                                  hint="use ADD for remote files")  # fmt: skip
        check_url(source, where)
    if isinstance(instr, ins.Add) and instr.checksum and not all(map(is_url, instr.sources)):
        raise InvalidArgument(f"{where}: --checksum is only for URL sources")


def _destination(instr: ins.Copy | ins.Add, config: ImageDefaults) -> str:
    """The destination, absolute (a relative one is under WORKDIR); a trailing ``/`` kept, and
    given to ``.`` and ``..`` (``COPY app.py .`` copies into WORKDIR, as with Docker)."""
    dest = instr.dest
    into_dir = dest.endswith("/") or posixpath.basename(dest) in (".", "..")
    if not dest.startswith("/"):
        dest = posixpath.join(config.working_dir or "/", dest)
    if into_dir:
        dest = posixpath.normpath(dest).rstrip("/") + "/"
    if len(instr.sources) + len(instr.contents) > 1 and not dest.endswith("/"):
        raise InvalidArgument(
            f"line {instr.node.position.line}: when using {instr.node.keyword} with more than one "
            f"source file, the destination must be a directory and end with a /",
            hint=f"write {instr.dest}/",
        )
    return dest


def _owner(instr: ins.Copy | ins.Add) -> tuple[str, int | None]:
    mode = int(instr.chmod, 8) if instr.chmod else None
    return instr.chown, mode


def selected(
    instr: ins.Copy | ins.Add, context: BuildContext, dest: str, *, skip: Collection[str] = ()
) -> Iterator[tuple[str, str]]:
    """What a COPY/ADD copies from the context: ``(context path, name in the archive)``, names
    relative to the destination directory (a single file to a file destination is named after
    it). ``--parents`` keeps each path from the context root (or from a ``/./`` in the
    source); ``--exclude`` patterns (.dockerignore syntax) drop what they match, tested on the
    path under the source (and on a file's name). ``--link`` changes nothing here: the layer
    holds the same files. The paths in ``skip`` (archives ADD unpacks) are left out."""
    from dockyard.build.dockerfile.dockerignore import Matcher

    excluded = Matcher(instr.exclude).excluded if instr.exclude else None
    parents = isinstance(instr, ins.Copy) and instr.parents
    into_dir = dest.endswith("/") or len(instr.sources) + len(instr.contents) > 1
    for source in local_sources(instr):
        base = _pivot(source) if parents else ""
        for path in context.resolve(source, what=instr.node.keyword):
            if path in skip:
                continue
            full = context.root / path if path else context.root
            if full.is_dir() and not full.is_symlink():
                # a directory's contents go into the destination: a directory even without a
                # trailing / (named after it, as a single file to a file destination is)
                prefix = (
                    _under(path, base) if parents else "" if into_dir else posixpath.basename(dest)
                )
                for entry in context.entries(path):
                    rel = entry.path[len(path) + 1 :] if path else entry.path
                    if entry.path == path or (excluded is not None and excluded(rel)):
                        continue
                    yield entry.path, posixpath.join(prefix, rel) if prefix else rel
            elif excluded is None or not (excluded(posixpath.basename(path)) or excluded(path)):
                if parents:
                    yield path, _under(path, base)
                else:
                    yield path, posixpath.basename(path if into_dir else dest)


def selection_digest(instr: ins.Copy | ins.Add, context: BuildContext) -> str:
    """The content digest of what :func:`selected` picks (names as copied): the cache key of
    a COPY with ``--exclude`` or ``--parents`` (a change to an excluded file is no change)."""
    h = hashlib.sha256()
    for path, name in selected(instr, context, instr.dest):
        entry = context.entry(path)
        h.update(f"{name}\0{entry.kind}\0{entry.mode:o}\0{entry.digest}\n".encode())
    return f"sha256:{h.hexdigest()}"


def _pivot(source: str) -> str:
    """``--parents``: the part of the source whose path is not kept (before ``/./``)."""
    if "/./" not in source:
        return ""
    return posixpath.normpath(source.split("/./", 1)[0]).lstrip("/").removeprefix(".")


def _under(path: str, base: str) -> str:
    return path[len(base) + 1 :] if base and path.startswith(base + "/") else path


@dataclass(frozen=True, slots=True)
class _Archive:
    """What a COPY/ADD copies from the context: tar members with their data (extracted as
    they are, or as a tar for the step's helper process), and the member names."""

    entries: tuple[tuple[Member, bytes], ...]
    names: tuple[str, ...]

    def tar(self) -> io.BytesIO:
        """The entries as one uncompressed tar stream."""
        data = bytearray()
        for member, content in self.entries:
            data += encode_member(member)
            data += content
            data += bytes(padded(len(content)) - len(content))
        data += END_OF_ARCHIVE
        return io.BytesIO(bytes(data))


def _context_archive(
    instr: ins.Copy | ins.Add,
    context: BuildContext,
    dest: str,
    *,
    skip: set[str],
    downloads: Mapping[str, Download],
    owners: bool = False,
) -> _Archive | None:
    """The :func:`selected` context files, the downloaded ones (mode 0600 unless
    ``--chmod``) and heredoc contents as a tar (owner 0:0, whole-second mtimes, a second name
    of a file as a hardlink); None when there is nothing in it."""
    tar = _TarBuilder()
    _, mode = _owner(instr)
    into_dir = dest.endswith("/") or len(instr.sources) + len(instr.contents) > 1
    for path, name in selected(instr, context, dest, skip=skip):
        tar.add(context.root / path if path else context.root, name, mode, owners=owners)
    for source in instr.sources:
        if source in downloads:
            got = downloads[source]
            name = got.name if into_dir else posixpath.basename(dest)
            tar.add(got.path, name, mode if mode is not None else 0o600, got.mtime)
    for content in instr.contents:
        name = posixpath.basename(content.path) if into_dir else posixpath.basename(dest)
        tar.add_data(name, content.data.encode(), mode if mode is not None else 0o644)
    return tar.archive()


_KINDS = {
    stat.S_IFREG: MemberKind.FILE, stat.S_IFDIR: MemberKind.DIR, stat.S_IFLNK: MemberKind.SYMLINK,
    stat.S_IFCHR: MemberKind.CHAR, stat.S_IFBLK: MemberKind.BLOCK, stat.S_IFIFO: MemberKind.FIFO,
}  # fmt: skip


class _TarBuilder:
    """A tar in memory, built with dockyard's own encoder (``tarfile`` took ~0.1 ms a member
    to make its PAX headers: a tenth of a second for a COPY of 1,000 files)."""

    def __init__(self) -> None:
        self.entries: list[tuple[Member, bytes]] = []
        self.names: list[str] = []
        self._links: dict[tuple[int, int], bytes] = {}

    def add(self, path: os.PathLike[str], name: str, mode: int | None,
            mtime: float | None = None, *, owners: bool = False) -> None:  # fmt: skip
        """``path`` as member ``name`` (``mode``: --chmod's, else its own; owned by 0:0, or
        by its own owner with ``owners``)."""
        st = os.lstat(path)
        if stat.S_IFMT(st.st_mode) not in _KINDS:
            return  # a socket: not archived (as GNU tar)
        kind = _KINDS[stat.S_IFMT(st.st_mode)]
        tar_name = os.fsencode(name)
        linkname = b""
        if kind is MemberKind.FILE and st.st_nlink > 1:
            linkname = self._links.setdefault((st.st_dev, st.st_ino), tar_name)
            if linkname != tar_name:
                kind = MemberKind.HARDLINK
            else:
                linkname = b""
        if kind is MemberKind.SYMLINK:
            linkname = os.fsencode(os.readlink(path))
        data = b""
        if kind is MemberKind.FILE:
            with open(path, "rb") as f:
                data = f.read()
        device = kind in (MemberKind.CHAR, MemberKind.BLOCK)
        if mode is None or kind is MemberKind.SYMLINK:
            mode = stat.S_IMODE(st.st_mode)
        member = Member(
            name=tar_name, kind=kind, mode=mode,
            size=len(data), linkname=linkname,
            mtime=int(mtime) if mtime is not None else st.st_mtime_ns // 1_000_000_000,
            devmajor=os.major(st.st_rdev) if device else 0,
            devminor=os.minor(st.st_rdev) if device else 0,
            uid=st.st_uid if owners else 0, gid=st.st_gid if owners else 0,
        )  # fmt: skip
        self._append(member, data, name)

    def add_data(self, name: str, data: bytes, mode: int) -> None:
        member = Member(name=os.fsencode(name), kind=MemberKind.FILE, mode=mode, size=len(data))
        self._append(member, data, name)

    def _append(self, member: Member, data: bytes, name: str) -> None:
        self.entries.append((member, data))
        self.names.append(name)

    def archive(self) -> _Archive | None:
        if not self.names:
            return None
        return _Archive(tuple(self.entries), tuple(self.names))


def _extract(
    engine: Containers,
    target: Container,
    instr: ins.Copy | ins.Add,
    archive: _Archive | None,
    dest: str,
    unpack: list[Path],
) -> None:
    """In the child: mount the target's rootfs, extract, apply ``--chown``; unpack the
    ``unpack`` archives into ``dest`` as a directory."""
    from dockyard.engine.copy import copy_in
    from dockyard.engine.fsaccess import container_root

    into = _into(instr, dest)
    with container_root(engine, target, with_volumes=False) as root:
        if archive is not None:
            os.close(_mkdir_in(root, into or "/"))
            copy_in(root, into.rstrip("/") + "/" if into != "/" else "/", archive.tar(),
                    archive=True)  # fmt: skip
            if instr.chown:
                _chown(root, instr.chown, archive.names, into)
        for path in unpack:
            _unpack(root, path, dest, instr.chown)


def _unpack(root: Path, archive: Path, dest: str, chown: str = "") -> None:
    """An archive's members into ``dest`` (a directory, made if missing) inside ``root``,
    owned as ``chown`` says (``ADD --chown``, as BuildKit applies it: every member and each
    directory the extraction makes), else as in the tar."""
    from dockyard.build.addtar import open_archive
    from dockyard.engine.copy import copy_in
    from dockyard.engine.copy_extract import tar_entries

    os.close(_mkdir_in(root, dest))
    names: set[str] = set()
    if chown:
        with open_archive(archive) as stream:
            assert stream is not None
            names = {posixpath.normpath(os.fsdecode(m.name)) for m, _ in tar_entries(stream)}
        implied = {p for n in names for p in _parents(n)} - names
        names |= {p for p in implied if not _exists_in(root, posixpath.join(dest, p))}
    with open_archive(archive) as stream:
        assert stream is not None
        copy_in(root, dest.rstrip("/") + "/" if dest != "/" else "/", stream, archive=True)
    if names - {"."}:
        _chown(root, chown, sorted(names - {"."}), dest)


def _exists_in(root: Path, path: str) -> bool:
    from dockyard.linux.fs import secure_join

    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(secure_join(root_fd, path))
        return True
    except OSError:
        return False
    finally:
        os.close(root_fd)


def _parents(name: str) -> Iterator[str]:
    while "/" in name:
        name = posixpath.dirname(name)
        yield name


def _chown(root: os.PathLike[str], spec: str, names: Collection[str], into: str) -> None:
    """``--chown``: the copied entries get the user and group (names from the image)."""
    from pathlib import Path

    from dockyard.engine.users import resolve_in_root
    from dockyard.linux.fs import secure_join

    owner = (
        resolve_in_root(spec if ":" in spec else f"{spec}:{spec}", Path(root))
        if not is_uint(spec.replace(":", ""))
        else None
    )
    uid, _, gid = spec.partition(":")
    ids = (owner.uid, owner.gid) if owner else (int(uid), int(gid or uid))
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in names:
            # the entry itself (a symlink too, as docker), in its directory resolved in the root
            parent, leaf = posixpath.split(posixpath.join(into, name).rstrip("/"))
            fd = secure_join(root_fd, parent or "/")
            try:
                os.chown(leaf, *ids, dir_fd=fd, follow_symlinks=False)
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)


def _copy_between(
    engine: Containers, instr: ins.Copy | ins.Add, source: Container, target: Container, dest: str
) -> None:
    """In the child: ``COPY --from``: the sources out of one rootfs into the other's, with
    COPY's rules (a directory's contents into ``dest``; a file to ``dest`` or into ``dest/``)."""
    from dockyard.engine.copy import copy_in, copy_out
    from dockyard.engine.fsaccess import container_root

    into_dir = dest.endswith("/") or len(instr.sources) > 1
    with (
        container_root(engine, source, with_volumes=False) as src_root,
        container_root(engine, target, with_volumes=False) as dst_root,
    ):
        for pattern in instr.sources:
            src = pattern.rstrip("/") or "/"
            with copy_out(src_root, src) as found:
                is_dir = found.stat.is_dir
            directory = dest if is_dir or into_dir else posixpath.dirname(dest) or "/"
            dir_fd = _mkdir_in(dst_root, directory)
            try:
                buf = io.BytesIO()
                with copy_out(src_root, src.rstrip("/") + "/." if is_dir else src) as found:
                    found.write_tar(buf)
                buf.seek(0)
                copy_in(dst_root, directory.rstrip("/") + "/", buf, archive=True)
                name = posixpath.basename(src)
                if not is_dir and not into_dir and name != posixpath.basename(dest):
                    os.rename(name, posixpath.basename(dest), src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            finally:
                os.close(dir_fd)


def _mkdir_in(root: os.PathLike[str], path: str) -> int:
    """``mkdir -p`` of ``path`` inside ``root`` (resolved there); an fd of the directory."""
    from dockyard.linux.fs import mkdir_all_in_root

    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return mkdir_all_in_root(root_fd, path)
    finally:
        os.close(root_fd)


def in_child(work: object) -> None:
    """Run ``work`` in a forked child (its own mount namespace dies with it); re-raise its
    error here."""
    import pickle

    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    pid = forking.fork()
    if pid == 0:
        os.close(read_fd)
        code = 0
        try:
            work()  # type: ignore[operator]
        except BaseException as err:
            code = 1
            with contextlib.suppress(Exception):
                payload = err if isinstance(err, DockyardError) else InvalidArgument(str(err))
                os.write(write_fd, pickle.dumps(payload))
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        if data:
            raise pickle.loads(data)
        raise InvalidArgument("the copy failed in its helper process")
