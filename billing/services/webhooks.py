"""Stripe webhooks: verify, store once, process later.

Receiving (in the request): verify the signature over the raw body, insert the event under its
UNIQUE Stripe id, queue processing after commit, answer fast. A duplicate delivery finds the row
and does nothing. Processing (in a Celery task): lock the event row, dispatch by type, record the
outcome. A handler that raises rolls back everything it did; the error is kept on the event
and the admin can replay it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from billing.models import StripeEvent
from billing.services import payments
from billing.stripe_client import webhook_event_verify

logger = logging.getLogger(__name__)

HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "checkout.session.completed": payments.checkout_session_completed,
    "checkout.session.async_payment_succeeded": payments.checkout_session_async_succeeded,
    "checkout.session.async_payment_failed": payments.checkout_session_async_failed,
    "invoice.paid": payments.invoice_paid,
    "invoice.payment_failed": payments.invoice_payment_failed,
    "customer.subscription.updated": payments.subscription_updated,
    "customer.subscription.deleted": payments.subscription_deleted,
    "charge.refunded": payments.charge_refunded,
    "charge.dispute.created": payments.dispute_created,
    "charge.dispute.closed": payments.dispute_closed,
}


def stripe_event_receive(*, payload: bytes, signature: str) -> tuple[StripeEvent, bool]:
    """Verify and store one delivery: (event, created). InvalidRequest (400) if forged or stale."""
    data = webhook_event_verify(payload=payload, signature=signature)
    from billing.tasks import stripe_event_process_task

    try:
        with transaction.atomic(durable=True):
            event = StripeEvent.objects.create(
                event_id=data["id"],
                type=data.get("type", ""),
                livemode=bool(data.get("livemode")),
                payload=data,
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
            event.save(update_fields=["status", "error", "attempts", "processed_at", "updated_at"])
            return event.status
    except Exception:  # noqa: BLE001 - any failure is recorded on the event for a replay
        logger.exception("Stripe event %s failed", event_id)
        StripeEvent.objects.filter(
            event_id=event_id, status__in=[StripeEvent.Status.RECEIVED, StripeEvent.Status.FAILED]
        ).update(
            status=StripeEvent.Status.FAILED,
            error=traceback.format_exc(limit=5)[-4000:],
            attempts=F("attempts") + 1,
            updated_at=timezone.now(),
        )
        return StripeEvent.Status.FAILED


def stripe_events_replay(*, event_ids: list[str]) -> dict[str, str]:
    """Process failed (or never processed) events again; the admin's replay action."""
    return {event_id: stripe_event_process(event_id=event_id) for event_id in event_ids}
