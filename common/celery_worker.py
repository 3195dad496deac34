"""What every Celery worker process runs beside its tasks: probes, metrics, drain, model warm-up.

- Drain. SIGTERM to the worker's main process (what Kubernetes sends to PID 1) is Celery's warm
  shutdown: it stops taking messages and waits for the running tasks. `worker_draining()` tells
  a child that the shutdown began, so a GPU child finishes the batch it holds and claims no
  queued job to go with it (generation/services/worker.py). The flag is an Event made before
  the pool forks, so every child shares it.
- Connections. A task's database connection outlives the task, as a web request's does, for
  CONN_MAX_AGE and while healthy: a new PostgreSQL connection would cost each job 10-15 ms.
- Probes. With EASEL_WORKER_PROBE_PORT set, the main process serves `/healthz` (its event loop
  ticked recently: Kubernetes' liveness probe), `/readyz` (database, broker, and on GPU workers
  every child's model loaded; not ready while draining) and `/metrics` (every child's samples,
  plus GPU memory and utilisation through NVML). "Every child" is the pool's own count
  (`pool_processes`), known once the pool exists: `--concurrency auto` is resolved only after
  `worker_init`, and `--pool solo` is one process whatever `--concurrency` says.
- Warm-up. A GPU worker's children load EASEL_WORKER_MODELS as they start, in a thread (Celery
  kills `worker_process_init` handlers that take over 4 s), and the worker consumes none of its
  GPU queues until every child's attempt has ended (`GpuQueuesAfterWarmUp`): no job waits
  inside `pipeline_get` for a load, and jobs sent meanwhile stay in the broker for any warm
  worker. Other queues (`default`, on `make run`'s one worker) are consumed from the start.
  - A model that cannot be loaded ends that child's attempt too: the worker then consumes (so a
    bad model never leaves it idle forever), logs an ERROR naming how many children failed,
    and its /readyz stays 503 on that model; its jobs fail fast with the loader's explanation
    (generation/inference/pipelines.py), like a server that serves the models it could load.
  - SIGTERM during warm-up: the worker never starts consuming its GPU queues, it drains.
  - The hold is at start only. A child replaced later (a crash, a hard time limit) loads in
    its own thread while the others serve, and a job handed to it waits for that load, as
    /readyz says meanwhile: closing the queues again would idle every other GPU, and could not
    stop the message the main process already prefetched for the free slot.
  - The prefork pool (Easel's GPU workers, and `make run`'s worker) warms each child at start,
    the solo pool the worker's own process; under the threads pool models load with the first
    job and nothing is held. Nor is an autoscaled pool held (its children come and go); GPU
    workers run one child per GPU.
"""

import json
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from celery import bootsteps
from celery.signals import (
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutting_down,
)
from django.conf import settings
from django.db import close_old_connections
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from common import health, metrics
from common.cpu_threads import library_threads_limit

logger = logging.getLogger(__name__)

_TICK_SECONDS = 5.0
# How often the main process looks whether its children have warmed (a read of shared memory).
_WARM_POLL_SECONDS = 0.5
# Each child's warm-up, in a slot of its own (its pool index) of `_State.warm_ends`.
_WARMING, _WARMED, _WARM_FAILED = 0, 1, 2


class _State:
    """The main process's view of itself, shared with the probe server's thread."""

    drain: Any = None  # a multiprocessing Event, made in the main process before the fork
    warm_ends: Any = None  # a shared byte array, one slot per child, made before the fork too
    last_tick: float = 0.0
    processes: int = 1  # the pool's, set at worker_ready (`pool_processes`)
    serves_gpu: bool = False
    server: ThreadingHTTPServer | None = None


_state = _State()


def worker_draining() -> bool:
    """True once the worker's warm shutdown began (in the main process and every child)."""
    return _state.drain is not None and _state.drain.is_set()


class LivenessTick(bootsteps.StartStopStep):
    """Records that the worker's event loop runs: its timer fires only while the loop turns."""

    requires = {"celery.worker.components:Timer"}

    def start(self, worker: Any) -> None:
        _tick()
        self._timer = worker.timer.call_repeatedly(_TICK_SECONDS, _tick, priority=10)

    def stop(self, worker: Any) -> None:
        timer = getattr(self, "_timer", None)
        if timer is not None:
            timer.cancel()


def _tick() -> None:
    _state.last_tick = time.monotonic()


