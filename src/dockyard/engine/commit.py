"""``docker commit``: a new image from a container's changes.

The script::

    check the reference (``repo`` means ``repo:latest``; a digest is refused)
    merge the container's run options over its image's config (moby's ``merge``), apply -c
    pause the container if it runs (unless told not to)
        diff its rootfs against its image (the ``docker diff`` changes, without the runtime's
        mount-point stubs) and write the added/changed entries plus ``.wh.`` whiteouts for
        the deletions as one gzip layer into the content store
    resume it
    image = the parent's layers + the new one; config, history and manifest appended to
    register (unpack the new layer, record, tag) under one store lease: a failure leaves
    nothing

Both snapshotters go the same way: the changes come from
:func:`dockyard.engine.fsaccess.container_changes` (an overlay upperdir read with overlayfs'
lookup rules; a native copy compared with its parent's tree) and the entries are read from
the snapshot's own directory (the upperdir, or the native copy). A commit with no change
makes no layer: its history entry is ``empty_layer``, as classic docker does.

The image config follows moby's ``NewChildImage``: the parent's platform, layers and history
with one entry appended (``created_by`` = the container's ``Cmd`` joined by spaces,
``comment`` = the message, ``author``), ``author`` and ``created`` at the top, ``container``
naming the source, and ``config`` = the container's effective config (Cmd, Entrypoint, Env,
WorkingDir, User, Labels, ExposedPorts, Volumes, StopSignal, Healthcheck; not the image's
OnBuild or Shell, which moby's merge drops) with the ``-c`` changes applied.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, BinaryIO, cast

from dockyard._util import rfc3339
from dockyard.archive.create import changed_members, write_members
from dockyard.engine.fsaccess import container_changes, drop_stubs, snapshot_changes
from dockyard.engine.inspect import config_env, entrypoint_and_cmd
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.image.changes import apply_changes
from dockyard.image.register import register
from dockyard.image.unpack import adopt
from dockyard.monitor import state as run_state
from dockyard.oci import mediatype
from dockyard.oci.containerconfig import ContainerConfig as ImageDefaults
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.image import History, ImageConfig, RootFS
from dockyard.oci.manifest import Manifest
from dockyard.oci.reference import parse_reference

if TYPE_CHECKING:
    from dockyard.engine.container import ContainerConfig
    from dockyard.engine.containers import Containers
    from dockyard.engine.fsdiff import Change
    from dockyard.engine.store import Container
    from dockyard.image.store import ImageStore, Operation
    from dockyard.metadata import ImageRecord


def commit(
    engine: Containers,
    container: Container,
    *,
    reference: str | None = None,
    author: str = "",
    message: str = "",
    changes: Sequence[str] = (),
    pause: bool = True,
) -> ImageRecord:
    """Create an image from ``container``'s changes (see the module docstring).

    Args:
        reference: ``REPOSITORY[:TAG]`` to tag the image with (``:latest`` by default).
        author: the ``author`` of the image and of its new history entry.
        message: the new history entry's ``comment``.
        changes: ``-c`` Dockerfile instructions applied to the new config.
        pause: freeze a running container while its changes are read.

    Raises:
        InvalidArgument: a malformed reference or change.
        Conflict: the container is dead or being removed.
        NotFound: the container's image is gone.
        FailedPrecondition: an entry changed type while it was read (a live container).
    """
    names = [committed_name(reference)] if reference else []
    if container.status in (run_state.DEAD, run_state.REMOVING):
        state = "Dead" if container.status == run_state.DEAD else "being removed"
        raise Conflict(f"You cannot commit container {container.id} which is {state}")
    store = engine.images
    parent = store.db.get_image(container.config.image_id)
    if parent is None:
        raise NotFound(
            f"container {container.config.short_id}: cannot commit: its image "
            f"{container.config.image_id} is gone"
        )
    parent_config, parent_manifest = store.config(parent), store.manifest(parent)
    defaults = committed_config(container.config, parent_config.config)
    new_defaults = apply_changes(defaults, changes)
    docker = parent_manifest.media_type == mediatype.DOCKER_MANIFEST
    with store.operation() as op:
        with _paused(engine, container, pause):
            layer = _write_layer(engine, container.config.snapshot, op, docker=docker,
                                 changes=container_changes(engine, container))  # fmt: skip
        config = _child_config(
            parent_config, new_defaults, diff_id=layer[1] if layer else None,
            created_by=" ".join(defaults.cmd or ()), author=author, comment=message,
            container_id=container.id,
        )  # fmt: skip
        layers = parent_manifest.layers + ((layer[0],) if layer else ())
        return _record(store, op, config, layers, names, docker=docker)


def child_image(
    engine: Containers,
    parent: ImageRecord | None,
    defaults: ImageDefaults,
    *,
    container: Container | None,
    created_by: str,
    comment: str = "",
    names: Sequence[str] = (),
    epoch: int | None = None,
    snapshot: str | None = None,
) -> ImageRecord:
    """A new image on ``parent`` (None: ``scratch``) with ``defaults`` as its config and, when
    ``container`` is given, its changes as one more layer (none when it changed nothing): a
    build step's result. Instead of a container, ``snapshot`` may name an active overlay
    snapshot on ``parent``'s layers whose upperdir holds the changes (a ``COPY`` written
    there directly); it becomes the layer's snapshot, or stays for the caller to remove.
    With ``epoch`` (``SOURCE_DATE_EPOCH``) the image and history entry are created at that
    time and the layer's mtimes are clamped to it, so the same inputs give the same image.

    Raises:
        FailedPrecondition: an entry changed type while it was read.
    """
    store = engine.images
    layers: tuple[Descriptor, ...] = ()
    if parent is None:
        parent_config, docker = _scratch_config(), False
    else:
        parent_config, manifest = store.config(parent), store.manifest(parent)
        layers, docker = manifest.layers, manifest.media_type == mediatype.DOCKER_MANIFEST
    with store.operation() as op:
        layer, key, adoptable = None, snapshot, False
        if snapshot is not None:
            changes = snapshot_changes(engine, snapshot)
            assert changes is not None, "only an overlay snapshot holds just the changes"
            adoptable = epoch is None
            layer = _write_layer(engine, snapshot, op, docker=docker, epoch=epoch,
                                 changes=changes)  # fmt: skip
        elif container is not None:
            # The step's container is done: its upperdir, without the mount point stubs,
            # becomes the new layer's snapshot (no second unpack), unless the layer's mtimes
            # are clamped (SOURCE_DATE_EPOCH) and the tree must be the tar's.
            key = container.config.snapshot
            kept = drop_stubs(engine, container) if epoch is None else None
            adoptable = kept is not None
            changes = kept if kept is not None else container_changes(engine, container)
            layer = _write_layer(engine, key, op, docker=docker, epoch=epoch, changes=changes)
        config = _child_config(
            parent_config, defaults, diff_id=layer[1] if layer else None,
            created_by=created_by, author="", comment=comment, container_id="", created=epoch,
        )  # fmt: skip
        if layer is not None and adoptable and key is not None:
            adopt(store, op, key, list(config.rootfs.diff_ids), layer[2])
        layers = layers + ((layer[0],) if layer else ())
        return _record(store, op, config, layers, list(names), docker=docker)


def _scratch_config() -> ImageConfig:
    """The config ``FROM scratch`` starts from: this machine's platform, no layers."""
    from dockyard.oci.platform import host_platform

    native = host_platform()
    return ImageConfig(
        architecture=native.architecture, os=native.os, variant=native.variant,
        rootfs=RootFS(diff_ids=()),
    )  # fmt: skip


