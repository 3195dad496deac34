"""Celery tasks for customer webhooks (CPU queue). Thin: each calls one service.

Retries are not Celery countdowns: a countdown of hours sits in a worker's memory and, on Redis,
outlives the broker's visibility timeout and is redelivered. Instead each failed try sets the
delivery's `next_attempt_at`, and the beat sweep below queues whatever is due.
"""

from celery import shared_task
from django.conf import settings

from common.queues import Queue
from generation.services import idempotency, webhooks


@shared_task(
    name="generation.webhook_deliver",
    queue=Queue.DEFAULT,
    ignore_result=True,
    soft_time_limit=settings.WEBHOOK_TIMEOUT + 20,
    time_limit=settings.WEBHOOK_TIMEOUT + 30,
)
def webhook_deliver_task(delivery_id: str) -> None:
    webhooks.webhook_deliver(delivery_id=delivery_id)


@shared_task(name="generation.webhook_deliveries_due", queue=Queue.DEFAULT, ignore_result=True)
def webhook_deliveries_due_task() -> None:
    for delivery_id in webhooks.webhook_deliveries_due_ids():
        webhook_deliver_task.delay(delivery_id)


@shared_task(name="generation.webhook_events_sweep", queue=Queue.DEFAULT, ignore_result=True)
def webhook_events_sweep_task() -> None:
    webhooks.webhook_events_sweep()


@shared_task(name="generation.idempotency_records_purge", queue=Queue.DEFAULT, ignore_result=True)
def idempotency_records_purge_task() -> None:
    idempotency.idempotency_records_purge()
