"""Queueing, canceling and promoting generations once they exist.

Jobs are created by `generation.services.admission` alone (the one way in); this module sends
them to the GPU queue, cancels them and keeps the low lane moving.
"""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from billing.services.credits import credits_release
from common.queues import lane_priority
from generation.inference.registry import model_queue
from generation.models import Generation
from generation.services.cancels import cancel_flags_set
from generation.services.progress import progress_publish
from generation.services.storage import storage_delete
from generation.services.webhooks import webhook_event_emit_on_commit
from generation.tasks import generation_run_task

logger = logging.getLogger(__name__)


def generation_enqueue(
    *,
    generation: Generation,
    lane: int | None = None,
    soft_time_limit: float | None = None,
    time_limit: float | None = None,
) -> None:
    """Sends the GPU task at the lane's priority. Limits default to the task's own settings."""
    options: dict[str, Any] = {}
    if soft_time_limit is not None:
        options["soft_time_limit"] = soft_time_limit
    if time_limit is not None:
        options["time_limit"] = time_limit
    generation_run_task.apply_async(
        args=[str(generation.id)],
        queue=model_queue(model_id=generation.model),
        priority=lane_priority(generation.queue_lane if lane is None else lane),
        **options,
    )


def enqueue_warm() -> None:
    """Readies this process to send jobs before its first request does: on the first send
    Celery finalizes its app, loads its result backend and opens the producer's broker
    connection, which cost that request ~60 ms (bench/api_overhead.py). A broker that cannot
    be reached yet is left to the first send (and /readyz says so)."""
    app = generation_run_task.app
    app.finalize(auto=True)
    app.backend  # noqa: B018 - a cached property: loading it is the point
    try:
        with app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1, timeout=3)
            producer.connection.default_channel  # noqa: B018 - the transport connects lazily
    except Exception:  # noqa: BLE001 - a web process starts without a broker too
        logger.warning("the broker could not be reached at start", exc_info=True)


def generation_cancel(*, generation: Generation) -> Generation:
    """Stops a job. Queued: canceled at once, credits released. Running: the worker stops at the
    next denoising step, then settles. Final: nothing changes. Idempotent."""

    canceled_now = Generation.objects.filter(
        pk=generation.pk, status=Generation.Status.QUEUED
    ).update(
        status=Generation.Status.CANCELED,
        cancel_requested=True,
        status_message="Canceled before it started.",
        finished_at=timezone.now(),
    )
    if canceled_now:
        credits_release(generation_id=generation.pk)
        webhook_event_emit_on_commit(generation=generation)
        _inputs_delete(generation=generation)
        progress_publish(generation_id=generation.pk, status=Generation.Status.CANCELED, images=[])
    else:
        if Generation.objects.filter(pk=generation.pk, status=Generation.Status.RUNNING).update(
            cancel_requested=True
        ):
            cancel_flags_set(generation_ids=[generation.pk])  # the worker checks it every step
    generation.refresh_from_db()
    return generation


def _inputs_delete(*, generation: Generation) -> None:
    for key in generation.input_keys:
        storage_delete(key=key)


def lanes_promote(*, now: Any = None) -> int:
    """Free jobs still progress: a low-lane job queued too long is re-sent at normal priority.

    The job's first message stays in the low list; whichever copy a worker takes first claims
    the job (QUEUED -> RUNNING), and the other finds it claimed and does nothing.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.EASEL_LANE_PROMOTE_AFTER_SECONDS)
    promoted = 0
    waiting = Generation.objects.filter(
        status=Generation.Status.QUEUED, queue_lane=0, created_at__lt=cutoff
    ).values_list("pk", flat=True)
    for generation_id in list(waiting[:500]):
        # Conditional, so two beat runs never promote (and re-send) one job twice.
        if Generation.objects.filter(
            pk=generation_id, queue_lane=0, status=Generation.Status.QUEUED
        ).update(queue_lane=1, sent_at=timezone.now()):
            generation_enqueue(generation=Generation.objects.get(pk=generation_id))
            promoted += 1
    if promoted:
        logger.info("promoted %d waiting low-lane jobs", promoted)
    return promoted
