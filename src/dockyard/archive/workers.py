"""Creating a layer's small regular files on worker threads while the tar stream is read.

Making an inode is the slow part of applying a layer of many small files to a disk filesystem:
40 µs of kernel time per file on this project's ext4 when quiet, up to 600 µs shortly after
many files were deleted (ext4 without a journal skips recently freed inodes one by one), 6 µs
on tmpfs. The kernel does that work without the GIL, so worker threads overlap it with each
other and with the reading, decompressing and hashing of the stream.

Threads pay off only where the kernel is slow to create files: on tmpfs their hand-offs of the
GIL cost more than they save (the Debian layer: 0.34 s on one thread, 0.6 s with workers).
So the applier creates small files itself and reports each one's time to ``measure`` until,
over a window of ``PROBE`` of them, they took more than ``SLOW`` each on average; from then
on the workers are ``engaged`` for the rest of the layer (ext4 right after a large delete:
3.0 s instead of 5.0 s). Windows, not only the first files: how slow a create is depends on
the block group the directory is in.

A job is one file with its data in memory (the applier sends only files up to ``SMALL`` bytes,
and ``submit`` blocks while ``BUDGET`` bytes are queued). The file's parent directory picks the
worker: one directory's files are created in member order by one thread (creates in one
directory serialise on its lock in the kernel anyway), different directories at once.

Lifecycle: ``submit``… -> ``drain`` (waits until every job is done; returns, in submission
order, the jobs that failed or found their name taken, for the applier to report or replace)
-> ``close`` (stops the threads; also after a failure). Each job owns a duplicate of its
parent's descriptor, so the applier's resolver may close its own at any time; ``drain`` hands
the descriptors of the jobs it returns to the caller, who closes them.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass

from dockyard.archive import entries
from dockyard.archive.paths import Components
from dockyard.archive.tarformat import Member

SMALL = 1 << 20  # bytes: larger files are written by the applier itself, streamed
BUDGET = 16 << 20  # bytes of file data queued at most
THREADS = max(2, min(4, os.cpu_count() or 1))
PROBE = 64  # small files created on the caller's thread per window of ``measure``
SLOW = 150e-6  # seconds per file (mean over a window) from which the workers are engaged


@dataclass(slots=True, kw_only=True)
class Job:
    """One regular file to create: ``parts[-1]`` in the directory ``parent`` (a descriptor the
    job owns) with ``data``. ``failure``: what creating it raised, other than
    ``FileExistsError`` (the name was taken: the applier replaces it)."""

    parent: int
    parts: Components
    member: Member
    data: bytes
    failure: BaseException | None = None


class FileWorkers:
    """Threads that create files, started by the first ``submit``; ``close`` stops them."""

    def __init__(self, privileged: bool, threads: int = THREADS) -> None:
        self._privileged = privileged
        self._threads = threads
        self._queues: list[queue.SimpleQueue[tuple[int, Job] | None]] = []
        self._workers: list[threading.Thread] = []
        self._done = threading.Condition()
        self._queued_bytes = 0
        self._outstanding = 0
        self._finished: list[tuple[int, Job]] = []  # (submission number, job): taken or failed
        self._submitted = 0
        self._probed = 0
        self._probe_time = 0.0
        self.engaged = False  # whether ``submit`` is worth it for this layer

    def measure(self, seconds: float) -> None:
        """Count one small file the caller created itself, in ``seconds``; at the end of each
        window of ``PROBE`` files, engage the workers if the window was slow."""
        self._probed += 1
        self._probe_time += seconds
        if self._probed == PROBE:
            self.engaged = self._probe_time / PROBE > SLOW
            self._probed, self._probe_time = 0, 0.0

    def submit(self, job: Job) -> None:
        """Queue ``job``: its directory's worker creates it after that directory's earlier
        jobs. Blocks while the queued data would pass ``BUDGET``."""
        if not self._workers:
            self._start()
        size = len(job.data)
        with self._done:
            while self._queued_bytes and self._queued_bytes + size > BUDGET:
                self._done.wait()
            self._queued_bytes += size
            self._outstanding += 1
        self._submitted += 1
        worker = hash(job.parts[:-1]) % self._threads
        self._queues[worker].put((self._submitted, job))

    def drain(self) -> list[Job]:
        """Wait for every queued job; return those that failed or found their name taken,
        in submission order (their descriptors are now the caller's to close)."""
        with self._done:
            while self._outstanding:
                self._done.wait()
            finished, self._finished = self._finished, []
        finished.sort(key=lambda pair: pair[0])
        return [job for _, job in finished]

    def close(self) -> None:
        """Stop the threads after the jobs queued so far; close what no one will use."""
        for q in self._queues:
            q.put(None)
        for worker in self._workers:
            worker.join()
        self._queues.clear()
        self._workers.clear()
        for _, job in self._finished:
            os.close(job.parent)
        self._finished.clear()

    def _start(self) -> None:
        for n in range(self._threads):
            q: queue.SimpleQueue[tuple[int, Job] | None] = queue.SimpleQueue()
            worker = threading.Thread(
                target=self._work, args=(q,), name=f"layer-files-{n}", daemon=True
            )
            self._queues.append(q)
            self._workers.append(worker)
            worker.start()

    def _work(self, jobs: queue.SimpleQueue[tuple[int, Job] | None]) -> None:
        while (item := jobs.get()) is not None:
            number, job = item
            kept = False
            try:
                data = (memoryview(job.data),)
                entries.create_file(job.parent, job.parts[-1], job.member, data, self._privileged)
            except FileExistsError:  # (before anything was written) the applier replaces it
                kept = True
            except BaseException as err:  # any: drain must not wait for ever; the applier raises it
                job.failure, kept = err, True
            if not kept:
                os.close(job.parent)
            with self._done:
                if kept:
                    self._finished.append((number, job))
                self._queued_bytes -= len(job.data)
                self._outstanding -= 1
                self._done.notify_all()
