"""``image inspect`` JSON (Docker's field names) and ``history`` rows."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard._util import rfc3339
from dockyard._util.units import human_size, since
from dockyard.image.store import ImageStore
from dockyard.metadata import ImageRecord
from dockyard.oci.image import chain_ids
from dockyard.oci.reference import parse_reference


def inspect_image(store: ImageStore, image: ImageRecord) -> dict[str, object]:
    """The object ``docker image inspect`` prints for ``image``."""
    config = store.config(image)
    comment = next((h.comment for h in reversed(config.history) if h.comment), "")
    chains = chain_ids(config.rootfs.diff_ids)
    data: dict[str, object] = {
        "Id": image.id,
        "RepoTags": [parse_reference(t).familiar() for t in store.tags(image)],
        "RepoDigests": [parse_reference(d).familiar() for d in store.repo_digests(image)],
        "Parent": "",
        "Comment": comment,
        "Created": config.created or "0001-01-01T00:00:00Z",
        "DockerVersion": "",
        "Author": config.author or "",
        "Config": config.config.to_docker_inspect(),
        "Architecture": config.architecture,
        "Os": config.os,
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": {
            "Name": store.snapshots.name,
            "Data": {"TopLayer": str(chains[-1])} if chains else None,
        },
        "RootFS": {"Type": "layers", "Layers": [str(d) for d in config.rootfs.diff_ids]},
        "Metadata": {
            "LastTagTime": rfc3339.format_nano(image.last_tag_time)
            if image.last_tag_time
            else "0001-01-01T00:00:00Z"
        },
    }
    if config.variant:
        data["Variant"] = config.variant
    return data


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryRow:
    """One line of ``history``; attribute names are the ``--format`` fields."""

    ID: str
    CreatedSince: str
    CreatedAt: str
    CreatedBy: str
    Size: str
    Comment: str


def history(store: ImageStore, image: ImageRecord, *, no_trunc: bool = False) -> list[HistoryRow]:
    """Newest entry first; the top one carries the image ID, the others ``<missing>``."""
    config = store.config(image)
    sizes = [
        layer.size if layer else 0
        for layer in (store.db.get_layer(str(c)) for c in chain_ids(config.rootfs.diff_ids))
    ]
    rows: list[HistoryRow] = []
    layer_index = 0
    for entry in config.history:
        size = 0
        if not entry.empty_layer and layer_index < len(sizes):
            size, layer_index = sizes[layer_index], layer_index + 1
        created = rfc3339.parse(entry.created) if entry.created else 0.0
        created_by = entry.created_by or ""
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        rows.append(
            HistoryRow(
                ID="<missing>",
                CreatedSince=since(created) if created else "N/A",
                CreatedAt=rfc3339.format_nano(created) if created else "",
                CreatedBy=created_by,
                Size=human_size(size),
                Comment=entry.comment or "",
            )
        )
    rows.reverse()
    if rows:
        top = image.id if no_trunc else image.id[7:19]
        rows[0] = HistoryRow(**{**_fields(rows[0]), "ID": top})
    return rows


def _fields(row: HistoryRow) -> dict[str, str]:
    return {name: getattr(row, name) for name in HistoryRow.__slots__}
