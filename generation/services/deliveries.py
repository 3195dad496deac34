"""Where a GPU worker delivers its images: a pool of CPU threads, or inline.

The pool lets the next batch run on the GPU while the last one is screened, watermarked,
encoded, stored and settled (generation.services.worker): a batch's screening is one task,
which hands each image's marking and storage on to the pool as a task of its own. Its threads
are sized to the cores (EASEL_DELIVERY_THREADS, 0 for one per core): the heavy parts (the
screening models, numpy, zlib, the storage write) release the GIL. Each thread holds its own
database connection.

Inline (no overlap) when pipelining is off (EASEL_WORKER_PIPELINE), and when the caller is inside
a transaction: rows it has not committed are invisible to the pool's connections.
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


def deliveries_overlap() -> bool:
    """Whether deliveries run beside the next batch (else inline, one batch at a time)."""
    return bool(settings.EASEL_WORKER_PIPELINE) and not connection.in_atomic_block


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


def delivery_submit(work: Callable[[], T], *, overlap: bool) -> "Future[T]":
    """Runs `work` on the pool (overlap) or here and now; the future says when it is done and
    holds what `work` returned."""
    if overlap:
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