class GpuQueuesAfterWarmUp(bootsteps.StartStopStep):
    """Consumes a GPU worker's GPU queues only once every child's warm-up has ended.

    It starts after the Tasks step made the task consumer and before the event loop's first
    `consume()`, so cancelling a queue here means it was never consumed; `cancel_task_queue`
    also deselects it, so a reconnection's new consumer leaves it out as well until it is added.
    The poll runs on the worker's timer; the queues are added from the event loop (`call_soon`),
    since without one (the filesystem broker) that timer is a thread of its own.
    """

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, c: Any, **kwargs: Any) -> None:
        self._queues: list[str] | None = None  # decided at the first start
        self._consuming = False
        self._timer: Any = None
        super().__init__(c, **kwargs)

    def start(self, c: Any) -> None:
        if self._queues is None:
            self._queues = _queues_held_until_warm(c)
        if not self._queues or self._consuming:
            return
        for name in self._queues:
            c.cancel_task_queue(name)
        logger.info(
            "not consuming %s until the worker processes have warmed %s",
            ", ".join(self._queues),
            ", ".join(settings.EASEL_WORKER_MODELS),
        )
        self._timer = c.timer.call_repeatedly(_WARM_POLL_SECONDS, self._poll, (c,), priority=10)

    def stop(self, c: Any) -> None:
        # A warm shutdown stops the consumer at once, often before the next poll.
        if worker_draining():
            self._drained()
        self._timer_cancel()

    def _drained(self) -> None:
        if self._timer is not None:  # still waiting: say so once
            queues = ", ".join(self._queues or [])
            logger.warning("draining during warm-up: %s never consumed", queues)
        self._timer_cancel()

    def _timer_cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _poll(self, c: Any) -> None:
        if worker_draining():
            self._drained()
        elif warm_up_ended(c.pool):
            self._timer_cancel()
            c.call_soon(self._consume, c)

    def _consume(self, c: Any) -> None:
        if self._consuming or worker_draining():  # the drain may have begun since the poll
            return
        self._consuming = True
        _warm_up_report(c.pool, queues=self._queues or [])
        for name in self._queues or []:
            c.add_task_queue(name)


def _queues_held_until_warm(c: Any) -> list[str]:
    """The GPU queues this worker consumes, where its children warm models at start."""
    from celery.concurrency.prefork import TaskPool as PreforkPool
    from celery.concurrency.solo import TaskPool as SoloPool

    from generation.inference.registry import gpu_queues  # cycle: config.celery imports us

    if _state.warm_ends is None:  # not a GPU worker, or no EASEL_WORKER_MODELS
        return []
    if not isinstance(c.pool, PreforkPool | SoloPool):  # the pools that send worker_process_init
        pool = type(c.pool).__module__.rsplit(".", 1)[-1]
        logger.warning("the %s pool warms no model at start: jobs load them as they come", pool)
        return []
    if getattr(c.controller, "autoscale", None):
        logger.warning("an autoscaled pool's children come and go: consuming before warm-up")
        return []
    return sorted(set(c.app.amqp.queues.consume_from) & gpu_queues())


def pool_processes(pool: Any) -> int:
    """The processes the pool runs tasks in: the prefork pool's children, the solo pool's one
    (the worker's own). The pool's `limit`, not the worker's `concurrency` option: that one may
    still be "auto" at `worker_init`, and the solo pool ignores it."""
    return int(pool.limit)


def _warm_slots(worker: Any) -> int:
    """How many warm-up slots to make at `worker_init`, before the pool exists (and forks): at
    least as many as it will have processes. `--concurrency auto` is resolved after this signal,
    to at most the CPU count; the slots past the pool's processes are never read (`_warm_ends`)."""
    concurrency = getattr(worker, "concurrency", None)
    if isinstance(concurrency, int) and concurrency > 0:
        return concurrency
    return os.cpu_count() or 2  # Celery's own count where the CPUs cannot be counted


def _warm_ends(pool: Any) -> list[int]:
    """Each pool process's warm-up slot (the solo pool's one is the worker's own process)."""
    if _state.warm_ends is None:
        return []
    return list(_state.warm_ends[: pool_processes(pool)])


def warm_up_ended(pool: Any) -> bool:
    """True once every pool process's warm-up has ended, loaded or failed (main process)."""
    ends = _warm_ends(pool)
    return bool(ends) and all(end != _WARMING for end in ends)


def _warm_up_report(pool: Any, *, queues: list[str]) -> None:
    ends = _warm_ends(pool)
    failed = sum(end == _WARM_FAILED for end in ends)
    if failed:
        logger.error(
            "warm-up ended in all %d worker processes, but %d could not load every model of "
            "EASEL_WORKER_MODELS (their log says why); consuming %s anyway: those models' jobs "
            "fail with that explanation, and /readyz stays 503 until they load",
            len(ends),
            failed,
            ", ".join(queues),
        )
    else:
        logger.info(
            "warm-up ended in all %d worker processes; consuming %s",
            len(ends),
            ", ".join(queues),
        )


def _consumes_gpu_queue(worker: Any) -> bool:
    from generation.inference.registry import gpu_queues  # cycle: config.celery imports us

    queues = getattr(getattr(worker.app.amqp, "queues", None), "consume_from", None) or {}
    return bool(set(queues) & gpu_queues())


@task_prerun.connect
@task_postrun.connect
def _task_connections_check(sender: Any = None, **_: object) -> None:
    """At each task's start and end, the database connection is dropped only when Django would
    drop a request's: unusable, left in error, or older than CONN_MAX_AGE (with
    CONN_HEALTH_CHECKS, checked before it is used again). Celery's fixup would close it each
    time (config/settings/base.py, CELERY_DB_REUSE_MAX). An eager task runs inside its caller's
    work, perhaps in a transaction: its connection is the caller's to manage."""
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


