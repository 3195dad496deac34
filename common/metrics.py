"""Every Prometheus metric Easel exports, and the small functions the rest of the code calls.

Two kinds (docs/deploy.md lists them all, with the alerts and the dashboard that read them):
- Measured where the work happens: queue wait per tier, job duration per operation and model,
  delivered images per worker host, moderation decisions per category, webhook delivery lag,
  models loaded. Code calls the functions below (`job_finished(...)`), never a metric object.
- Read from PostgreSQL and the broker when Prometheus scrapes the web (`FleetStateCollector`):
  queue depth per lane, running jobs, credit reservations held, webhook backlog. One query each,
  so a web replica answers in milliseconds however many workers run.

Web (gunicorn with several workers) and Celery workers (prefork children) are several processes
each: with PROMETHEUS_MULTIPROC_DIR set (the images and the Procfile set it), every process
writes its samples to files there and `/metrics` adds them up (prometheus_client's multiprocess
mode). Without it (a single process, tests) the default registry is read.
"""

import logging
import os
import socket
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from django.utils import timezone
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_WAIT_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600)

QUEUE_WAIT = Histogram(
    "easel_queue_wait_seconds",
    "Seconds from a job's creation to its first claim by a GPU worker, per tier.",
    ["tier"],
    buckets=_WAIT_BUCKETS,
)
JOB_DURATION = Histogram(
    "easel_job_duration_seconds",
    "Seconds from a job's claim to its final status, per operation, model and outcome.",
    ["operation", "model", "outcome"],
    buckets=_DURATION_BUCKETS,
)
IMAGES_DELIVERED = Counter(
    "easel_images_delivered_total",
    "Images delivered (screened, stored, charged), per model and worker host; rate() is "
    "images per second.",
    ["model", "host"],
)
MODERATION_DECISIONS = Counter(
    "easel_moderation_decisions_total",
    "Screening decisions per stage (prompt, upload, output), outcome and category; an output "
    "block is a withheld image, a prompt or upload block a refused request.",
    ["stage", "outcome", "category"],
)
WEBHOOK_TRIES = Counter(
    "easel_webhook_delivery_tries_total",
    "Customer webhook delivery tries, per result (succeeded, retrying, failed, refused).",
    ["result"],
)
WEBHOOK_LAG = Histogram(
    "easel_webhook_delivery_lag_seconds",
    "Seconds from a webhook event's creation to its successful delivery.",
    buckets=_WAIT_BUCKETS,
)
# Per worker child ('livesum': children that have died drop out), so a worker's /readyz can say
# whether every child has its model loaded.
MODEL_LOADED = Gauge(
    "easel_worker_model_loaded",
    "Worker processes with this model loaded and warmed.",
    ["model"],
    multiprocess_mode="livesum",
)


# --- What the code calls ---------------------------------------------------------------------


def jobs_started(*, jobs: Iterable[Any]) -> None:
    """A GPU worker claimed these jobs (Generation rows, as the claim read them, with their
    owner's tier): their first claim measures how long each tier waited."""
    now = timezone.now()
    for job in jobs:
        if job.attempts == 1:
            QUEUE_WAIT.labels(tier=job.user.tier.name).observe(_seconds(now, job.created_at))


def job_finished(*, generation: Any, outcome: str, delivered: int = 0) -> None:
    """A job reached its final status on a worker (settled, failed, canceled while running)."""
    started_at = generation.started_at or generation.created_at
    JOB_DURATION.labels(
        operation=generation.operation, model=generation.model, outcome=outcome
    ).observe(_seconds(timezone.now(), started_at))
    if delivered:
        IMAGES_DELIVERED.labels(model=generation.model, host=socket.gethostname()).inc(delivered)


def moderation_decision(*, stage: str, outcome: str, categories: Iterable[str]) -> None:
    """One screening decision was stored: counted once per category that fired (or 'none')."""
    for category in list(categories) or ["none"]:
        MODERATION_DECISIONS.labels(stage=stage, outcome=outcome, category=category).inc()