def committed_name(reference: str) -> str:
    """``reference`` as the full name to tag (``repo`` -> ``docker.io/library/repo:latest``).

    Raises:
        InvalidArgument: not a reference (docker's ``invalid reference format``), or a digest.
    """
    ref = parse_reference(reference)
    if ref.digest is not None:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    return str(ref.with_default_tag())


def committed_config(config: ContainerConfig, image: ImageDefaults) -> ImageDefaults:
    """The container's effective config as an image config block: its run options merged
    over the image's defaults the way ``create`` (and ``inspect``) merge them (pure)."""
    o = config.options
    entrypoint, cmd = entrypoint_and_cmd(o, image)
    image_cmd = o.entrypoint is None and not o.cmd
    volumes = set(image.volumes) | {v.destination for v in config.volumes if v.anonymous}
    return ImageDefaults(
        user=o.user or image.user,
        exposed_ports=image.exposed_ports,
        env=tuple(config_env(o, image) or ()),
        entrypoint=entrypoint,
        cmd=cmd,
        volumes=tuple(volumes),
        working_dir=o.workdir or image.working_dir,
        labels=dict(config.labels),
        stop_signal=config.stop_signal,
        args_escaped=image.args_escaped if image_cmd else None,
        healthcheck=config.healthcheck,
        image=config.image,
    )


