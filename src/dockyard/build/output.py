"""What a build hands out besides its image: ``--output`` exports of the result's filesystem,
and ``SOURCE_DATE_EPOCH`` (the time a reproducible build stamps on its images).

``--output`` (BuildKit's exporters, the filesystem ones):

- ``type=local,dest=DIR``: the target stage's filesystem extracted into ``DIR`` (made if
  missing; files already there are overwritten);
- ``type=tar,dest=FILE``: the same as one uncompressed tar (``docker export``'s format).

The image is built and tagged as usual; the export is read from a container of it created for
the purpose (removed after), in a forked child whose mount namespace dies with it, and
extracted on the host with the layer extractor's safe rules (nothing outside ``DIR``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument, Unsupported

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.store import Container
    from dockyard.metadata import ImageRecord


class OutputType(StrEnum):
    """The exporters ``--output`` knows."""

    LOCAL = "local"
    TAR = "tar"


@dataclass(frozen=True, slots=True, kw_only=True)
class Output:
    """One ``--output``: an exporter and where it writes."""

    type: OutputType
    dest: Path


def parse_output(spec: str) -> Output:
    """``type=local,dest=DIR`` / ``type=tar,dest=FILE``; a bare ``DIR`` means local.

    Raises:
        InvalidArgument: no ``dest``, an unknown key.
        Unsupported: another exporter (image, registry, oci, docker), ``dest=-``.
    """
    if "=" not in spec:
        return Output(type=OutputType.LOCAL, dest=Path(spec))
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        if not sep or key not in ("type", "dest"):
            hint = "write type=local,dest=DIR or type=tar,dest=FILE"
            raise InvalidArgument(f"--output {spec}: unexpected {item!r}", hint=hint)
        fields[key] = value
    kind = fields.get("type", "local")
    if kind not in OutputType.__members__.values():
        hint = "use type=local or type=tar (the image is tagged with -t)"
        raise Unsupported(f"--output {spec}: the {kind!r} exporter is not supported", hint=hint)
    dest = fields.get("dest", "")
    if not dest or dest == "-":
        raise InvalidArgument(f"--output {spec}: needs dest=PATH (a file or directory; - is "
                              "not supported)")  # fmt: skip
    return Output(type=OutputType(kind), dest=Path(dest))


def export(engine: Containers, image: ImageRecord, output: Output) -> None:
    """Write ``image``'s filesystem where ``output`` says.

    Raises:
        InvalidArgument: a hostile entry (never written outside the destination).
        OSError: the destination cannot be written.
    """
    from dockyard.build.steps import container_of, in_child

    dest = output.dest.absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tar_path = dest if output.type is OutputType.TAR else dest.with_name(f".{dest.name}.tar")
    config = engine.images.config(image).config
    try:
        with container_of(engine, image, config, cmd=()) as container:
            in_child(lambda: _write_tar(engine, container, tar_path))
        if output.type is OutputType.LOCAL:
            _extract(tar_path, dest)
    finally:
        if output.type is OutputType.LOCAL:
            tar_path.unlink(missing_ok=True)


def _write_tar(engine: Containers, container: Container, path: Path) -> None:
    from dockyard.engine.export import export_rootfs
    from dockyard.engine.fsaccess import container_root

    with container_root(engine, container, with_volumes=False) as root:
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as f:
            export_rootfs(root, f)
        os.replace(tmp, path)


def _extract(tar_path: Path, dest: Path) -> None:
    from dockyard.archive import WhiteoutMode, apply_layer

    dest.mkdir(parents=True, exist_ok=True)
    with open(tar_path, "rb") as f:
        apply_layer(f, dest, mode=WhiteoutMode.NATIVE, label=f"--output {dest}")


def source_date_epoch(build_args: Mapping[str, str]) -> int | None:
    """``SOURCE_DATE_EPOCH`` from ``--build-arg``, else from the environment; None if unset.

    Raises:
        InvalidArgument: not a whole number of seconds.
    """
    value = build_args.get("SOURCE_DATE_EPOCH", os.environ.get("SOURCE_DATE_EPOCH", ""))
    if not value:
        return None
    try:
        epoch = int(value)
    except ValueError:
        hint = "e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)"
        raise InvalidArgument(
            f"SOURCE_DATE_EPOCH={value!r}: not a number of seconds", hint=hint
        ) from None
    if epoch < 0:
        raise InvalidArgument(f"SOURCE_DATE_EPOCH={value!r}: negative")
    return epoch
