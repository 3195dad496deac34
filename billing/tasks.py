"""Celery tasks of billing: thin wrappers that call one service each.

Each imports its service inside the task: billing's services import these tasks (to send them),
so an import at the top would be a cycle."""

from celery import shared_task

from common.queues import Queue

PERIODIC = {
    "queue": Queue.DEFAULT,
    "ignore_result": True,
    "soft_time_limit": 600,
    "time_limit": 660,
}


@shared_task(name="billing.lots_expire", **PERIODIC)
def lots_expire_task() -> int:
    from billing.services.credits import lots_expire

    return lots_expire()


@shared_task(name="billing.monthly_grants_issue", **PERIODIC)
def monthly_grants_issue_task() -> int:
    from billing.services.credits import monthly_grants_issue

    return monthly_grants_issue()


@shared_task(name="billing.reservations_sweep", **PERIODIC)
def reservations_sweep_task() -> int:
    from billing.services.credits import reservations_sweep

    return reservations_sweep()


@shared_task(
    name="billing.stripe_event_process",
    queue=Queue.DEFAULT,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
    # A lost worker redelivers the event; processing is idempotent (the row lock and states).
    acks_late=True,
)
def stripe_event_process_task(event_id: str) -> None:
    from billing.services.webhooks import stripe_event_process

    stripe_event_process(event_id=event_id)


@shared_task(name="billing.stripe_events_resend", **PERIODIC)
def stripe_events_resend_task() -> int:
    from billing.services.webhooks import stripe_events_resend

    return stripe_events_resend()


@shared_task(
    name="billing.stripe_subscription_cancel",
    queue=Queue.DEFAULT,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=8,
)
def stripe_subscription_cancel_task(subscription_id: str) -> None:
    from billing.services.payments import stripe_subscription_cancel

    stripe_subscription_cancel(subscription_id=subscription_id)