def _child_config(
    parent: ImageConfig,
    defaults: ImageDefaults,
    *,
    diff_id: Digest | None,
    created_by: str,
    author: str,
    comment: str,
    container_id: str,
    created: float | None = None,
) -> ImageConfig:
    """moby's ``NewChildImage``: the parent's platform, layers (plus ``diff_id``; None: an
    empty layer) and history (plus one entry), created now (or at ``created``)."""
    now = rfc3339.format_nano(time.time() if created is None else created)
    entry = History(
        created=now, created_by=created_by, author=author or None, comment=comment or None,
        empty_layer=diff_id is None,
    )  # fmt: skip
    return ImageConfig(
        architecture=parent.architecture, os=parent.os, variant=parent.variant,
        os_version=parent.os_version, os_features=parent.os_features, created=now,
        author=author or None, config=defaults,
        rootfs=RootFS(diff_ids=parent.rootfs.diff_ids + ((diff_id,) if diff_id else ())),
        history=(*parent.history, entry),
        extra={"container": container_id} if container_id else {},
    )  # fmt: skip


@contextlib.contextmanager
def _paused(engine: Containers, container: Container, pause: bool) -> Iterator[None]:
    """Freeze a running container for the block, then thaw it. Like docker, a pause that
    fails (the container stopped meanwhile) is ignored and a paused container left as it is;
    a failed thaw of a container still there is an error."""
    from dockyard.engine import lifecycle

    frozen = False
    if pause and container.status == run_state.RUNNING:
        with contextlib.suppress(DockyardError):  # it stopped meanwhile, or cannot be frozen
            lifecycle.pause(engine, container)
            frozen = True
    try:
        yield
    finally:
        if frozen:
            with contextlib.suppress(Conflict):  # it exited while frozen (killed)
                lifecycle.pause(engine, container, resume=True)


def _write_layer(
    engine: Containers,
    key: str,
    op: Operation,
    *,
    docker: bool,
    epoch: int | None = None,
    changes: list[Change],
) -> tuple[Descriptor, Digest, int] | None:
    """The ``changes`` of snapshot ``key`` (read from its own directory) as a gzip layer blob
    (leased by ``op``), its diff_id and uncompressed size; None when there are none."""
    from dockyard.engine.fsdiff import ChangeKind

    store = engine.images
    if not changes:
        return None
    pairs = [(os.fsencode(c.path.lstrip("/")), c.kind is ChangeKind.DELETE) for c in changes]
    root = store.snapshots.upper_dir(key)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with store.content.writer() as writer:
            result = write_members(changed_members(fd, pairs, epoch=epoch), cast(BinaryIO, writer))
            digest, size = writer.commit()
    finally:
        os.close(fd)
    store.add_blob_for(op, digest)
    media_type = mediatype.DOCKER_LAYER_GZIP if docker else mediatype.OCI_LAYER_GZIP
    desc = Descriptor(media_type=media_type, digest=digest, size=size)
    return desc, result.diff_id, result.uncompressed_size


def _record(
    store: ImageStore,
    op: Operation,
    config: ImageConfig,
    layers: tuple[Descriptor, ...],
    names: list[str],
    *,
    docker: bool,
) -> ImageRecord:
    """Store the config and manifest (Docker's media types under a Docker parent, else
    OCI's), unpack the new layer and record the image under ``names``."""
    config_type = mediatype.DOCKER_CONFIG if docker else mediatype.OCI_CONFIG
    manifest_type = mediatype.DOCKER_MANIFEST if docker else mediatype.OCI_MANIFEST
    config_desc = store.put_blob(op, config.to_bytes(), config_type)
    manifest = Manifest(media_type=manifest_type, config=config_desc, layers=layers)
    manifest_desc = store.put_blob(op, manifest.to_bytes(), manifest_type)
    registered = register(
        store, op, manifest_digest=manifest_desc.digest, manifest=manifest, config=config,
        names=names,
    )  # fmt: skip
    return registered.image
