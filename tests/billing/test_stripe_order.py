"""Stripe events in any order, each delivered more than once, settle to one end state; and
`credits reconcile` asks Stripe what happened to each payment and finds what the ledger missed.

Stripe's own history of one payment is fixed (it is the local Stripe's state); only the order
and repetition of the deliveries varies, as Stripe promises neither order nor single delivery.
"""

import itertools
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import CreditLot, Dispute, LedgerEntry, Payment, StripeEvent, Wallet
from billing.services.credits import credits_adjust, credits_capture, credits_reserve
from billing.services.payments import checkout_pack_start
from tests.billing.conftest import assert_invariant

pytestmark = pytest.mark.django_db

ORDERS = list(itertools.permutations(["completed", "refunded", "disputed", "closed"]))


@pytest.fixture
def deliver(client, stripe_server, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Deliver a signed event and run the processing task it queued (eagerly)."""

    def send(event):  # type: ignore[no-untyped-def]
        with django_capture_on_commit_callbacks(execute=True):
            response = stripe_server.deliver(client, event)
        assert response.status_code == 200
        return response

    return send


@pytest.fixture
def buyer(user_with_balance, stripe_settings, staff_user):  # type: ignore[no-untyped-def]
    """A customer with 20 credits of their own, which no reversal of the purchase may touch."""
    user = user_with_balance(0, email="buyer@example.com")
    credits_adjust(user=user, amount=20, actor=staff_user, reason="goodwill")
    return user


def _history(stripe_server, buyer, *, refund_cents, dispute_won):  # type: ignore[no-untyped-def]
    """What happened at Stripe, in order: paid, then (by `dispute_won`) a dispute won and then a
    refund, or a partial refund and then a dispute lost. The events that describe it, by name."""
    session = stripe_server.pay_checkout_session(checkout_pack_start(user=buyer).session_id)
    charge_id = stripe_server.charge_of(session["payment_intent"])
    events = {"completed": stripe_server.event("checkout.session.completed", session)}
    if dispute_won:
        dispute = stripe_server.dispute(charge_id)
        events["disputed"] = stripe_server.event("charge.dispute.created", dispute)
        closed = stripe_server.close_dispute(dispute["id"], won=True)
        events["closed"] = stripe_server.event("charge.dispute.closed", closed)
        refunded = stripe_server.refund(charge_id, amount=refund_cents)
        events["refunded"] = stripe_server.event("charge.refunded", refunded)
    else:
        refunded = stripe_server.refund(charge_id, amount=refund_cents)
        events["refunded"] = stripe_server.event("charge.refunded", refunded)
        dispute = stripe_server.dispute(charge_id)
        events["disputed"] = stripe_server.event("charge.dispute.created", dispute)
        closed = stripe_server.close_dispute(dispute["id"], won=False)
        events["closed"] = stripe_server.event("charge.dispute.closed", closed)
    return events


def _end_state(buyer) -> dict:  # type: ignore[no-untyped-def]
    wallet = Wallet.objects.get(user=buyer)
    assert_invariant(wallet)
    payment = Payment.objects.get(wallet=wallet)
    return {
        "balance": wallet.balance,
        "debt": wallet.debt,
        "frozen": wallet.is_frozen,
        "payment": (payment.status, payment.refunded_cents, payment.credits_taken_back),
        "disputes": list(Dispute.objects.values_list("status", flat=True)),
        "unspent of the purchase": sum(
            CreditLot.objects.filter(payment=payment).values_list("remaining", flat=True)
        ),
        "purchase grants": LedgerEntry.objects.filter(kind="purchase").count(),
    }


def _reconcile() -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("credits", "reconcile", stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue()
    return 0, out.getvalue()


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_a_won_dispute_then_a_refund_end_the_same_in_any_order(
    order, stripe_server, buyer, deliver
):
    events = _history(stripe_server, buyer, refund_cents=1500, dispute_won=True)
    for name in order * 2:  # every event delivered twice, the second round after the first
        deliver(events[name])
    assert _end_state(buyer) == {
        "balance": 20,  # the 115 refunded credits taken back, the customer's own 20 untouched
        "debt": 0,
        "frozen": False,
        "payment": ("refunded", 1500, 115),
        "disputes": ["won"],
        "unspent of the purchase": 0,
        "purchase grants": 1,
    }
    assert set(StripeEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert _reconcile() == (0, "ledger reconciled: no differences\n")


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_a_partial_refund_then_a_lost_dispute_end_the_same_in_any_order(
    order, stripe_server, buyer, deliver
):
    events = _history(stripe_server, buyer, refund_cents=750, dispute_won=False)
    for name in order * 2:
        deliver(events[name])
    assert _end_state(buyer) == {
        "balance": 20,  # the whole purchase reversed by the lost dispute
        "debt": 0,
        "frozen": False,
        "payment": ("refunded", 750, 115),
        "disputes": ["lost"],
        "unspent of the purchase": 0,
        "purchase grants": 1,
    }
    assert _reconcile() == (0, "ledger reconciled: no differences\n")


def test_a_refund_after_a_won_dispute_takes_back_the_restored_lot_of_its_payment(
    stripe_server, buyer, deliver
):
    """The spent part becomes debt while the dispute is open, is forgiven when it is won, and
    the refund afterwards takes back what is unspent, restored lot included."""
    session = stripe_server.pay_checkout_session(checkout_pack_start(user=buyer).session_id)
    deliver(stripe_server.event("checkout.session.completed", session))
    charge_id = stripe_server.charge_of(session["payment_intent"])
    spent = uuid.uuid4()
    credits_reserve(user=buyer, generation_id=spent, amount=40)  # the purchase expires first
    credits_capture(generation_id=spent, amount=40)
    dispute = stripe_server.dispute(charge_id)
    deliver(stripe_server.event("charge.dispute.created", dispute))
    wallet = Wallet.objects.get(user=buyer)
    # 75 unspent of the purchase, then 20 more from the customer's own lot; 20 owed
    assert (wallet.balance, wallet.debt, wallet.is_frozen) == (0, 20, True)
    deliver(
        stripe_server.event(
            "charge.dispute.closed", stripe_server.close_dispute(dispute["id"], won=True)
        )
    )
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.debt, wallet.is_frozen) == (95, 0, False)
    restored = CreditLot.objects.get(source="restored")
    assert restored.payment == Payment.objects.get() and restored.remaining == 95
    deliver(stripe_server.event("charge.refunded", stripe_server.refund(charge_id)))
    wallet.refresh_from_db()
    # the refund covers all 115: the 95 unspent of the purchase go; the 40 spent are no debt
    assert (wallet.balance, wallet.debt) == (0, 0)
    assert _reconcile() == (0, "ledger reconciled: no differences\n")


# --- reconcile against Stripe: the three ways the ledger went wrong before -----------------------


def _bought(stripe_server, buyer, deliver):  # type: ignore[no-untyped-def]
    session = stripe_server.pay_checkout_session(checkout_pack_start(user=buyer).session_id)
    deliver(stripe_server.event("checkout.session.completed", session))
    return session, stripe_server.charge_of(session["payment_intent"])


def test_reconcile_fails_on_a_refund_the_ledger_never_applied(stripe_server, buyer, deliver):
    """As when a refund came before its checkout and matched no payment: Stripe refunded, the
    customer kept the credits."""
    session, charge_id = _bought(stripe_server, buyer, deliver)
    refunded = stripe_server.refund(charge_id)  # no event applied it
    code, out = _reconcile()
    assert code == 1
    assert f"payment {session['id']}: Stripe refunded 1500 cents, Easel recorded 0" in out
    deliver(stripe_server.event("charge.refunded", refunded))
    assert _reconcile() == (0, "ledger reconciled: no differences\n")


def test_reconcile_fails_on_a_dispute_the_ledger_never_recorded(stripe_server, buyer, deliver):
    """As when a dispute came before its checkout: never frozen, the credits kept."""
    session, charge_id = _bought(stripe_server, buyer, deliver)
    dispute = stripe_server.dispute(charge_id)
    code, out = _reconcile()
    assert code == 1
    assert (
        f"payment {session['id']}: Stripe has dispute {dispute['id']} open, "
        "Easel has no record of it"
    ) in out
    deliver(stripe_server.event("charge.dispute.created", dispute))
    assert _reconcile() == (0, "ledger reconciled: no differences\n")
    assert Wallet.objects.get(user=buyer).is_frozen


def test_reconcile_fails_when_a_refund_after_a_won_dispute_took_nothing(
    stripe_server, buyer, deliver
):
    """As when the won dispute restored the credits outside the payment's lots, so the refund
    after it found nothing of the payment's to take back."""
    session, charge_id = _bought(stripe_server, buyer, deliver)
    dispute = stripe_server.dispute(charge_id)
    deliver(stripe_server.event("charge.dispute.created", dispute))
    deliver(
        stripe_server.event(
            "charge.dispute.closed", stripe_server.close_dispute(dispute["id"], won=True)
        )
    )
    CreditLot.objects.filter(source="restored").update(payment=None)  # the old restore
    deliver(stripe_server.event("charge.refunded", stripe_server.refund(charge_id)))
    assert Wallet.objects.get(user=buyer).balance == 135  # nothing was taken back
    code, out = _reconcile()
    assert code == 1
    assert (
        f"payment {session['id']}: refunded 1500 cents (115 credits) but 115 of its credits "
        "are still unspent (at most 0 may be)"
    ) in out


def test_reconcile_fails_on_a_checkout_paid_at_stripe_and_pending_here(
    stripe_server, buyer, deliver
):
    """As when the broker lost the completion's processing task and nothing sent it again."""
    start = checkout_pack_start(user=buyer)
    session = stripe_server.pay_checkout_session(start.session_id)
    code, out = _reconcile()
    assert code == 1
    assert f"payment {session['id']}: Stripe says paid, Easel has it pending" in out
    assert _reconcile_without_stripe() == 0  # the ledger alone cannot know


def _reconcile_without_stripe() -> int:
    try:
        call_command("credits", "reconcile", "--no-stripe", stdout=StringIO())
    except CommandError as error:
        return error.returncode
    return 0
