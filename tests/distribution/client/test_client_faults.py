"""Pulls through a faulty proxy: a connection dropped mid-layer resumes with Range, a corrupted
byte is refused with nothing committed, 500s are retried, a slow registry still reports true
progress. The image store is used directly (the CLI adds nothing to these paths)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.support import registries

from dockyard.distribution.client.endpoints import RegistryConfig
from dockyard.distribution.client.progress import Status
from dockyard.distribution.client.session import RegistrySession
from dockyard.errors import DataCorrupted
from dockyard.image import ImageStore
from dockyard.image.importer import import_rootfs
from dockyard.image.pull import pull
from dockyard.image.push import push

pytestmark = pytest.mark.root
FAST = RegistryConfig(retry_delay=0.01)


@dataclass
class Recorder:
    """A progress receiver that keeps everything (called from several threads)."""

    messages: list[str] = field(default_factory=list)
    statuses: list[tuple[str, Status]] = field(default_factory=list)
    transfers: list[tuple[str, int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def message(self, text: str) -> None:
        self.messages.append(text)

    def status(self, item: str, status: Status, detail: str = "") -> None:
        with self.lock:
            self.statuses.append((item, status))

    def transfer(self, item: str, done: int, total: int) -> None:
        with self.lock:
            self.transfers.append((item, done, total))


@pytest.fixture(scope="module")
def pushed(
    registry: registries.Registry, busybox_tar: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """busybox in the module's registry; returns its repository path and tag."""
    store = ImageStore(tmp_path_factory.mktemp("source"), snapshotter="native")
    name = f"{registry.host}/faults/busybox:1"
    with busybox_tar.open("rb") as stream:
        import_rootfs(store, stream, names=[name])
    with RegistrySession(FAST) as session:
        push(store, session, name)
    return "faults/busybox:1"


@pytest.fixture
def proxy(registry: registries.Registry) -> Iterator[registries.FaultyProxy]:
    faulty = registries.FaultyProxy(registry.host, registries.Faults())
    yield faulty
    faulty.stop()


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "state", snapshotter="native")


def _pull(store: ImageStore, proxy: registries.FaultyProxy, pushed: str, progress: Recorder):
    with RegistrySession(FAST) as session:
        return pull(store, session, f"{proxy.host}/{pushed}", progress=progress)


def test_dropped_connection_resumes_with_range(
    store: ImageStore, proxy: registries.FaultyProxy, pushed: str
) -> None:
    proxy.faults.drop_after = 300_000
    result = _pull(store, proxy, pushed, Recorder())
    assert proxy.faults.dropped  # the layer download was cut once...
    assert any(r.startswith("bytes=") and r != "bytes=0-" for r in proxy.faults.ranges)
    assert store.resolve(f"{proxy.host}/{pushed}").id == result.image.id  # ...and completed
    assert not list((store.root / "content" / "ingest").iterdir())


def test_corrupted_byte_is_refused_and_nothing_is_committed(
    store: ImageStore, proxy: registries.FaultyProxy, pushed: str
) -> None:
    proxy.faults.corrupt_at = 500_000
    recorder = Recorder()
    with pytest.raises(DataCorrupted) as caught:
        _pull(store, proxy, pushed, recorder)
    layer = next(item for item, status in recorder.statuses if status is Status.PULLING)
    assert layer in str(caught.value)  # names the layer blob
    assert store.db.list_images() == []
    assert store.db.list_layers() == []
    assert list(store.snapshots.walk()) == []
    assert [str(d) for d, _ in store.content.walk()] == []  # not even manifest or config
    assert not list((store.root / "content" / "ingest").iterdir())


def test_server_errors_are_retried(
    store: ImageStore, proxy: registries.FaultyProxy, pushed: str
) -> None:
    proxy.faults.fail_first = 3
    _pull(store, proxy, pushed, Recorder())
    assert proxy.faults.failed == 3
    assert len(store.db.list_images()) == 1


def test_slow_registry_reports_true_progress(
    store: ImageStore, proxy: registries.FaultyProxy, pushed: str
) -> None:
    proxy.faults.rate = 2 << 20  # 2 MiB/s: the ~1 MB layer takes about half a second
    recorder = Recorder()
    _pull(store, proxy, pushed, recorder)
    [(item, _, total)] = {(i, 0, t) for i, _, t in recorder.transfers}
    done = [d for _, d, _ in recorder.transfers]
    assert done == sorted(done) and done[-1] == total  # monotonic, ends at the blob's size
    assert len(done) >= 4  # reported along the way, not only at the end
    order = [s for i, s in recorder.statuses if i == item]
    assert order[0] is Status.PULLING and order[-1] is Status.PULLED
    assert order.index(Status.DOWNLOADED) > order.index(Status.DOWNLOADING)
