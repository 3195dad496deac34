"""Reads about the whole fleet's work, for the metrics Prometheus scrapes (common/metrics.py).

Each is one grouped query on an indexed column (status), cheap at scrape time.
"""

from dataclasses import dataclass

from django.db.models import Count, Min
from django.utils import timezone

from generation.models import Generation, WebhookDelivery


def queue_depth_by_model_lane() -> dict[tuple[str, int], int]:
    """Jobs waiting for a worker, per (model, lane)."""
    rows = (
        Generation.objects.filter(status=Generation.Status.QUEUED)
        .values_list("model", "queue_lane")
        .annotate(count=Count("id"))
        .order_by()
    )
    return {(model, lane): count for model, lane, count in rows}


def queue_oldest_age_by_lane() -> dict[int, float]:
    """Seconds the oldest queued job of each lane has waited."""
    now = timezone.now()
    rows = (
        Generation.objects.filter(status=Generation.Status.QUEUED)
        .values_list("queue_lane")
        .annotate(oldest=Min("created_at"))
        .order_by()
    )
    return {lane: max((now - oldest).total_seconds(), 0.0) for lane, oldest in rows}


def running_by_model() -> dict[str, int]:
    rows = (
        Generation.objects.filter(status=Generation.Status.RUNNING)
        .values_list("model")
        .annotate(count=Count("id"))
        .order_by()
    )
    return dict(rows)


@dataclass(frozen=True)
class WebhookBacklog:
    pending: int
    oldest_age_seconds: float


def webhook_backlog() -> WebhookBacklog:
    """Customer webhook deliveries still to be made, and how long the oldest has waited."""
    summary = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).aggregate(
        pending=Count("id"), oldest=Min("created_at")
    )
    oldest = summary["oldest"]
    age = max((timezone.now() - oldest).total_seconds(), 0.0) if oldest else 0.0
    return WebhookBacklog(pending=summary["pending"], oldest_age_seconds=age)
