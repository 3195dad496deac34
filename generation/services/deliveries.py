"""Where a GPU worker delivers its images: a pool of CPU threads, or inline.

A batch's screening is one task, which hands each image's marking and storage on to the pool
as a task of its own (generation.services.worker), so the images of a batch are marked, encoded
and stored side by side. The threads are sized to the cores (EASEL_DELIVERY_THREADS, 0 for one
per core): the heavy parts (the screening models, numpy, zlib, the storage write) release the
GIL. Each thread holds its own database connection.

Pipelining (`pipelining`) is whether the next batch runs while the pool delivers the last one.
Without it the worker waits for the pool before it takes another batch.

Inline (no pool at all) when the caller is inside a transaction: rows it has not committed are
invisible to the pool's connections.
"""

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from django.conf import settings
from django.db import close_old_connections, connection, connections

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_lock = threading.Lock()
_thread_connections: list = []  # each pool thread's own connection, closed at shutdown


def delivery_threads() -> int:
    return settings.EASEL_DELIVERY_THREADS or os.cpu_count() or 1


def deliveries_pooled() -> bool:
    """Whether deliveries go to the pool (else inline, here and now)."""
    return not connection.in_atomic_block


def pipelining(*, device: str) -> bool:
    """Whether the next batch runs while the last one is delivered, for a model on `device`.

    EASEL_WORKER_PIPELINE, or by default (None): on a GPU, whose pipeline leaves the CPU to the
    pool, yes; on a CPU, no. There torch's threads already fill every core, so a delivery beside
    the pipeline slows it about as much as it saves, and the thread contention costs more
    (bench/worker_throughput.py: 0.87-0.96 of serial delivery on the 2-core box)."""
    if settings.EASEL_WORKER_PIPELINE is None:
        return not device.startswith("cpu")
    return settings.EASEL_WORKER_PIPELINE


def _executor() -> ThreadPoolExecutor:
    """This process's pool (a forked child makes its own: threads do not survive a fork)."""
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(
                max_workers=delivery_threads(),
                thread_name_prefix="easel-delivery",
                initializer=_thread_started,
            )
            _pool_pid = os.getpid()
        return _pool


def _thread_started() -> None:
    _thread_connections.append(connections["default"])


def deliveries_shutdown() -> None:
    """Waits for the deliveries in flight, stops the pool and closes its threads' connections
    (a worker child that stops; a test whose database is about to be dropped)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is None:
        return
    pool.shutdown(wait=True)
    while _thread_connections:
        wrapper = _thread_connections.pop()
        wrapper.inc_thread_sharing()  # its thread has ended: closing it from here is safe
        wrapper.close()


def _in_pool_thread(work: Callable[[], T]) -> Callable[[], T]:
    def run() -> T:
        close_old_connections()  # a connection the database dropped since the last delivery
        return work()

    return run


def delivery_submit(work: Callable[[], T], *, pooled: bool) -> "Future[T]":
    """Runs `work` on the pool, or here and now; the future says when it is done and holds what
    `work` returned."""
    if pooled:
        return _executor().submit(_in_pool_thread(work))
    result = work()  # a time limit raised here reaches the caller at once
    done: Future[T] = Future()
    done.set_result(result)
    return done


def deliveries_wait(futures: Iterable[Future]) -> None:
    """Waits for every delivery, and for those each one handed on: a delivery that returns a
    list of futures (a batch's screening hands each image on to the pool) is done when they
    are. An exception a delivery raised is raised here."""
    waiting = list(futures)
    while waiting:
        handed_on = waiting.pop(0).result()
        if isinstance(handed_on, list):
            waiting += handed_on


def deliveries_stop(futures: Iterable[Future]) -> None:
    """Out of time: drops the deliveries not started yet and waits for those running, and for
    what they hand on that has started by then. A pool thread cannot be interrupted, and one
    may be between a job's capture and its status: failing the job under it would leave the job
    failed and charged. What raised is logged where it ran; here only the waiting matters."""
    waiting = list(futures)
    while waiting:
        # Every one not started is dropped before any is waited for: a thread that ends one
        # delivery would otherwise start the next while we wait.
        running = [future for future in waiting if not future.cancel()]
        waiting = []
        for future in running:
            try:
                handed_on = future.result()
            except BaseException:  # noqa: BLE001 - its own failure, already handled or logged
                continue
            if isinstance(handed_on, list):
                waiting += handed_on