def webhook_delivery_tried(*, status: str, created_at: datetime, delivered_at: Any) -> None:
    """One webhook try was recorded; `status` is the delivery's status after it."""
    result = "retrying" if status == "pending" else status
    WEBHOOK_TRIES.labels(result=result).inc()
    if delivered_at is not None and result == "succeeded":
        WEBHOOK_LAG.observe(_seconds(delivered_at, created_at))


def model_loaded(*, model_id: str) -> None:
    """This process has the model loaded and warmed (a worker's readiness reads it)."""
    MODEL_LOADED.labels(model=model_id).set(1)


def _seconds(later: datetime, earlier: datetime) -> float:
    return max((later - earlier).total_seconds(), 0.0)


# --- Exposition ------------------------------------------------------------------------------


def multiprocess_folder() -> Path | None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(folder) if folder else None


def multiprocess_folder_reset() -> None:
    """A server (gunicorn's master, Celery's parent) starts with an empty folder: files left by
    an earlier run's processes would otherwise be added to this run's figures."""
    folder = multiprocess_folder()
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)


def process_exited(pid: int) -> None:
    """A child process ended: its live gauges stop counting (its counters are kept)."""
    if multiprocess_folder() is not None:
        multiprocess.mark_process_dead(pid)


def _forget_dead_processes(folder: Path) -> None:
    """Children killed outright (SIGKILL, the OOM killer) never say they exited."""
    for path in folder.glob("gauge_live*.db"):
        pid_text = path.stem.rpartition("_")[2]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            multiprocess.mark_process_dead(int(pid_text), str(folder))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def registry_for_scrape(*, extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """What one scrape reads: every process's samples, plus collectors read at scrape time."""
    folder = multiprocess_folder()
    if folder is None:
        registry = CollectorRegistry()
        registry.register(_DefaultRegistry())
    else:
        _forget_dead_processes(folder)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(folder))
    for collector in extra:
        registry.register(collector)
    return registry


def exposition(*, extra: Iterable[Collector] = ()) -> bytes:
    return generate_latest(registry_for_scrape(extra=extra))


def sample_value(registry: CollectorRegistry, name: str, labels: dict[str, str]) -> float:
    """The sum of a metric's samples that carry these labels (0 when there are none)."""
    total = 0.0
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


class _DefaultRegistry(Collector):
    """The process's own registry, wrapped so scrape-time collectors can be added beside it
    without registering them globally (a second scrape would register them twice)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class FleetStateCollector(Collector):
    """Gauges read from PostgreSQL and the broker at scrape time (the web's /metrics)."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "easel_fleet_state_up",
            "1 when the fleet's state could be read from PostgreSQL at this scrape.",
        )
        try:
            families = list(self._from_database())
        except Exception as error:  # a database outage is /readyz's to report, not a scrape's
            logger.warning("fleet state unavailable: %s", error)
            families = []
        up.add_metric([], 1 if families else 0)
        yield up
        yield from families
        yield from _broker_queue_sizes()

    def _from_database(self) -> Iterator[Metric]:
        # Imported here: common is loaded before the apps, and these are the apps' selectors.
        from billing.selectors import reservations_open_summary
        from generation.selectors.fleet import (
            queue_depth_by_model_lane,
            queue_oldest_age_by_lane,
            running_by_model,
            webhook_backlog,
        )

        depth = GaugeMetricFamily(
            "easel_queue_depth",
            "Jobs queued (not yet claimed), per model and lane (2 paid, 1 normal, 0 Free).",
            labels=["model", "lane"],
        )
        for (model, lane), count in queue_depth_by_model_lane().items():
            depth.add_metric([model, str(lane)], count)
        yield depth
        oldest = GaugeMetricFamily(
            "easel_queue_oldest_age_seconds",
            "Age of the oldest queued job, per lane.",
            labels=["lane"],
        )
        for lane, age in queue_oldest_age_by_lane().items():
            oldest.add_metric([str(lane)], age)
        yield oldest
        running = GaugeMetricFamily(
            "easel_jobs_running", "Jobs held by a GPU worker, per model.", labels=["model"]
        )
        for model, count in running_by_model().items():
            running.add_metric([model], count)
        yield running
        reservations = reservations_open_summary()
        yield GaugeMetricFamily(
            "easel_credit_reservations_open",
            "Credit reservations held for jobs not yet settled.",
            value=reservations.count,
        )
        yield GaugeMetricFamily(
            "easel_credit_reservations_open_credits",
            "Credits held by open reservations.",
            value=reservations.credits,
        )
        yield GaugeMetricFamily(
            "easel_credit_reservation_oldest_age_seconds",
            "Age of the oldest open reservation (the reservation sweep releases them).",
            value=reservations.oldest_age_seconds,
        )
        backlog = webhook_backlog()
        yield GaugeMetricFamily(
            "easel_webhook_deliveries_pending",
            "Customer webhook deliveries not yet delivered (first try or retrying).",
            value=backlog.pending,
        )
        yield GaugeMetricFamily(
            "easel_webhook_delivery_oldest_pending_seconds",
            "Age of the oldest pending webhook delivery: the delivery lag right now.",
            value=backlog.oldest_age_seconds,
        )


