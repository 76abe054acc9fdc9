"""Name resolution (references, IDs, prefixes) and ``import --change``, from data."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.image.changes import apply_changes
from dockyard.image.resolve import resolve_image
from dockyard.metadata import Database, ImageRecord
from dockyard.oci.image import ContainerConfig

A = "sha256:ab12" + "0" * 60
B = "sha256:ab13" + "1" * 60


@pytest.fixture
def db(tmp_path: Path) -> Database:
    db = Database(tmp_path / "metadata.db")
    for image_id in (A, B):
        record = ImageRecord(id=image_id, manifest_digest=image_id, manifest_media_type="m",
                             created=0.0, added=0.0, size=0)  # fmt: skip
        db.put_image(record, [])
    db.set_ref("docker.io/library/busybox:latest", A)
    db.set_ref("localhost:5000/a/b:1.0", B)
    return db


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("busybox", A),
        ("busybox:latest", A),
        ("docker.io/library/busybox", A),
        ("index.docker.io/library/busybox:latest", A),
        ("localhost:5000/a/b:1.0", B),
        (A, A),
        (A[7:], A),
        ("ab12", A),
        ("sha256:ab13", B),
    ],
)
def test_resolve(db: Database, name: str, expected: str) -> None:
    assert resolve_image(db, name).id == expected


def test_resolve_errors(db: Database) -> None:
    with pytest.raises(Conflict, match='prefix "ab1" is ambiguous'):
        resolve_image(db, "ab1")
    with pytest.raises(NotFound, match=r"^No such image: nosuch:latest$"):
        resolve_image(db, "nosuch")
    with pytest.raises(NotFound, match=r"^No such image: ffff$"):
        resolve_image(db, "ffff")
    with pytest.raises(NotFound):
        resolve_image(db, "sha256:" + "f" * 64)


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        (['CMD ["sh", "-c", "echo"]'], "cmd", ("sh", "-c", "echo")),
        (["CMD echo hi"], "cmd", ("/bin/sh", "-c", "echo hi")),
        (['ENTRYPOINT ["/init"]'], "entrypoint", ("/init",)),
        (["ENV A=1 B=2", "ENV A=3"], "env", ("A=3", "B=2")),
        (["ENV LEGACY some value"], "env", ("LEGACY=some value",)),
        (['LABEL a=b "c d"=e'], "labels", {"a": "b", "c d": "e"}),
        (["EXPOSE 80 53/udp"], "exposed_ports", ("53/udp", "80/tcp")),
        (["VOLUME /data /logs"], "volumes", ("/data", "/logs")),
        (['VOLUME ["/x"]'], "volumes", ("/x",)),
        (["USER nobody"], "user", "nobody"),
        (["WORKDIR /app"], "working_dir", "/app"),
        (["STOPSIGNAL SIGINT"], "stop_signal", "SIGINT"),
        (["onbuild RUN true"], "on_build", ("RUN true",)),
    ],
)
def test_changes(changes: list[str], field: str, value: object) -> None:
    assert getattr(apply_changes(ContainerConfig(), changes), field) == value


@pytest.mark.parametrize(
    "change", ["RUN true", "CMD", "CMD [1, 2]", "CMD [not json", "LABEL novalue", "FROM x"]
)
def test_bad_changes(change: str) -> None:
    with pytest.raises(InvalidArgument, match="--change"):
        apply_changes(ContainerConfig(), [change])