@worker_init.connect
def _worker_started(sender: Any = None, **_: object) -> None:
    _state.drain = multiprocessing.get_context("fork").Event()
    _state.serves_gpu = sender is not None and _consumes_gpu_queue(sender)
    if _state.serves_gpu and settings.EASEL_WORKER_MODELS:
        _state.warm_ends = multiprocessing.get_context("fork").RawArray("b", _warm_slots(sender))
    metrics.multiprocess_folder_reset()


@worker_ready.connect
def _worker_ready(sender: Any = None, **_: object) -> None:
    """The consumer is ready (the sender), its pool started: the probes count that pool's
    processes from now on, and only now answer."""
    pool = getattr(sender, "pool", None)
    if pool is not None:
        _state.processes = pool_processes(pool)
    _tick()
    port = settings.EASEL_WORKER_PROBE_PORT
    if port and _state.server is None:
        _state.server = probe_server_start(host=settings.EASEL_WORKER_PROBE_HOST, port=port)


@worker_shutting_down.connect
def _worker_shutting_down(sig: str = "", how: str = "", **_: object) -> None:
    if _state.drain is not None and not _state.drain.is_set():
        _state.drain.set()
        logger.warning(
            "worker draining (%s, %s shutdown): finishing the jobs it holds, taking no new one",
            sig,
            how,
        )


@worker_process_init.connect
def _child_started(**_: object) -> None:
    library_threads_limit()  # the delivery pool's threads are the parallelism
    if _state.warm_ends is not None:
        slot = _warm_slot()
        if slot is not None:
            _state.warm_ends[slot] = _WARMING  # a replacement warms again in its slot
        threading.Thread(target=_child_warm, args=(slot,), name="models-warm", daemon=True).start()


def _warm_slot() -> int | None:
    """This child's slot: its prefork pool index, which a replacement child takes over; 0 under
    the solo pool, whose one process is the worker's own."""
    from billiard.process import current_process

    index = getattr(current_process(), "index", 0)
    return index if 0 <= index < len(_state.warm_ends) else None


def _child_warm(slot: int | None) -> None:
    loaded = models_warm()
    if slot is not None:
        _state.warm_ends[slot] = _WARMED if loaded else _WARM_FAILED


@worker_process_shutdown.connect
def _child_stopping(pid: int | None = None, **_: object) -> None:
    if pid:
        metrics.process_exited(pid)


def models_warm() -> bool:
    """Loads (and warms) the models this worker serves, once, in this process; True when every
    one loaded."""
    # cycle: config.celery imports this module, and the pipelines import config.celery's app
    from generation.inference.pipelines import ModelUnavailable, pipeline_get

    loaded = True
    for model_id in settings.EASEL_WORKER_MODELS:
        try:
            pipeline_get(model_id=model_id)
        except ModelUnavailable:
            loaded = False  # pipeline_get logged why; readiness stays false, which is the point
        except Exception:
            loaded = False
            logger.exception("warming model %s failed", model_id)
    return loaded


# --- The probe server ------------------------------------------------------------------------


def liveness() -> tuple[bool, dict[str, Any]]:
    age = time.monotonic() - _state.last_tick if _state.last_tick else None
    alive = age is not None and age < settings.EASEL_WORKER_LIVENESS_SECONDS
    return alive, {"event_loop_tick_age_seconds": None if age is None else round(age, 1)}


def readiness() -> tuple[bool, dict[str, Any]]:
    checks = {"database": health.database_ready(), "broker": health.broker_ready()}
    if _state.serves_gpu:
        registry = metrics.registry_for_scrape()
        for model_id in settings.EASEL_WORKER_MODELS:
            loaded = metrics.sample_value(
                registry, "easel_worker_model_loaded", {"model": model_id}
            )
            checks[f"model:{model_id}"] = health.Check(
                ok=loaded >= _state.processes,
                detail=f"loaded in {loaded:.0f} of {_state.processes} worker processes",
            )
    checks["accepting_jobs"] = health.Check(
        ok=not worker_draining(), detail="draining" if worker_draining() else ""
    )
    return health.summary(checks)


class _WorkerStateCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "easel_worker_draining", "1 while this worker drains.", value=int(worker_draining())
        )
        yield GaugeMetricFamily(
            "easel_worker_processes",
            "Processes in the worker's pool (its children; under --pool solo, itself).",
            value=_state.processes,
        )


@cache
def _gpu_collector() -> metrics.GpuCollector:
    """NVML is initialised once per process, at the first scrape."""
    return metrics.GpuCollector()


class _ProbeHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body = metrics.exposition(extra=[_WorkerStateCollector(), _gpu_collector()])
            self._answer(200, body, metrics.CONTENT_TYPE)
        elif path in ("/healthz", "/readyz"):
            ok, report = liveness() if path == "/healthz" else readiness()
            self._answer(200 if ok else 503, json.dumps(report).encode(), "application/json")
        else:
            self._answer(404, b"not found\n", "text/plain")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # probes every few seconds would flood the log


def probe_server_start(*, host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), _ProbeHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="probe-server", daemon=True).start()
    logger.info("worker probes and metrics on http://%s:%d", host, server.server_address[1])
    return server
