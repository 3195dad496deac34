"""What every Celery worker process runs beside its tasks: probes, metrics, drain, model warm-up.

- Drain. SIGTERM to the worker's main process (what Kubernetes sends to PID 1) is Celery's warm
  shutdown: it stops taking messages and waits for the running tasks. `worker_draining()` tells
  a child that the shutdown began, so a GPU child finishes the batch it holds and claims no
  queued job to go with it (generation/services/worker.py). The flag is an Event made before
  the pool forks, so every child shares it.
- Probes. With EASEL_WORKER_PROBE_PORT set, the main process serves `/healthz` (its event loop
  ticked recently: Kubernetes' liveness probe), `/readyz` (database, broker, and on GPU workers
  every child's model loaded; not ready while draining) and `/metrics` (every child's samples,
  plus GPU memory and utilisation through NVML).
- Warm-up. A GPU worker's children load EASEL_WORKER_MODELS as they start, in a thread (Celery
  kills `worker_process_init` handlers that take over 4 s), so the first job does not pay for it
  and readiness means what it says.
"""

import json
import logging
import multiprocessing
import threading
import time
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from celery import bootsteps
from celery.signals import (
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutting_down,
)
from django.conf import settings
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from common import health, metrics

logger = logging.getLogger(__name__)

_TICK_SECONDS = 5.0


class _State:
    """The main process's view of itself, shared with the probe server's thread."""

    drain: Any = None  # a multiprocessing Event, made in the main process before the fork
    last_tick: float = 0.0
    concurrency: int = 1
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


def _consumes_gpu_queue(worker: Any) -> bool:
    from generation.inference.registry import gpu_queues  # cycle: config.celery imports us

    queues = getattr(getattr(worker.app.amqp, "queues", None), "consume_from", None) or {}
    return bool(set(queues) & gpu_queues())


@worker_init.connect
def _worker_started(sender: Any = None, **_: object) -> None:
    _state.drain = multiprocessing.get_context("fork").Event()
    _state.concurrency = int(getattr(sender, "concurrency", 1) or 1)
    _state.serves_gpu = sender is not None and _consumes_gpu_queue(sender)
    metrics.multiprocess_folder_reset()


@worker_ready.connect
def _worker_ready(sender: Any = None, **_: object) -> None:
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
    if _state.serves_gpu and settings.EASEL_WORKER_MODELS:
        threading.Thread(target=models_warm, name="models-warm", daemon=True).start()


@worker_process_shutdown.connect
def _child_stopping(pid: int | None = None, **_: object) -> None:
    if pid:
        metrics.process_exited(pid)


def models_warm() -> None:
    """Loads (and warms) the models this worker serves, once, in this process."""
    # cycle: config.celery imports this module, and the pipelines import config.celery's app
    from generation.inference.pipelines import ModelUnavailable, pipeline_get

    for model_id in settings.EASEL_WORKER_MODELS:
        try:
            pipeline_get(model_id=model_id)
        except ModelUnavailable:
            pass  # pipeline_get logged why; readiness stays false, which is the point
        except Exception:
            logger.exception("warming model %s failed", model_id)


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
                ok=loaded >= _state.concurrency,
                detail=f"loaded in {loaded:.0f} of {_state.concurrency} worker processes",
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
            "easel_worker_processes", "Worker child processes configured.", value=_state.concurrency
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
