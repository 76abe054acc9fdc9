"""``images`` / ``image ls``: rows with Docker's fields and its filters."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard._util import rfc3339
from dockyard._util.units import human_size, since
from dockyard.errors import InvalidArgument
from dockyard.image.store import ImageStore
from dockyard.metadata import ImageRecord
from dockyard.oci.reference import Reference, parse_reference

FILTERS = ("dangling", "reference", "label", "before", "since")


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRow:
    """One line of ``images``; attribute names are the ``--format`` fields."""

    ID: str
    Repository: str
    Tag: str
    Digest: str
    CreatedSince: str
    CreatedAt: str
    Size: str
    VirtualSize: str
    SharedSize: str
    UniqueSize: str
    Containers: str


def parse_filters(items: Sequence[str]) -> dict[str, list[str]]:
    """``key=value`` items grouped by key, keys checked against Docker's list.

    Raises:
        InvalidArgument: ``invalid filter 'foo'`` (Docker's words).
    """
    filters: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {item}")
        if key not in FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'", hint="use " + ", ".join(FILTERS))
        filters.setdefault(key, []).append(value)
    return filters


def list_images(
    store: ImageStore,
    *,
    repository: str | None = None,
    filters: dict[str, list[str]] | None = None,
    no_trunc: bool = False,
    all_images: bool = False,
) -> list[ImageRow]:
    """Rows newest first: one per tag, or one ``<none>`` row for an untagged image.

    Untagged images that build steps made (intermediate images) are left out unless
    ``all_images`` (``images -a``), as docker's classic builder does.
    """
    filters = filters or {}
    checks = _Checks(store, filters)
    intermediate = set() if all_images else store.db.build_cache_images()
    rows: list[ImageRow] = []
    for image in sorted(store.db.list_images(), key=lambda i: (-i.created, i.id)):
        names = store.tags(image)
        if not names and image.id in intermediate:
            continue
        if not checks.image_ok(image, tagged=bool(names)):
            continue
        tags = [parse_reference(t) for t in names]
        digests = store.repo_digests(image)
        if not tags:
            if not checks.untagged_ok(repository):
                continue
            rows.append(_row(image, None, digests, no_trunc))
        rows.extend(
            _row(image, ref, digests, no_trunc)
            for ref in tags
            if checks.reference_ok(ref, repository)
        )
    return rows


class _Checks:
    def __init__(self, store: ImageStore, filters: dict[str, list[str]]) -> None:
        self.filters = filters
        self.dangling: bool | None = None
        for value in filters.get("dangling", []):
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidArgument(
                    f"invalid filter 'dangling={value}'", hint="use true or false"
                )
            self.dangling = value.lower() in ("true", "1")
        self.before = min((store.resolve(n).created for n in filters.get("before", [])),
                          default=None)  # fmt: skip
        self.since = max((store.resolve(n).created for n in filters.get("since", [])),
                         default=None)  # fmt: skip

    def image_ok(self, image: ImageRecord, *, tagged: bool) -> bool:
        if self.before is not None and image.created >= self.before:
            return False
        if self.since is not None and image.created <= self.since:
            return False
        if self.dangling is not None and tagged == self.dangling:
            return False
        labels = dict(image.labels)
        for want in self.filters.get("label", []):
            key, sep, value = want.partition("=")
            if key not in labels or (sep and labels[key] != value):
                return False
        return True

    def untagged_ok(self, repository: str | None) -> bool:
        return repository is None and "reference" not in self.filters

    def reference_ok(self, ref: Reference, repository: str | None) -> bool:
        if repository is not None and not _matches_repository(ref, repository):
            return False
        patterns = self.filters.get("reference", [])
        return not patterns or any(_familiar_match(p, ref) for p in patterns)


def _matches_repository(ref: Reference, wanted: str) -> bool:
    want = parse_reference(wanted)
    if want.name != ref.name:
        return False
    return want.tag is None or want.tag == ref.tag


def _familiar_match(pattern: str, ref: Reference) -> bool:
    """Docker's ``reference.FamiliarMatch``: the pattern against ``name:tag`` and ``name``."""
    return fnmatch.fnmatchcase(ref.familiar(), pattern) or fnmatch.fnmatchcase(
        ref.familiar_name, pattern
    )


def _row(image: ImageRecord, ref: Reference | None, digests: list[str], no_trunc: bool) -> ImageRow:
    repo_digest = next(
        (d.split("@", 1)[1] for d in digests if ref is None or d.startswith(ref.name + "@")),
        "<none>",
    )
    size = human_size(image.size)
    # Untagged but pulled by digest: docker names the repository (``busybox <none> sha256:…``).
    repository = ref.familiar_name if ref else "<none>"
    if ref is None and digests:
        repository = parse_reference(digests[0]).familiar_name
    return ImageRow(
        ID=image.id if no_trunc else image.id[7:19],
        Repository=repository,
        Tag=(ref.tag or "<none>") if ref else "<none>",
        Digest=repo_digest,
        CreatedSince=since(image.created) if image.created else "N/A",
        CreatedAt=rfc3339.format_docker(image.created),
        Size=size,
        VirtualSize=size,
        SharedSize="N/A",
        UniqueSize="N/A",
        Containers="N/A",
    )
