"""Stripe purchases end to end: Checkout against the local Stripe, signed webhooks, the ledger."""

import json
import time

import pytest

from billing.models import LedgerEntry, Payment, StripeEvent, Wallet
from billing.services.payments import checkout_pack_start, checkout_subscription_start
from billing.services.webhooks import stripe_event_process
from tests.billing.conftest import assert_invariant
from tests.billing.stripe_server import TEST_WEBHOOK_SECRET, WEBHOOK_PATH, signature_header

pytestmark = pytest.mark.django_db


@pytest.fixture
def deliver(client, stripe_server, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Deliver a signed event and run what it queued after commit (the Celery task, eagerly)."""

    def send(event_type_or_event, obj=None, **kwargs):  # type: ignore[no-untyped-def]
        with django_capture_on_commit_callbacks(execute=True):
            return stripe_server.deliver(client, event_type_or_event, obj, **kwargs)

    return send


@pytest.fixture
def buyer(user_with_balance, stripe_settings):  # type: ignore[no-untyped-def]
    return user_with_balance(0, email="buyer@example.com")


def _buy_pack(stripe_server, buyer):  # type: ignore[no-untyped-def]
    start = checkout_pack_start(user=buyer)
    return stripe_server.pay_checkout_session(start.session_id)


def test_pack_checkout_creates_one_customer_and_a_pending_payment(stripe_server, buyer):
    first = checkout_pack_start(user=buyer)
    second = checkout_pack_start(user=buyer)
    assert first.url.startswith(stripe_server.url)
    customers = [r for r in stripe_server.state.requests if r[1] == "/v1/customers"]
    assert len(customers) == 1
    wallet = Wallet.objects.get(user=buyer)
    assert wallet.stripe_customer_id.startswith("cus_")
    session = stripe_server.get(first.session_id)
    assert session["customer"] == wallet.stripe_customer_id and session["mode"] == "payment"
    assert session["amount_total"] == 1500
    assert Payment.objects.filter(wallet=wallet, status="pending").count() == 2
    assert second.session_id != first.session_id


def test_without_keys_buying_says_payments_are_not_configured(user_with_balance, settings):
    from common.errors import ServiceUnavailable

    settings.STRIPE_SECRET_KEY = ""
    user = user_with_balance(5)
    with pytest.raises(ServiceUnavailable) as error:
        checkout_pack_start(user=user)
    assert error.value.status_code == 503
    assert "not configured" in error.value.message
    assert not Payment.objects.exists()


def test_the_same_event_delivered_ten_times_grants_once(stripe_server, buyer, deliver):
    session = _buy_pack(stripe_server, buyer)
    event = stripe_server.event("checkout.session.completed", session)
    responses = [deliver(event) for _ in range(10)]
    assert all(r.status_code == 200 for r in responses)
    assert [r.json()["duplicate"] for r in responses] == [False] + [True] * 9
    wallet = Wallet.objects.get(user=buyer)
    assert wallet.balance == 115
    assert LedgerEntry.objects.filter(kind="purchase").count() == 1
    payment = Payment.objects.get(checkout_session_id=session["id"])
    assert payment.status == "paid"
    assert payment.receipt_url.startswith("https://pay.stripe.com/receipts/")
    assert StripeEvent.objects.get().status == "processed"
    assert_invariant(wallet)


def test_two_events_for_one_payment_grant_once(stripe_server, buyer, deliver):
    """completed, then async_payment_succeeded for the same session (distinct events)."""
    session = _buy_pack(stripe_server, buyer)
    deliver("checkout.session.completed", session)
    deliver("checkout.session.async_payment_succeeded", session)
    assert Wallet.objects.get(user=buyer).balance == 115
    assert StripeEvent.objects.filter(status="processed").count() == 2


def test_async_payment_grants_only_when_it_succeeds(stripe_server, buyer, deliver):
    start = checkout_pack_start(user=buyer)
    session = stripe_server.pay_checkout_session(start.session_id, asynchronous=True)
    deliver("checkout.session.completed", session)
    assert Wallet.objects.get(user=buyer).balance == 0
    deliver(
        "checkout.session.async_payment_succeeded",
        stripe_server.settle_async_payment(start.session_id),
    )
    assert Wallet.objects.get(user=buyer).balance == 115


def test_async_payment_failure_grants_nothing_and_states_move_only_forward(
    stripe_server, buyer, deliver
):
    start = checkout_pack_start(user=buyer)
    session = stripe_server.pay_checkout_session(start.session_id, asynchronous=True)
    deliver("checkout.session.async_payment_failed", session)
    assert Payment.objects.get().status == "failed"
    # a paid event for a failed pack payment never resurrects it
    deliver("checkout.session.completed", stripe_server.settle_async_payment(start.session_id))
    assert Payment.objects.get().status == "failed"
    assert Wallet.objects.get(user=buyer).balance == 0


@pytest.mark.parametrize(
    "mutation",
    ["bad_secret", "stale", "body_changed", "missing", "garbage"],
)
def test_forged_or_stale_deliveries_get_400_and_change_nothing(
    stripe_server, buyer, client, mutation
):
    session = _buy_pack(stripe_server, buyer)
    event = stripe_server.event("checkout.session.completed", session)
    payload = json.dumps(event).encode()
    header = signature_header(payload, TEST_WEBHOOK_SECRET)
    if mutation == "bad_secret":
        header = signature_header(payload, "whsec_not_ours")
    elif mutation == "stale":
        header = signature_header(payload, TEST_WEBHOOK_SECRET, timestamp=int(time.time()) - 3600)
    elif mutation == "body_changed":
        event["data"]["object"]["metadata"]["credits"] = "100000"
        payload = json.dumps(event).encode()
    elif mutation == "missing":
        header = ""
    elif mutation == "garbage":
        header = "t=abc,v1=zzz"
    response = client.post(
        WEBHOOK_PATH, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not StripeEvent.objects.exists()
    assert Wallet.objects.get(user=buyer).balance == 0
    assert Payment.objects.get().status == "pending"


def test_webhook_without_a_secret_answers_503(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = client.post(
        WEBHOOK_PATH, data=b"{}", content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=x"
    )
    assert response.status_code == 503
    assert not StripeEvent.objects.exists()


def test_unhandled_event_types_are_stored_and_ignored(stripe_server, deliver, stripe_settings):
    response = deliver("customer.created", {"id": "cus_x", "object": "customer"})
    assert response.status_code == 200
    assert StripeEvent.objects.get().status == "ignored"


def test_a_failed_handler_records_its_error_and_a_replay_processes_it(
    stripe_server, buyer, deliver
):
    session = _buy_pack(stripe_server, buyer)
    Payment.objects.all().delete()  # Easel lost track of the purchase: the handler cannot grant
    deliver("checkout.session.completed", session)
    event = StripeEvent.objects.get()
    assert event.status == "failed" and "no pending purchase" in event.error
    assert Wallet.objects.get(user=buyer).balance == 0
    Payment.objects.create(
        wallet=Wallet.objects.get(user=buyer),
        kind="pack",
        pack="115",
        credits=115,
        amount_cents=1500,
        checkout_session_id=session["id"],
    )
    assert stripe_event_process(event_id=event.event_id) == "processed"
    assert stripe_event_process(event_id=event.event_id) == "processed"
    assert Wallet.objects.get(user=buyer).balance == 115


# --- subscriptions ---------------------------------------------------------------------------


def _subscribe(stripe_server, buyer, tier="plus", price="price_plus_monthly"):  # type: ignore[no-untyped-def]
    start = checkout_subscription_start(user=buyer, tier_name=tier)
    session = stripe_server.pay_checkout_session(start.session_id, price_id=price)
    return session, stripe_server.get(session["invoice"])


@pytest.mark.parametrize("order", ["invoice_first", "checkout_first"])
def test_invoice_paid_and_checkout_completed_in_either_order_grant_once(
    stripe_server, buyer, deliver, order
):
    session, invoice = _subscribe(stripe_server, buyer)
    events = [("invoice.paid", invoice), ("checkout.session.completed", session)]
    if order == "checkout_first":
        events.reverse()
    for event_type, obj in events:
        assert deliver(event_type, obj).status_code == 200
    wallet = Wallet.objects.get(user=buyer)
    assert wallet.balance == 150
    assert LedgerEntry.objects.filter(kind="subscription").count() == 1
    assert StripeEvent.objects.filter(status="processed").count() == 2
    buyer.refresh_from_db()
    assert buyer.tier.name == "plus"
    assert wallet.stripe_subscription_id == session["subscription"]
    lot = wallet.lots.get(source="subscription")
    assert abs(lot.expires_at.timestamp() - invoice["period_end"]) < 1
    assert_invariant(wallet)


def test_next_period_invoice_grants_again_and_cancellation_downgrades_at_period_end(
    stripe_server, buyer, deliver
):
    session, invoice = _subscribe(stripe_server, buyer)
    deliver("invoice.paid", invoice)
    renewal = stripe_server.create_paid_invoice(
        session["subscription"],
        price_id="price_plus_monthly",
        period_start=invoice["period_end"],
        period_end=invoice["period_end"] + 30 * 86400,
    )
    deliver("invoice.paid", renewal)
    assert Wallet.objects.get(user=buyer).balance == 300
    # cancel in the portal: still Plus until the period ends
    deliver(
        "customer.subscription.updated",
        stripe_server.update_subscription(session["subscription"], cancel_at_period_end=True),
    )
    buyer.refresh_from_db()
    assert buyer.tier.name == "plus"
    assert Wallet.objects.get(user=buyer).subscription_cancel_at_period_end
    deliver(
        "customer.subscription.deleted",
        stripe_server.update_subscription(session["subscription"], status="canceled"),
    )
    buyer.refresh_from_db()
    assert buyer.tier.name == "free"


def test_portal_upgrade_applies_now(stripe_server, buyer, deliver):
    session, invoice = _subscribe(stripe_server, buyer)
    deliver("invoice.paid", invoice)
    deliver(
        "customer.subscription.updated",
        stripe_server.update_subscription(session["subscription"], price_id="price_pro_monthly"),
    )
    buyer.refresh_from_db()
    assert buyer.tier.name == "pro"


def test_invoice_payment_failed_marks_past_due(stripe_server, buyer, deliver):
    session, invoice = _subscribe(stripe_server, buyer)
    deliver("invoice.paid", invoice)
    deliver("invoice.payment_failed", {**invoice, "id": "in_failed", "status": "open"})
    assert Wallet.objects.get(user=buyer).subscription_status == "past_due"


# --- refunds and disputes ----------------------------------------------------------------------


def _bought(stripe_server, buyer, deliver):  # type: ignore[no-untyped-def]
    session = _buy_pack(stripe_server, buyer)
    deliver("checkout.session.completed", session)
    return stripe_server.charge_of(session["payment_intent"])


def test_refund_takes_back_the_unspent_credits_of_that_purchase_once(stripe_server, buyer, deliver):
    import uuid

    from billing.services.credits import credits_capture, credits_reserve

    charge_id = _bought(stripe_server, buyer, deliver)
    generation_id = uuid.uuid4()
    credits_reserve(user=buyer, generation_id=generation_id, amount=15)
    credits_capture(generation_id=generation_id, amount=15)
    refunded = stripe_server.refund(charge_id)
    for _ in range(3):
        deliver("charge.refunded", refunded)
    wallet = Wallet.objects.get(user=buyer)
    assert wallet.balance == 0  # 100 unspent taken back; the 15 spent are not a debt
    assert wallet.debt == 0
    assert LedgerEntry.objects.filter(kind="refund").count() == 1
    assert Payment.objects.get().status == "refunded"
    assert_invariant(wallet)


def test_partial_refunds_take_back_their_share(stripe_server, buyer, deliver):
    charge_id = _bought(stripe_server, buyer, deliver)
    deliver("charge.refunded", stripe_server.refund(charge_id, amount=750))
    assert Wallet.objects.get(user=buyer).balance == 115 - 58  # ceil(115 / 2)
    deliver("charge.refunded", stripe_server.refund(charge_id, amount=750))
    wallet = Wallet.objects.get(user=buyer)
    assert wallet.balance == 0
    assert_invariant(wallet)


def test_dispute_freezes_takes_back_records_debt_and_a_lost_dispute_keeps_the_debt(
    stripe_server, buyer, deliver
):
    import uuid

    from billing.services.credits import credits_adjust, credits_capture, credits_reserve
    from common.errors import InsufficientQuota

    charge_id = _bought(stripe_server, buyer, deliver)
    generation_id = uuid.uuid4()
    credits_reserve(user=buyer, generation_id=generation_id, amount=40)
    credits_capture(generation_id=generation_id, amount=40)
    dispute = stripe_server.dispute(charge_id)
    deliver("charge.dispute.created", dispute)
    deliver("charge.dispute.created", dispute)
    wallet = Wallet.objects.get(user=buyer)
    assert wallet.is_frozen
    assert wallet.balance == 0 and wallet.debt == 40
    with pytest.raises(InsufficientQuota):
        credits_reserve(user=buyer, generation_id=uuid.uuid4(), amount=1)
    deliver("charge.dispute.closed", stripe_server.close_dispute(dispute["id"], won=False))
    wallet.refresh_from_db()
    assert not wallet.is_frozen and wallet.debt == 40
    with pytest.raises(InsufficientQuota, match="owes 40"):
        credits_reserve(user=buyer, generation_id=uuid.uuid4(), amount=1)
    # new credits pay the debt first
    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    credits_adjust(user=buyer, amount=50, actor=staff, reason="settled by bank transfer")
    wallet.refresh_from_db()
    assert wallet.debt == 0 and wallet.balance == 10
    credits_reserve(user=buyer, generation_id=uuid.uuid4(), amount=1)
    assert_invariant(wallet)


def test_a_won_dispute_restores_credits_and_clears_its_debt(stripe_server, buyer, deliver):
    charge_id = _bought(stripe_server, buyer, deliver)
    dispute = stripe_server.dispute(charge_id)
    deliver("charge.dispute.created", dispute)
    wallet = Wallet.objects.get(user=buyer)
    assert wallet.balance == 0 and wallet.debt == 0 and wallet.is_frozen
    deliver("charge.dispute.closed", stripe_server.close_dispute(dispute["id"], won=True))
    deliver("charge.dispute.closed", stripe_server.close_dispute(dispute["id"], won=True))
    wallet.refresh_from_db()
    assert wallet.balance == 115 and not wallet.is_frozen
    assert_invariant(wallet)


def test_the_admin_replay_action_processes_a_failed_event(
    stripe_server, buyer, deliver, rf, staff_user
):
    from django.contrib import admin
    from django.contrib.messages.storage.fallback import FallbackStorage

    session = _buy_pack(stripe_server, buyer)
    payment = Payment.objects.get()
    payment.checkout_session_id = "cs_elsewhere"
    payment.save()
    deliver("checkout.session.completed", session)
    assert StripeEvent.objects.get().status == "failed"
    Payment.objects.filter(pk=payment.pk).update(checkout_session_id=session["id"])
    request = rf.post("/admin/billing/stripeevent/")
    request.user = staff_user
    request.session = {}
    request._messages = FallbackStorage(request)
    model_admin = admin.site._registry[StripeEvent]
    model_admin.replay(request, StripeEvent.objects.all())
    assert StripeEvent.objects.get().status == "processed"
    assert Wallet.objects.get(user=buyer).balance == 115


def test_deleting_the_account_cancels_the_subscription_at_stripe(
    stripe_server, buyer, deliver, django_capture_on_commit_callbacks
):
    from accounts.services.users import user_delete

    session, invoice = _subscribe(stripe_server, buyer)
    deliver("invoice.paid", invoice)
    with django_capture_on_commit_callbacks(execute=True):
        user_delete(user=buyer)
    assert stripe_server.get(session["subscription"])["status"] == "canceled"
    wallet = Wallet.objects.get(user=buyer)
    assert wallet.balance == 0 and wallet.subscription_status == "canceled"
    assert_invariant(wallet)


def test_a_proration_invoice_sets_the_tier_without_doubling_credits(stripe_server, buyer, deliver):
    from io import StringIO

    from django.core.management import call_command

    session, invoice = _subscribe(stripe_server, buyer)
    deliver("invoice.paid", invoice)
    proration = stripe_server.create_paid_invoice(
        session["subscription"],
        price_id="price_pro_monthly",
        period_start=invoice["period_start"],
        period_end=invoice["period_end"],
        billing_reason="subscription_update",
    )
    deliver("invoice.paid", proration)
    buyer.refresh_from_db()
    assert buyer.tier.name == "pro"
    assert Wallet.objects.get(user=buyer).balance == 150
    out = StringIO()
    call_command("credits", "reconcile", stdout=out)
    assert "no differences" in out.getvalue()


# --- the outbox: events whose processing task was lost or failed are sent again ----------------


def test_an_event_whose_task_was_lost_is_sent_again_past_its_bound(
    stripe_server, buyer, client, settings, django_capture_on_commit_callbacks
):
    import datetime as dt

    from django.utils import timezone

    from billing.services.webhooks import stripe_events_resend

    session = _buy_pack(stripe_server, buyer)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        stripe_server.deliver(client, "checkout.session.completed", session)
    assert len(queued) == 1  # the task that a wiped broker would have lost: never run
    event = StripeEvent.objects.get()
    assert event.status == "received"
    received = event.next_attempt_at - dt.timedelta(
        seconds=settings.BILLING_STRIPE_EVENT_RESEND_AFTER
    )
    assert stripe_events_resend(now=received + dt.timedelta(seconds=1)) == 0  # within the bound
    assert stripe_events_resend(now=event.next_attempt_at) == 1  # eager here: processed at once
    event.refresh_from_db()
    assert event.status == "processed" and event.next_attempt_at is None
    assert Wallet.objects.get(user=buyer).balance == 115
    assert stripe_events_resend(now=timezone.now() + dt.timedelta(days=1)) == 0


def test_a_failed_event_is_retried_with_backoff_then_left_for_the_admin(
    stripe_server, buyer, deliver
):
    import datetime as dt

    from django.utils import timezone

    from billing.services.webhooks import RETRY_BACKOFF_SECONDS, stripe_events_resend

    session = _buy_pack(stripe_server, buyer)
    Payment.objects.filter(checkout_session_id=session["id"]).update(checkout_session_id="cs_gone")
    deliver("checkout.session.completed", session)
    event = StripeEvent.objects.get()
    assert event.status == "failed" and event.attempts == 1
    for wait in RETRY_BACKOFF_SECONDS[1:]:
        previous = event.next_attempt_at
        assert stripe_events_resend(now=previous - dt.timedelta(seconds=1)) == 0
        tried_at = timezone.now()
        assert stripe_events_resend(now=previous) == 1
        event.refresh_from_db()
        assert event.status == "failed"
        assert abs((event.next_attempt_at - tried_at).total_seconds() - wait) < 5
    assert stripe_events_resend(now=event.next_attempt_at) == 1
    event.refresh_from_db()
    assert event.next_attempt_at is None  # every step used: the admin's replay is what is left
    assert event.attempts == len(RETRY_BACKOFF_SECONDS) + 1
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("credits", "reconcile", "--no-stripe", stdout=out)
    assert f"Stripe event {event.event_id} (checkout.session.completed) failed" in out.getvalue()
    Payment.objects.filter(checkout_session_id="cs_gone").update(checkout_session_id=session["id"])
    assert stripe_event_process(event_id=event.event_id) == "processed"
    assert Wallet.objects.get(user=buyer).balance == 115