def _broker_queue_sizes() -> Iterator[Metric]:
    """Messages waiting in each GPU queue on the broker (all priorities together). Beside
    easel_queue_depth, a gap shows messages lost (jobs queued with no message) or duplicated."""
    # cycle: config.celery loads common at its start
    from config.celery import app
    from generation.inference.registry import gpu_queues

    family = GaugeMetricFamily(
        "easel_broker_queue_messages",
        "Messages waiting on the broker, per queue.",
        labels=["queue"],
    )
    try:
        with app.connection_for_read() as connection:
            channel = connection.default_channel
            for name in sorted(gpu_queues()):
                try:
                    declared = channel.queue_declare(queue=name, passive=True)
                except Exception:  # a queue nobody declared yet holds nothing
                    channel = connection.channel()
                    continue
                family.add_metric([name], declared.message_count)
    except Exception as error:  # the broker being down is /readyz's to report, not a scrape's
        logger.warning("broker queue sizes unavailable: %s", error)
    yield family


class GpuCollector(Collector):
    """GPU memory and utilisation through NVML, where the NVIDIA driver is present. NVML reads
    the driver, never CUDA, so the Celery parent may ask without touching CUDA state."""

    NAMES = (
        "easel_gpu_memory_used_bytes",
        "easel_gpu_memory_total_bytes",
        "easel_gpu_utilization_ratio",
    )

    def __init__(self) -> None:
        self._nvml: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
        except Exception:  # no driver, no library: a CPU machine exports no GPU metrics
            self._nvml = None

    @property
    def present(self) -> bool:
        return self._nvml is not None

    def collect(self) -> Iterator[Metric]:
        if self._nvml is None:
            return
        nvml = self._nvml
        used_name, total_name, busy_name = self.NAMES
        used = GaugeMetricFamily(used_name, "GPU memory in use.", labels=["gpu", "name"])
        total = GaugeMetricFamily(total_name, "GPU memory in all.", labels=["gpu", "name"])
        busy = GaugeMetricFamily(
            busy_name,
            "Share of the last sample period a kernel ran on the GPU (0-1).",
            labels=["gpu", "name"],
        )
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            rates = nvml.nvmlDeviceGetUtilizationRates(handle)
            used.add_metric([str(index), name], memory.used)
            total.add_metric([str(index), name], memory.total)
            busy.add_metric([str(index), name], rates.gpu / 100.0)
        yield used
        yield total
        yield busy
