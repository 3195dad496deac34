"""Stripe webhooks: verify, store once, process later.

Receiving (in the request): verify the signature over the raw body, insert the event under its
UNIQUE Stripe id, queue processing after commit, answer fast. A duplicate delivery finds the row
and does nothing. Processing (in a Celery task): lock the event row, dispatch by type, record the
outcome. A handler that raises rolls back everything it did; the error is kept on the event.

The row is the outbox: Stripe never resends an event it got a 200 for, so a processing task lost
with the broker (a Redis wipe, a worker gone with the message) or a try that failed is sent again
from PostgreSQL by `stripe_events_resend` (beat), when the event's `next_attempt_at` passes:
BILLING_STRIPE_EVENT_RESEND_AFTER seconds after it was received or last sent, or after a
failure the next step of RETRY_BACKOFF_SECONDS. Processing twice is harmless (the row lock and
the states). After the last step a failed event waits for the admin's replay.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from billing.models import StripeEvent
from billing.services import payments
from billing.stripe_client import webhook_event_verify
from billing.tasks import stripe_event_process_task

logger = logging.getLogger(__name__)

# Waits after the 1st, 2nd, ... failed try of an event; then it waits for a replay.
RETRY_BACKOFF_SECONDS = (60, 300, 900, 3600, 4 * 3600, 12 * 3600)

HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "checkout.session.completed": payments.checkout_session_completed,
    "checkout.session.async_payment_succeeded": payments.checkout_session_async_succeeded,
    "checkout.session.async_payment_failed": payments.checkout_session_async_failed,
    "invoice.paid": payments.invoice_paid,
    "invoice.payment_failed": payments.invoice_payment_failed,
    "customer.subscription.updated": payments.subscription_updated,
    "customer.subscription.deleted": payments.subscription_deleted,
    "charge.refunded": payments.charge_refunded,
    "charge.dispute.created": payments.dispute_changed,
    "charge.dispute.updated": payments.dispute_changed,
    "charge.dispute.closed": payments.dispute_changed,
}


def stripe_event_receive(*, payload: bytes, signature: str) -> tuple[StripeEvent, bool]:
    """Verify and store one delivery: (event, created). InvalidRequest (400) if forged or stale."""
    data = webhook_event_verify(payload=payload, signature=signature)

    try:
        with transaction.atomic(durable=True):
            event = StripeEvent.objects.create(
                event_id=data["id"],
                type=data.get("type", ""),
                livemode=bool(data.get("livemode")),
                payload=data,
                next_attempt_at=_resend_at(timezone.now()),
            )
            transaction.on_commit(lambda: stripe_event_process_task.delay(event.event_id))
    except IntegrityError:
        # The unique event id: Stripe delivered this event before.
        return StripeEvent.objects.get(event_id=data["id"]), False
    return event, True


def stripe_event_process(*, event_id: str) -> str:
    """Process a stored event once; returns its final status. Safe to run twice or concurrently."""
    try:
        with transaction.atomic(durable=True):
            event = StripeEvent.objects.select_for_update().get(event_id=event_id)
            if event.status in (StripeEvent.Status.PROCESSED, StripeEvent.Status.IGNORED):
                return event.status
            handler = HANDLERS.get(event.type)
            if handler is not None:
                handler(event.payload["data"]["object"])
            event.status = StripeEvent.Status.PROCESSED if handler else StripeEvent.Status.IGNORED
            event.error = ""
            event.attempts = F("attempts") + 1
            event.processed_at = timezone.now()
            event.next_attempt_at = None
            event.save(
                update_fields=[
                    "status",
                    "error",
                    "attempts",
                    "processed_at",
                    "next_attempt_at",
                    "updated_at",
                ]
            )
            return event.status
    except Exception:  # noqa: BLE001 - any failure is recorded on the event for a replay
        logger.exception("Stripe event %s failed", event_id)
        _failure_record(event_id=event_id, error=traceback.format_exc(limit=5)[-4000:])
        return StripeEvent.Status.FAILED


def _failure_record(*, event_id: str, error: str) -> None:
    """The failed try, and when the sweep tries again (none after the last backoff step)."""
    unfinished = [StripeEvent.Status.RECEIVED, StripeEvent.Status.FAILED]
    attempts = (
        StripeEvent.objects.filter(event_id=event_id, status__in=unfinished)
        .values_list("attempts", flat=True)
        .first()
    )
    if attempts is None:
        return  # processed meanwhile by another try
    now = timezone.now()
    retry_in = RETRY_BACKOFF_SECONDS[attempts] if attempts < len(RETRY_BACKOFF_SECONDS) else None
    StripeEvent.objects.filter(event_id=event_id, status__in=unfinished).update(
        status=StripeEvent.Status.FAILED,
        error=error,
        attempts=F("attempts") + 1,
        next_attempt_at=now + dt.timedelta(seconds=retry_in) if retry_in is not None else None,
        updated_at=now,
    )


def _resend_at(moment: dt.datetime) -> dt.datetime:
    return moment + dt.timedelta(seconds=settings.BILLING_STRIPE_EVENT_RESEND_AFTER)


def stripe_events_resend(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Send the processing task again for every event whose next try is due; returns how many.

    Each is claimed by moving its `next_attempt_at` on, conditionally on the value read, so two
    sweeps never send one event twice; the move also stands for the message just sent (if it
    is lost too, the next sweep after that time sends another).
    """

    now = now or timezone.now()
    due = StripeEvent.objects.filter(
        next_attempt_at__lte=now,
        status__in=[StripeEvent.Status.RECEIVED, StripeEvent.Status.FAILED],
    ).order_by("next_attempt_at")
    sent = 0
    for event_id, next_attempt_at in due.values_list("event_id", "next_attempt_at")[:limit]:
        if StripeEvent.objects.filter(event_id=event_id, next_attempt_at=next_attempt_at).update(
            next_attempt_at=_resend_at(now)
        ):
            stripe_event_process_task.delay(event_id)
            sent += 1
    if sent:
        logger.warning("re-sent %d unprocessed Stripe events", sent)
    return sent


def stripe_events_replay(*, event_ids: list[str]) -> dict[str, str]:
    """Process failed (or never processed) events again; the admin's replay action."""
    return {event_id: stripe_event_process(event_id=event_id) for event_id in event_ids}
